"""The parameter-sharing SB3 VecEnv: its rows are the PettingZoo env's agents of independent
markets, rewards are selfish or cooperative, fixed managers follow their policy, and SB3 trains
on it."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("pettingzoo")

import agents  # noqa: E402
import dma_gym  # noqa: E402
from dma_gym.adapters.sb3 import SB3MultiAgentVecEnv  # noqa: E402


def _policy_actions(rng, rows, dim):
    return rng.uniform(-1, 1, (rows, dim)).astype(np.float32)


@pytest.mark.parametrize("scenario, n", [("feb2024", 3), ("almgren_chriss", 2)])
def test_rows_are_the_parallel_envs_agents(scenario, n):
    E = 3
    venv = SB3MultiAgentVecEnv(E, n, scenario)
    venv.seed(10)
    obs = venv.reset()
    envs = [dma_gym.parallel_env(n, scenario) for _ in range(E)]
    for e, env in enumerate(envs):
        o, _ = env.reset(seed=10 + e * n)
        np.testing.assert_array_equal(obs[e * n:(e + 1) * n], np.stack([o[a] for a in env.possible_agents]))
    rng = np.random.default_rng(0)
    for k in range(40):
        act = _policy_actions(rng, E * n, venv.action_space.shape[0])
        obs, rew, dones, infos = venv.step(act)
        for e, env in enumerate(envs):
            if not env.agents:
                continue
            o, r, term, trunc, info = env.step({a: act[e * n + i] for i, a in enumerate(env.possible_agents)
                                                if a in env.agents})
            for i, a in enumerate(env.possible_agents):
                if a in r:
                    assert rew[e * n + i] == np.float32(r[a]), (k, e, a)
                    if not dones[e * n + i]:
                        np.testing.assert_array_equal(obs[e * n + i], o[a])
                    else:
                        np.testing.assert_array_equal(infos[e * n + i]["terminal_observation"], o[a])
            assert dones[e * n:(e + 1) * n].all() == (not env.agents)


def test_cooperative_rewards_sum_to_the_mean_log_nav():
    E, n = 4, 3
    venv = SB3MultiAgentVecEnv(E, n, "feb2024", reward="cooperative")
    venv.seed(3)
    venv.reset()
    rng = np.random.default_rng(1)
    total = np.zeros(E * n)
    done = np.zeros(E * n, bool)
    last = [None] * (E * n)
    while not done.all():
        _, rew, dones, infos = venv.step(_policy_actions(rng, E * n, 8) * 0.3)
        total += np.where(done, 0.0, rew)
        for i in np.flatnonzero(dones & ~done):
            last[i] = infos[i]["log_nav"]
        done |= dones
    log_nav = np.array(last).reshape(E, n)
    np.testing.assert_allclose(total.reshape(E, n), np.repeat(log_nav.mean(1, keepdims=True), n, 1), atol=1e-4)
    assert np.ptp(log_nav, axis=1).max() > 1e-3  # the managers did differ: the mean is not trivial


def test_fixed_managers_play_their_policy_and_are_not_rows():
    n = 3
    nash = agents.make("nash", SB3MultiAgentVecEnv(2, n, "almgren_chriss", steps=10))
    fixed = SB3MultiAgentVecEnv(2, n, "almgren_chriss", fixed={0: nash, 2: nash}, steps=10)
    assert fixed.num_envs == 2 and list(fixed.free) == [1]
    fixed.seed(0)
    fixed.reset()
    g = fixed.engine
    x0 = g.state.hold[:, :, 0].copy()
    fixed.step(np.zeros((2, 1), np.float32))  # the learner holds
    sold = x0 - g.state.hold[:, :, 0]
    np.testing.assert_allclose(sold[:, [0, 2]], nash.holdings[0] - nash.holdings[1], rtol=1e-6)  # float32 actions
    assert (sold[:, 1] == 0).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"reward": "greedy"}, "reward="),
    ({"fixed": {5: None}}, "manager indices"),
    ({"fixed": {0: object(), 1: object()}}, "at least one must learn"),
    ({"fixed": {0: object()}}, "no predict"),
])
def test_bad_construction_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SB3MultiAgentVecEnv(1, 2, "almgren_chriss", **kwargs)


def test_bad_actions_raise_before_any_change():
    venv = SB3MultiAgentVecEnv(2, 2, "feb2024")
    venv.seed(0)
    venv.reset()
    before = venv.engine.state.price.copy()
    for bad in (np.zeros((3, 8)), np.full((4, 8), np.nan)):
        venv.step_async(bad)
        with pytest.raises(ValueError):
            venv.step_wait()
    np.testing.assert_array_equal(venv.engine.state.price, before)


def test_ppo_trains_with_parameter_sharing():
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    venv = VecMonitor(SB3MultiAgentVecEnv(4, 2, "almgren_chriss"))
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.learn(512)
    assert model.num_timesteps >= 512
    assert len(model.ep_info_buffer) > 0  # VecMonitor saw whole episodes of every row


def test_the_liquidation_constraint_charges_each_manager_row_at_its_own_takeover():
    """``LiquidationConstraint`` over the multi-agent rows: the market is unchanged and each row
    pays the multiplier once, at the step its own broker takes it over."""
    from dma_gym.adapters.sb3 import LiquidationConstraint
    E, n, mult = 4, 3, 0.5
    plain = SB3MultiAgentVecEnv(E, n, "feb2024")
    lagr = LiquidationConstraint(SB3MultiAgentVecEnv(E, n, "feb2024"), 0.0, lr=1e-9, multiplier=mult)
    for v in (plain, lagr):
        v.seed(2)
    assert plain.reset().tobytes() == lagr.reset().tobytes()
    rng = np.random.default_rng(1)
    taken = np.zeros(E * n, bool)
    charges = 0
    for _ in range(150):
        act = _policy_actions(rng, E * n, 8)
        o1, r1, d1, i1 = plain.step(act)
        o2, r2, d2, _ = lagr.step(act)
        assert o1.tobytes() == o2.tobytes() and np.array_equal(d1, d2)
        liq = np.array([i["forced_liquidation"] for i in i1])
        onset = liq & ~taken
        np.testing.assert_allclose(r1 - r2, mult * onset, atol=1e-5)
        taken = (taken | liq) & ~d1
        charges += int(onset.sum())
    assert charges >= 3
