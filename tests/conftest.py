"""Shared fixtures: compiled markets are cached per scenario for the whole session."""
from __future__ import annotations

import functools

import numpy as np
import pytest

import dma_gym
from dma_gym.market import Market


@functools.lru_cache(maxsize=None)
def market(name: str, **overrides) -> Market:
    return Market(dma_gym.scenarios.get(name, **overrides))


def rollout(m: Market, n_envs: int, seed: int, steps: int | None = None, controlled=None, actions_fn=None):
    """Run ``steps`` batched steps from fresh episodes; yields the state after every step."""
    buf, s, dims = m.allocate(n_envs)
    ctrl = np.zeros(m.n_managers, bool) if controlled is None else controlled
    rngs = [np.random.default_rng([seed, e]) for e in range(n_envs)]
    for e in range(n_envs):
        m.reset_env(buf, dims, e, rngs[e], ctrl)
    z = np.zeros((n_envs, m.n_shocks))
    act = np.zeros((n_envs, m.n_managers, m.n_actions))
    for k in range(steps or m.steps):
        for e in range(n_envs):
            m.draw_shocks(rngs[e], z[e])
        if actions_fn is not None:
            act[:] = actions_fn(k, s, rngs[0])
        m.step(buf, dims, act, z)
        yield k, buf, s


@pytest.fixture(scope="session")
def feb():
    return market("feb2024")


@pytest.fixture(scope="session")
def calm():
    return market("calm")
