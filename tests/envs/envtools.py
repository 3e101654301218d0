"""Helpers shared by the env tests (not a test module): makers, seeded rollouts, exact comparisons."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

import dma_gym
from dma_gym.testing.checks import (  # noqa: F401  (re-exported for the env tests)
    assert_same_episodes, assert_same_info, assert_same_step, episode, random_actions,
)

SCENARIOS = dma_gym.scenarios.names()
ENV_ID = "DMAUnwind-v0"
# the per-step info contract (the env's spec sheet): key -> shape of its value in a single env
INFO_CONTRACT = {
    "equity": (), "nav": (), "leverage": (), "margin_call": (), "margin_ratio": (),
    "forced_liquidation": (), "sold_value": (), "unfilled_sell_value": (), "tier_drawdown": (5,),
    "basis_annualized": (3,), "limit_down_share": (), "day": (), "step": (), "log_nav": (), "unwind_cost": (),
}


def make(scenario: str = "feb2024", **kwargs: Any) -> gym.Env:
    return gym.make(ENV_ID, scenario=scenario, **kwargs)


def make_vec(num_envs: int, scenario: str = "feb2024", **kwargs: Any):
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        scenario=scenario, **kwargs)


def buffers(env) -> tuple[bytes, bytes, bytes]:
    """Byte copies of the core state buffers of a (vector) env."""
    buf = env.unwrapped.engine.buf
    return buf.sf.tobytes(), buf.si.tobytes(), buf.sb.tobytes()
