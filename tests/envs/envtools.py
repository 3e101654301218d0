"""Helpers shared by the env tests (not a test module): makers, seeded rollouts, exact comparisons."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

import dma_gym

SCENARIOS = dma_gym.scenarios.names()
ENV_ID = "DMAUnwind-v0"
# DESIGN.md's per-step info contract: key -> shape of its value in a single env
DESIGN_KEYS = {
    "equity": (), "nav": (), "leverage": (), "margin_call": (), "margin_ratio": (),
    "forced_liquidation": (), "sold_value": (), "unfilled_sell_value": (), "tier_drawdown": (5,),
    "basis_annualized": (3,), "limit_down_share": (), "day": (), "step": (),
}


def make(scenario: str = "feb2024", **kwargs: Any) -> gym.Env:
    return gym.make(ENV_ID, scenario=scenario, **kwargs)


def make_vec(num_envs: int, scenario: str = "feb2024", **kwargs: Any):
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        scenario=scenario, **kwargs)


def random_actions(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """(n, *shape) float32 uniform in [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, *shape)).astype(np.float32)


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


def buffers(env) -> tuple[bytes, bytes, bytes]:
    """Byte copies of the core state buffers of a (vector) env."""
    buf = env.unwrapped.engine.buf
    return buf.sf.tobytes(), buf.si.tobytes(), buf.sb.tobytes()


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
