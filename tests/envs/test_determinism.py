"""Same seed and actions: bit-identical episodes (also the next, unseeded one); another seed differs
(``dma_gym.testing.checks.check_determinism`` over every scenario)."""
from __future__ import annotations

import pytest
from envtools import SCENARIOS

from dma_gym.testing.checks import check_determinism


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_seed_same_episodes_other_seed_other_episodes(scenario):
    check_determinism(scenario, seed=7, action_seed=3)


def test_the_check_fails_on_a_non_deterministic_env(monkeypatch):
    """The checker can fail: with the env's generator replaced by fresh entropy at every reset,
    two runs with the same seed differ."""
    import numpy as np

    from dma_gym.envs import DMAUnwindEnv

    reset = DMAUnwindEnv.reset

    def unseeded_reset(self, *, seed=None, options=None):
        out = reset(self, seed=seed, options=options)
        self.engine.reset(generators=[np.random.default_rng()])
        return self.engine.obs[0, 0].copy(), self.engine.info_dict(0)

    monkeypatch.setattr(DMAUnwindEnv, "reset", unseeded_reset)
    with pytest.raises(AssertionError):
        check_determinism("feb2024", seed=7, action_seed=3)
