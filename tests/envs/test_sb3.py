"""The stable-baselines3 adapter: SB3 VecEnv semantics over one batched env, trajectories equal to
the Gymnasium vector env in same-step mode, SB3 wrappers and a short PPO run."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from envtools import INFO_CONTRACT, make, make_vec, random_actions
from gymnasium.vector import AutoresetMode
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import (
    VecEnv, VecMonitor, VecNormalize, is_vecenv_wrapped, unwrap_vec_wrapper,
)
from stable_baselines3.common.vec_env.util import obs_space_info

from dma_gym.adapters import make_sb3_vec_env as lazy_make
from dma_gym.adapters.sb3 import SB3VecAdapter, make_sb3_vec_env
from dma_gym.envs import DMAUnwindVectorEnv
from dma_gym.core.enums import N_OBS

N = 4


def test_reset_returns_obs_only_and_uses_seeds():
    venv = make_sb3_vec_env(N)
    assert isinstance(venv, VecEnv) and lazy_make is make_sb3_vec_env
    assert venv.num_envs == N and venv.observation_space.shape == (N_OBS,) and venv.action_space.shape == (8,)
    venv.seed(5)
    obs = venv.reset()
    assert isinstance(obs, np.ndarray) and obs.shape == (N, N_OBS) and obs.dtype == np.float32
    assert all(venv.observation_space.contains(o) for o in obs)
    for i in range(N):  # sub-env i is seeded 5 + i, like DummyVecEnv
        single, info = make().reset(seed=5 + i)
        assert obs[i].tobytes() == single.tobytes()
        assert venv.reset_infos[i]["step"] == 0 and venv.reset_infos[i]["nav"] == info["nav"]
    assert venv._seeds == [None] * N  # seeds are used once
    again = venv.reset()  # continues each sub-env's RNG: a new episode
    gym_venv = DMAUnwindVectorEnv(N)
    gym_venv.reset(seed=5)
    assert again.tobytes() == gym_venv.reset()[0].tobytes() and again.tobytes() != obs.tobytes()


def test_episode_end_semantics():
    venv = make_sb3_vec_env(N)
    venv.seed(0)
    obs = venv.reset()
    seen = 0
    for a in random_actions((N, 8), 300, 0):
        obs, rewards, dones, infos = venv.step(a)
        assert rewards.shape == (N,) and rewards.dtype == np.float32 and dones.dtype == np.bool_
        assert isinstance(infos, list) and len(infos) == N
        for i, info in enumerate(infos):
            assert set(INFO_CONTRACT) <= set(info)
            assert info["TimeLimit.truncated"] is False  # terminations, never time limits, here
            assert ("terminal_observation" in info) == dones[i]
            if dones[i]:
                seen += 1
                term = info["terminal_observation"]
                assert term.shape == (N_OBS,) and not np.array_equal(term, obs[i])
                assert info["forced_liquidation"] or info["step"] == 100
                assert venv.reset_infos[i]["step"] == 0 and obs[i][0] == 1.0  # fresh: nav feature is 1
        if seen >= 3:
            return
    raise AssertionError(f"only {seen} episode ends in 300 steps")


@pytest.mark.parametrize("scenario, max_steps", [("feb2024", None), ("almgren_chriss", None), ("feb2024", 7)])
def test_trajectories_equal_gymnasium_same_step(scenario, max_steps):
    extra = {} if max_steps is None else {"max_episode_steps": max_steps}
    sb3 = make_sb3_vec_env(N, scenario, **extra)
    gym_venv = make_vec(N, scenario, autoreset_mode=AutoresetMode.SAME_STEP, **extra)
    sb3.seed(11)
    o1 = sb3.reset()
    o2, _ = gym_venv.reset(seed=11)
    assert o1.tobytes() == o2.tobytes()
    ends = truncs = 0
    for a in random_actions((N, *sb3.action_space.shape), 220, 4):
        o1, r1, d1, infos = sb3.step(a)
        o2, r2, term, trunc, vinfo = gym_venv.step(a)
        assert o1.tobytes() == o2.tobytes()
        assert r1.tobytes() == r2.astype(np.float32).tobytes()
        np.testing.assert_array_equal(d1, term | trunc)
        for i, info in enumerate(infos):
            for k in INFO_CONTRACT:
                np.testing.assert_array_equal(info[k], vinfo[k][i], err_msg=k)
            assert info["TimeLimit.truncated"] == bool(trunc[i] and not term[i])
            assert ("implementation_shortfall" in info) == bool(vinfo.get("_implementation_shortfall", d1 & False)[i])
            if d1[i]:
                assert info["terminal_observation"].tobytes() == vinfo["final_obs"][i].tobytes()
        ends += int(d1.sum())
        truncs += sum(info["TimeLimit.truncated"] for info in infos)
    assert ends >= 2 * N
    if max_steps is not None:  # the time limit reaches SB3 as TimeLimit.truncated
        assert truncs >= N


def test_attributes_methods_and_wrapping():
    venv = make_sb3_vec_env(N, "calm")
    single = make("calm")
    assert venv.get_attr("render_mode") == [None] * N
    assert venv.get_attr("observation_space") == [single.observation_space] * N
    assert venv.get_attr("action_space", indices=[1, 3]) == [single.action_space] * 2
    assert venv.get_attr("scenario", indices=2) == ["calm"]
    assert venv.has_attr("config") and not venv.has_attr("no_such_attribute")
    with pytest.raises(AttributeError):
        venv.get_attr("no_such_attribute")
    venv.set_attr("tag", "x")
    assert venv.get_attr("tag") == ["x"] * N
    with pytest.raises(ValueError, match="share one batched env"):
        venv.set_attr("tag", "y", indices=[0])
    with pytest.raises(ValueError, match="share one batched env"):
        venv.env_method("reset", indices=[0])
    with pytest.raises(IndexError):
        venv.get_attr("scenario", indices=[N])
    assert venv.env_method("render") == [None] * N
    assert venv.env_is_wrapped(Monitor) == [False] * N
    assert obs_space_info(venv.observation_space)[1] == {None: (N_OBS,)}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert venv.get_images() == [None] * N  # no render_mode: SB3's warning, no images
    assert record
    wrapped = VecNormalize(VecMonitor(venv))
    assert is_vecenv_wrapped(wrapped, VecMonitor) and unwrap_vec_wrapper(wrapped, VecMonitor) is not None
    assert wrapped.unwrapped is venv and wrapped.get_attr("scenario") == ["calm"] * N
    wrapped.seed(0)
    obs = wrapped.reset()
    assert obs.shape == (N, N_OBS) and np.isfinite(obs).all()
    wrapped.close()
    assert venv.venv.closed


def test_bad_inputs_raise():
    venv = make_sb3_vec_env(2)
    venv.reset()
    with pytest.raises(ValueError, match="NaN"):
        venv.step(np.full((2, 8), np.nan, np.float32))
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="SAME_STEP"):
        SB3VecAdapter(DMAUnwindVectorEnv(2))
    with pytest.raises(ValueError, match="render_mode"):
        make_sb3_vec_env(2, render_mode="human")


def test_vecmonitor_episode_statistics():
    venv = VecMonitor(make_sb3_vec_env(N))
    venv.seed(3)
    venv.reset()
    returns, lengths = np.zeros(N), np.zeros(N, int)
    checked = 0
    for a in random_actions((N, 8), 300, 3):
        _, rewards, dones, infos = venv.step(a)
        returns += rewards
        lengths += 1
        for i in np.flatnonzero(dones):
            ep = infos[i]["episode"]
            assert ep["l"] == lengths[i] == infos[i]["step"]
            assert ep["r"] == pytest.approx(returns[i], rel=1e-5, abs=1e-6)
            returns[i], lengths[i] = 0.0, 0
            checked += 1
        if checked >= 3:
            return
    raise AssertionError("fewer than 3 episodes ended")


def test_rgb_array_images_and_tiled_render():
    venv = make_sb3_vec_env(2, render_mode="rgb_array")
    assert venv.render_mode == "rgb_array" and "rgb_array" in venv.metadata["render_modes"]
    venv.seed(0)
    venv.reset()
    venv.step(np.zeros((2, 8), np.float32))
    first = venv.get_images()
    assert len(first) == 2 and all(f.dtype == np.uint8 and f.ndim == 3 and f.shape[2] == 3 for f in first)
    h, w, _ = first[0].shape
    tiled = venv.render()
    assert tiled.shape == (2 * h, w, 3)  # SB3 tiles the N frames
    for _ in range(3):
        venv.step(random_actions((2, 8), 1, 0)[0])
    assert not np.array_equal(venv.env_method("render", indices=[0])[0], first[0])


def test_sb3_check_env_on_single_env_still_clean():
    # the adapter module imports SB3; the single env stays an ordinary gymnasium env for SB3
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        sb3_check_env(make("feb2024"))
    assert [str(w.message) for w in record] == []


@pytest.mark.parametrize("monitor", [False, True], ids=["bare", "vecmonitor"])
def test_ppo_short_training_run(monitor):
    env = make_sb3_vec_env(N)
    if monitor:
        env = VecMonitor(env)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(512)  # 128 steps per env: every env ends an episode (100 steps at most)
    assert model.num_timesteps == 512
    buf = model.rollout_buffer
    assert buf.observations.shape == (32 * N, N_OBS)  # flattened by the last training pass
    for name in ("observations", "actions", "rewards", "values", "log_probs", "advantages", "returns"):
        arr = getattr(buf, name)
        assert np.isfinite(arr).all(), name
    assert np.abs(buf.rewards).sum() > 0  # real transitions, not zeros
    if monitor:
        assert len(model.ep_info_buffer) > 0  # VecMonitor's episodes reached the logger
        assert all(np.isfinite(ep["r"]) and ep["l"] > 0 for ep in model.ep_info_buffer)
    with warnings.catch_warnings(record=True) as record:  # VecMonitor counts as SB3's Monitor
        warnings.simplefilter("always")
        mean, _ = evaluate_policy(model, VecMonitor(make_sb3_vec_env(2)), n_eval_episodes=2, warn=True)
    assert np.isfinite(mean) and not [w for w in record if "Monitor" in str(w.message)]


def test_liquidation_constraint_charges_each_takeover_once_and_follows_dual_ascent():
    """Under ``LiquidationConstraint`` the market is unchanged; the reward is lower by the
    multiplier exactly at the step a row's broker takes over, once per episode, and the multiplier
    moves by lr * (liquidated - max_rate), clipped at 0, at every episode end."""
    from dma_gym.adapters.sb3 import LiquidationConstraint
    n, max_rate, lr = 8, 0.25, 0.3
    plain = make_sb3_vec_env(n)
    lagr = LiquidationConstraint(make_sb3_vec_env(n), max_rate, lr=lr, multiplier=0.1)
    for v in (plain, lagr):
        v.seed(11)
    assert plain.reset().tobytes() == lagr.reset().tobytes()
    mult, taken = 0.1, np.zeros(n, bool)
    charged = ended = liquidated = 0
    for a in random_actions((n, 8), 200, 4):
        o1, r1, d1, i1 = plain.step(a)
        o2, r2, d2, i2 = lagr.step(a)
        assert o1.tobytes() == o2.tobytes() and np.array_equal(d1, d2)
        assert [i["nav"] for i in i1] == [i["nav"] for i in i2]
        liq = np.array([i["forced_liquidation"] for i in i1])
        onset = liq & ~taken
        np.testing.assert_allclose(r2, r1 - np.float32(mult) * onset, rtol=0, atol=1e-6)
        for was in liq[d1]:
            mult = min(10.0, max(0.0, mult + lr * (float(was) - max_rate)))
        assert lagr.multiplier == pytest.approx(mult, abs=1e-12)
        taken = (taken | liq) & ~d1
        charged += int(onset.sum())
        ended += int(d1.sum())
        liquidated += int(liq[d1].sum())
    assert liquidated >= 3 and ended - liquidated >= 3, (ended, liquidated)  # both branches of the update ran
    assert charged == liquidated + int(taken.sum())  # one charge per liquidated episode


def test_liquidation_constraint_rejects_bad_settings():
    from dma_gym.adapters.sb3 import LiquidationConstraint
    venv = make_sb3_vec_env(2)
    for kw, name in (({"max_rate": 1.0}, "max_rate"), ({"max_rate": float("nan")}, "max_rate"),
                     ({"max_rate": 0.1, "lr": 0.0}, "lr"), ({"max_rate": 0.1, "multiplier": -1.0}, "multiplier"),
                     ({"max_rate": 0.1, "multiplier": 2.0, "max_multiplier": 1.0}, "max_multiplier")):
        with pytest.raises(ValueError, match=name):
            LiquidationConstraint(venv, **kw)
