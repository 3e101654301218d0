"""Shipped checkers: the contract checks the test suite runs over every registered scenario, for
users who add a scenario, a mechanism or a facade of their own.

- ``check_determinism``: same seed and actions give bit-identical episodes (the next, unseeded
  one too); another seed gives another episode.
- ``check_vector_equals_single``: the natively batched vector env reproduces N single envs
  seeded ``seed + i`` bit for bit over several episodes, in either autoreset mode, with or
  without a time limit.
- ``check_reference``: the numba core equals the plain-numpy oracle (``testing.reference``) step
  by step on an engine's own rollout.
- ``compiled_signatures``: how many signatures each core dispatcher holds (one each: nothing may
  specialise on parameters or dimensions).

Each raises AssertionError with the step, env and quantity that differ.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

ENV_ID = "DMAUnwind-v0"
CORE_MODULES = tuple(f"dma_gym.core.{n}" for n in ("engine_nb", "reset_nb", "step", "ac_nb", "market_nb",
                                                    "futures_nb", "background_nb", "accounts_nb", "observe",
                                                    "rng_nb"))


# ---- comparisons ---------------------------------------------------------------------------
def random_actions(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """(n, *shape) float32 uniform in [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, *shape)).astype(np.float32)


def assert_same_info(a: dict, b: dict, where: str = "") -> None:
    assert a.keys() == b.keys(), f"{where}: info keys differ: {sorted(a.keys() ^ b.keys())}"
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{where}: info[{k!r}]", strict=True)


def assert_same_step(x: tuple, y: tuple, where: str = "") -> None:
    """Bit-identical (obs, [reward, terminated, truncated,] info) tuples."""
    assert len(x) == len(y), where
    assert x[0].dtype == y[0].dtype and x[0].tobytes() == y[0].tobytes(), f"{where}: obs differ"
    if len(x) == 5:
        assert type(x[1]) is type(y[1]) and x[1] == y[1], f"{where}: reward {x[1]!r} vs {y[1]!r}"
        assert x[2] is y[2] and x[3] is y[3], f"{where}: terminated/truncated {x[2:4]} vs {y[2:4]}"
    assert_same_info(x[-1], y[-1], where)


def assert_same_episodes(xs: list[tuple], ys: list[tuple]) -> None:
    assert len(xs) == len(ys), f"episode lengths differ: {len(xs) - 1} vs {len(ys) - 1} steps"
    for k, (x, y) in enumerate(zip(xs, ys)):
        assert_same_step(x, y, f"step {k}")


def episode(env: gym.Env, actions: np.ndarray, seed: int | None) -> list[tuple]:
    """Reset (with ``seed``) and step with ``actions[k]`` until the episode ends; returns
    [(obs, info)] + [(obs, reward, terminated, truncated, info), ...]."""
    out: list[tuple] = [env.reset(seed=seed)]
    for a in actions:
        step = env.step(a)
        out.append(step)
        if step[2] or step[3]:
            return out
    raise AssertionError(f"episode did not end within {len(actions)} steps")


# ---- determinism ---------------------------------------------------------------------------
def _two_episodes(scenario: str, seed: int, action_seed: int, overrides: dict) -> list[list[tuple]]:
    env = gym.make(ENV_ID, scenario=scenario, **overrides)
    acts = random_actions(env.action_space.shape, 1000, action_seed)
    first = episode(env, acts, seed)
    second = episode(env, acts, None)  # reset() without a seed continues the generator
    return [first, second]


def check_determinism(scenario: str = "feb2024", seed: int = 7, action_seed: int = 3, **overrides: Any) -> None:
    """Same seed and actions: bit-identical episodes (also the next, unseeded one); another seed,
    and the unseeded next episode, differ."""
    a = _two_episodes(scenario, seed, action_seed, overrides)
    b = _two_episodes(scenario, seed, action_seed, overrides)
    for x, y in zip(a, b):
        assert len(x) > 2, "episode too short to compare"
        assert_same_episodes(x, y)
    (a1, a2), (c, _) = a, _two_episodes(scenario, seed + 1, action_seed, overrides)
    n = min(len(a1), len(c))
    assert not np.array_equal(np.stack([s[0] for s in a1[1:n]]), np.stack([s[0] for s in c[1:n]])), \
        "another seed gave the same observations"
    assert [s[1] for s in a1[1:n]] != [s[1] for s in c[1:n]], "another seed gave the same rewards"
    m = min(len(a1), len(a2))
    assert [s[1] for s in a1[1:m]] != [s[1] for s in a2[1:m]], "the unseeded next episode replayed the first"


