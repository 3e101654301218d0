"""The PettingZoo env of N learning managers: PettingZoo's own API and seed tests, N = 1 against
DMAUnwind-v0, agents leaving when their episode ends, bad input, and the config it builds."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("pettingzoo")
from pettingzoo.test import parallel_api_test, parallel_seed_test  # noqa: E402

import dma_gym  # noqa: E402
from dma_gym.envs.parallel_env import DMAParallelEnv, stampede_config  # noqa: E402

CASES = [(1, "feb2024"), (2, "feb2024"), (8, "feb2024"), (2, "almgren_chriss"), (5, "almgren_chriss")]
# every tier bought at the maximum and every futures short doubled: the broker takes over within days
SELF_LIQUIDATE = np.array([1, 1, 1, 1, 1, -1, -1, -1], np.float32)


@pytest.mark.parametrize("n, scenario", CASES)
def test_pettingzoo_api_and_seed_tests(n, scenario):
    parallel_api_test(dma_gym.parallel_env(n, scenario), num_cycles=1000)
    parallel_seed_test(lambda: dma_gym.parallel_env(n, scenario))


@pytest.mark.parametrize("n, scenario", [(3, "feb2024"), (2, "almgren_chriss")])
def test_the_aec_view_passes_pettingzoo_api_test(n, scenario):
    from pettingzoo.test import api_test

    from dma_gym.envs import parallel_env as module
    api_test(module.env(n, scenario), num_cycles=300)


@pytest.mark.parametrize("n, scenario", CASES)
def test_same_seed_same_episode_and_other_seed_another(n, scenario):
    def run(seed):
        env = dma_gym.parallel_env(n, scenario)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(0)
        out = [np.stack(list(obs.values()))]
        while env.agents:
            obs, rew, *_ = env.step({a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32)
                                     for a in env.agents})
            out.append(np.array(list(rew.values())))
        return np.concatenate([x.ravel() for x in out])

    a, b, c = run(3), run(3), run(4)
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


@pytest.mark.parametrize("scenario, seed", [("feb2024", 0), ("feb2024", 5), ("calm", 1), ("almgren_chriss", 2)])
def test_one_agent_reproduces_the_single_env_step_for_step(scenario, seed):
    single = gym.make("DMAUnwind-v0", scenario=scenario).unwrapped
    multi = dma_gym.parallel_env(1, scenario)
    o1, i1 = single.reset(seed=seed)
    o2, i2 = multi.reset(seed=seed)
    np.testing.assert_array_equal(o1, o2["manager_0"])
    rng = np.random.default_rng(seed)
    for k in range(10_000):
        a = rng.uniform(-1, 1, single.action_space.shape).astype(np.float32)
        o1, r1, t1, tr1, i1 = single.step(a)
        o2, r2, t2, tr2, i2 = multi.step({"manager_0": a})
        np.testing.assert_array_equal(o1, o2["manager_0"], err_msg=f"step {k}")
        assert (r1, t1, tr1) == (r2["manager_0"], t2["manager_0"], tr2["manager_0"]), k
        assert i1.keys() == i2["manager_0"].keys()
        for key in i1:
            np.testing.assert_array_equal(i1[key], i2["manager_0"][key], err_msg=f"step {k} info {key}")
        if t1 or tr1:
            break
    assert multi.agents == []


def test_spaces_are_the_single_envs_and_cached_per_agent():
    single = gym.make("DMAUnwind-v0")
    env = dma_gym.parallel_env(3)
    for a in env.possible_agents:
        assert env.action_space(a) == single.action_space and env.observation_space(a) == single.observation_space
        assert env.action_space(a) is env.action_space(a)
    assert env.action_space("manager_0") is not env.action_space("manager_1")
    env.reset(seed=0)
    assert env.state().shape == env.state_space.shape == (3 * single.observation_space.shape[0],)
    np.testing.assert_array_equal(env.state()[:single.observation_space.shape[0]],
                                  env.engine.obs[0, 0])


def test_a_liquidated_manager_leaves_while_the_others_trade_on():
    env = dma_gym.parallel_env(3, "feb2024")
    left = {}
    for seed in range(8):
        env.reset(seed=seed)
        k = 0
        while env.agents:
            acts = {a: (SELF_LIQUIDATE if a == "manager_0" else np.zeros(8, np.float32)) for a in env.agents}
            live = list(env.agents)
            obs, rew, term, trunc, info = env.step(acts)
            k += 1
            assert set(obs) == set(rew) == set(term) == set(info) == set(live)
            for a in live:
                if term[a] and a not in env.agents and len(env.agents) > 0:
                    assert info[a]["forced_liquidation"], (seed, a)
                    left.setdefault(a, []).append(k)
            assert all(a in live for a in env.agents)
    # the self-liquidating manager left early in some episodes while the others stayed to the horizon
    assert "manager_0" in left and min(left["manager_0"]) < env.config.steps
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def _two(seed=0):
    env = dma_gym.parallel_env(2, "feb2024")
    env.reset(seed=seed)
    return env


@pytest.mark.parametrize("actions, match", [
    ({"manager_0": np.zeros(8)}, "no action for live agents"),
    ({"manager_0": np.zeros(8), "manager_1": np.zeros(8), "manager_9": np.zeros(8)}, "not live"),
    ({"manager_0": np.zeros(8), "manager_1": np.full(8, np.nan)}, "manager_1: action contains NaN"),
    ({"manager_0": np.zeros(7), "manager_1": np.zeros(8)}, r"manager_0: action has shape \(7,\)"),
    ({"manager_0": "sell", "manager_1": np.zeros(8)}, "manager_0: action must be numeric"),
    ([np.zeros(8), np.zeros(8)], "must be a dict"),
])
def test_bad_actions_raise_and_leave_the_market_as_it_was(actions, match):
    env, twin = _two(), _two()
    ok = {a: np.full(8, -0.3, np.float32) for a in env.agents}
    env.step(ok), twin.step(ok)
    with pytest.raises(ValueError, match=match):
        env.step(actions)
    o1, r1, *_ = env.step(ok)
    o2, r2, *_ = twin.step(ok)
    for a in o1:
        np.testing.assert_array_equal(o1[a], o2[a])
        assert r1[a] == r2[a]


def test_the_config_makes_room_for_the_learners():
    base = dma_gym.scenarios.get("feb2024")
    assert stampede_config("feb2024", 2, {}).n_managers == base.n_managers  # the peers stay
    assert stampede_config("feb2024", base.n_managers + 3, {}).n_managers == base.n_managers + 3
    assert stampede_config("almgren_chriss", 5, {}).n_sellers == 5
    with pytest.raises(ValueError, match="n_managers=4 is smaller than n_agents=6"):
        stampede_config("feb2024", 6, {"n_managers": 4})
    with pytest.raises(ValueError, match="n_sellers=2 is smaller than n_agents=3"):
        stampede_config("almgren_chriss", 3, {"n_sellers": 2})
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_agents"):
            DMAParallelEnv(bad)
    with pytest.raises(ValueError, match="render_mode"):
        DMAParallelEnv(2, render_mode="human")


def test_render_ansi_has_a_line_per_manager():
    env = dma_gym.parallel_env(3, render_mode="ansi")
    env.reset(seed=0)
    lines = env.render().splitlines()
    assert [ln.split(":")[0] for ln in lines] == env.possible_agents
    assert all("NAV" in ln for ln in lines)
