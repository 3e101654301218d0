"""The natively batched vector env reproduces N single envs (seeds s + i) bit for bit, over several
episodes, in both autoreset modes; its time limit matches ``gym.make(..., max_episode_steps=n)``."""
from __future__ import annotations

import numpy as np
import pytest
from envtools import SCENARIOS, make, make_vec, random_actions
from gymnasium.vector import AutoresetMode

from dma_gym.envs import DMAUnwindVectorEnv
from dma_gym.market import PARALLEL_MIN_ENVS

N = 4
SEED = 100


def _same_info_row(vinfo: dict, i: int, info: dict, where: str) -> None:
    """Env ``i``'s entries of a vector info (dict of arrays with ``_key`` masks) equal ``info``."""
    present = {k for k in vinfo if not k.startswith("_") and k not in ("final_obs", "final_info")
               and vinfo["_" + k][i]}
    assert present == set(info), f"{where}: keys differ: {sorted(present ^ set(info))}"
    for k in present:
        np.testing.assert_array_equal(vinfo[k][i], info[k], err_msg=f"{where}: info[{k!r}]")


def _compare(scenario: str, mode: AutoresetMode, min_episodes: int = 2, max_episode_steps=None, n: int = N):
    extra = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
    N = n  # the module default, or more envs for the threaded batch
    venv = make_vec(N, scenario, autoreset_mode=mode, **extra)
    assert isinstance(venv.unwrapped, DMAUnwindVectorEnv) and venv.metadata["autoreset_mode"] == mode
    singles = [make(scenario, **extra) for _ in range(N)]
    vobs, vinfo = venv.reset(seed=SEED)
    for i, env in enumerate(singles):
        obs, info = env.reset(seed=SEED + i)
        assert vobs[i].tobytes() == obs.tobytes(), f"reset obs of env {i}"
        _same_info_row(vinfo, i, info, f"reset env {i}")
    episodes = np.zeros(N, int)
    pending = np.zeros(N, bool)  # NEXT_STEP: the single env was reset by us, the vector env resets now
    acts = random_actions(venv.single_action_space.shape, 2000, 5)
    for k in range(len(acts) // N):
        a = acts[k * N:(k + 1) * N]
        vobs, vrew, vterm, vtrunc, vinfo = venv.step(a)
        assert vobs.dtype == np.float32 and vrew.dtype == np.float64
        for i, env in enumerate(singles):
            where = f"step {k} env {i}"
            if pending[i]:
                obs, info = env.reset()
                assert vrew[i] == 0.0 and not vterm[i] and not vtrunc[i], where
                assert vobs[i].tobytes() == obs.tobytes(), f"{where}: reset obs"
                _same_info_row(vinfo, i, info, where)
                pending[i] = False
                continue
            obs, rew, term, trunc, info = env.step(a[i])
            assert vrew[i] == rew and vterm[i] == term and vtrunc[i] == trunc, \
                f"{where}: {(vrew[i], vterm[i], vtrunc[i])} vs {(rew, term, trunc)}"
            _same_info_row(vinfo, i, info, where)
            done = term or trunc
            if mode == AutoresetMode.SAME_STEP:
                assert bool(vinfo.get("_final_obs", np.zeros(N, bool))[i]) == done, where
                if done:
                    assert vinfo["final_obs"][i].tobytes() == obs.tobytes(), f"{where}: final_obs"
                    _same_info_row(vinfo["final_info"], i, info, f"{where} final_info")
                    obs, info = env.reset()
            else:
                assert "final_obs" not in vinfo
                pending[i] = done
            assert vobs[i].tobytes() == obs.tobytes(), f"{where}: obs"
            episodes[i] += done
        if episodes.min() >= min_episodes:
            return episodes
    raise AssertionError(f"not every env finished {min_episodes} episodes: {episodes}")


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP], ids=["next", "same"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_vector_equals_single_envs(scenario, mode):
    _compare(scenario, mode)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP], ids=["next", "same"])
def test_threaded_vector_equals_single_envs(mode):
    """From ``PARALLEL_MIN_ENVS`` envs the batch steps chunks of envs on threads, and next-step
    autoresets run inside that call: 9 envs (uneven chunks) still equal 9 single envs."""
    assert 9 >= PARALLEL_MIN_ENVS
    _compare("feb2024", mode, min_episodes=2, n=9)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP], ids=["next", "same"])
def test_vector_time_limit_equals_single_time_limit(mode):
    # 10 steps: most episodes are truncated, some random-action books are liquidated first
    _compare("feb2024", mode, min_episodes=3, max_episode_steps=10)


def test_vector_reset_seed_list_and_bad_seeds():
    venv = make_vec(N)
    a, _ = venv.reset(seed=SEED)
    b, _ = venv.reset(seed=[SEED + i for i in range(N)])
    assert a.tobytes() == b.tobytes()
    with pytest.raises(ValueError, match="seeds"):
        venv.reset(seed=[1, 2])
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_vec(N, max_episode_steps=0)
