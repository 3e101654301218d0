"""Same seed and actions: bit-identical episodes (also the next, unseeded one); another seed differs."""
from __future__ import annotations

import numpy as np
import pytest
from envtools import SCENARIOS, assert_same_episodes, episode, make, random_actions


def _two_episodes(scenario: str, seed: int, action_seed: int) -> list[list[tuple]]:
    env = make(scenario)
    acts = random_actions(env.action_space.shape, 1000, action_seed)
    first = episode(env, acts, seed)
    second = episode(env, acts, None)  # reset() without a seed continues the RNG
    return [first, second]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_seed_same_episodes(scenario):
    a = _two_episodes(scenario, seed=7, action_seed=3)
    b = _two_episodes(scenario, seed=7, action_seed=3)
    for x, y in zip(a, b):
        assert len(x) > 2
        assert_same_episodes(x, y)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_different_seed_different_episode(scenario):
    (a, a2), (b, _) = _two_episodes(scenario, 7, 3), _two_episodes(scenario, 8, 3)
    n = min(len(a), len(b))
    obs_a = np.stack([s[0] for s in a[1:n]])
    obs_b = np.stack([s[0] for s in b[1:n]])
    assert not np.array_equal(obs_a, obs_b)
    assert [s[1] for s in a[1:n]] != [s[1] for s in b[1:n]]
    # the unseeded second episode (same actions) is a new draw, not a replay of the first
    m = min(len(a), len(a2))
    assert [s[1] for s in a[1:m]] != [s[1] for s in a2[1:m]]
