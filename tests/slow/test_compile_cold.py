"""Compile once, from a cold cache: with an empty ``NUMBA_CACHE_DIR`` every inner helper of the
core is compiled in the probe process too, so each must end up with exactly one signature.
(A full compile of the core, a few minutes: the ``cold_probe`` fixture of conftest.py starts it
in the background right after collection.)"""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow
DTYPE_GENERIC = {"dma_gym.core.reset_nb.copy_env_nb"}


def test_cold_compile_one_signature_each(cold_probe):
    r = cold_probe
    assert r.returncode == 0, f"probe failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    counts = json.loads(r.stdout.strip().splitlines()[-1])
    compiled = {k: v for k, v in counts.items() if v > 0}
    # cold: the inner helpers were compiled in the probe process, not loaded with their callers
    for inner in ("dma_gym.core.market_nb.clear_price_nb", "dma_gym.core.engine_nb._count_nonfinite_nb"):
        assert compiled.get(inner, 0) >= 1, (inner, compiled)
    assert len(compiled) >= 30, compiled
    # exactly one signature each, except the per-field copy of the reset, which is generic over
    # the three state buffers' dtypes (float64, int64, bool): at most one signature per dtype
    multi = {k: v for k, v in compiled.items() if v > (3 if k in DTYPE_GENERIC else 1)}
    assert not multi, f"dispatchers compiled more than once per dtype signature: {multi}"
