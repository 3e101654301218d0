"""The shipped checkers (``dma_gym.testing``) over every scenario, and proof that each can fail."""
from __future__ import annotations

import numpy as np
import pytest

import dma_gym
from dma_gym.testing import checks, reference


@pytest.mark.parametrize("scenario", dma_gym.scenarios.names())
def test_numba_core_equals_the_reference_on_every_scenario(scenario):
    cfg = dma_gym.scenarios.get(scenario)
    assert checks.check_reference(cfg, num_envs=2, steps=12, seed=5) >= 5


def test_reference_check_fails_when_the_oracle_differs(monkeypatch):
    real = reference.reference_step

    def off_by_a_hair(market, buf, dims, actions, shocks):
        real(market, buf, dims, actions, shocks)
        buf.sf[np.argmax(np.abs(buf.sf))] *= 1.0 + 1e-6

    monkeypatch.setattr(reference, "reference_step", off_by_a_hair)
    with pytest.raises(AssertionError, match="differs first at"):
        checks.check_reference(dma_gym.scenarios.get("calm"), num_envs=1, steps=3)


def test_compiled_signatures_counts_the_core():
    counts = checks.compiled_signatures()
    assert "dma_gym.core.engine_nb.engine_step_nb" in counts and len(counts) >= 40
