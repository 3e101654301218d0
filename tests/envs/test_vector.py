"""The natively batched vector env reproduces N single envs (seeds s + i) bit for bit, over several
episodes, in both autoreset modes; its time limit matches ``gym.make(..., max_episode_steps=n)``."""
from __future__ import annotations

import numpy as np
import pytest
from envtools import SCENARIOS, make_vec
from gymnasium.vector import AutoresetMode

from dma_gym.market import PARALLEL_MIN_ENVS
from dma_gym.testing.checks import check_vector_equals_single

N = 4
SEED = 100


def _compare(scenario: str, mode: AutoresetMode, min_episodes: int = 2, max_episode_steps=None, n: int = N):
    return check_vector_equals_single(scenario, n, mode, min_episodes, max_episode_steps, seed=SEED)


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