# ---- vector env == N single envs -------------------------------------------------------------
def _same_info_row(vinfo: dict, i: int, info: dict, where: str) -> None:
    """Env ``i``'s entries of a vector info (dict of arrays with ``_key`` masks) equal ``info``."""
    present = {k for k in vinfo if not k.startswith("_") and k not in ("final_obs", "final_info")
               and vinfo["_" + k][i]}
    assert present == set(info), f"{where}: keys differ: {sorted(present ^ set(info))}"
    for k in present:
        np.testing.assert_array_equal(vinfo[k][i], info[k], err_msg=f"{where}: info[{k!r}]")


def check_vector_equals_single(scenario: str = "feb2024", num_envs: int = 4,
                               mode: AutoresetMode = AutoresetMode.NEXT_STEP, min_episodes: int = 2,
                               max_episode_steps: int | None = None, seed: int = 100, **overrides: Any) -> np.ndarray:
    """``gym.make_vec`` with ``num_envs`` envs against as many ``gym.make`` envs seeded ``seed + i``,
    driven by the same random actions until every env finished ``min_episodes`` episodes: every
    observation, reward, flag and info entry equal, across autoresets. Returns episodes per env."""
    from dma_gym.envs import DMAUnwindVectorEnv

    extra = dict(overrides, **({} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}))
    N = num_envs
    venv = gym.make_vec(ENV_ID, num_envs=N, vectorization_mode="vector_entry_point", scenario=scenario,
                        autoreset_mode=mode, **extra)
    assert isinstance(venv.unwrapped, DMAUnwindVectorEnv) and venv.metadata["autoreset_mode"] == mode
    singles = [gym.make(ENV_ID, scenario=scenario, **extra) for _ in range(N)]
    vobs, vinfo = venv.reset(seed=seed)
    for i, env in enumerate(singles):
        obs, info = env.reset(seed=seed + i)
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


# ---- numba core == numpy reference ---------------------------------------------------------------
def check_reference(config, num_envs: int = 3, steps: int = 30, seed: int = 0, learners: Sequence[int] = (0,),
                    action_seed: int = 1, atol: float = 1e-10) -> int:
    """Step an ``Engine`` of ``config`` with random actions; before each step copy its state, then
    replay the step on the copy with the plain-numpy ``reference_step`` (the actions the core read,
    the shocks it drew): every state field must agree (floats to ``atol`` relative, integers and
    flags exactly). Returns the steps compared."""
    from dma_gym.core.layout import Buffers, State, views
    from dma_gym.engine import Engine
    from dma_gym.testing.reference import reference_step

    eng = Engine(config, num_envs, learners=learners)
    eng.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    compared = 0
    for k in range(steps):
        if eng.state.done.all():
            break
        before = Buffers(*(b.copy() for b in eng.buf))
        eng.step(rng.uniform(-1.0, 1.0, eng.action_buffer.shape) if eng.num_learners else None)
        reference_step(eng.market, before, eng.dims, np.asarray(eng.core_actions), np.asarray(eng.shocks))
        for name, got, want in zip(State._fields, eng.state, views(before, eng.dims)):
            if got.dtype.kind == "f":
                ok = np.isclose(got, want, rtol=atol, atol=atol * (1.0 + np.abs(want)))
            else:
                ok = got == want
            if not np.all(ok):
                idx = tuple(int(x) for x in np.argwhere(~ok)[0])
                raise AssertionError(f"step {k}: State.{name} differs first at {idx}: "
                                     f"core={got[idx]!r} reference={want[idx]!r}")
        compared += 1
    return compared


# ---- compile once -------------------------------------------------------------------------------
def compiled_signatures(modules: Sequence[ModuleType | str] = CORE_MODULES) -> dict[str, int]:
    """``module.name -> len(signatures)`` for every numba dispatcher defined in ``modules``."""
    out = {}
    for mod in modules:
        mod = importlib.import_module(mod) if isinstance(mod, str) else mod
        for name, obj in vars(mod).items():
            py = getattr(obj, "py_func", None)
            if hasattr(obj, "signatures") and py is not None and py.__module__ == mod.__name__:
                out[f"{mod.__name__}.{name}"] = len(obj.signatures)
    return out
