"""Compile once, from a cold cache: with an empty ``NUMBA_CACHE_DIR`` every inner helper of the
core is compiled in the probe process too, so each must end up with exactly one signature.
(Takes a full compile of the core, a few minutes.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[1] / "core" / "_compile_probe.py"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_cold_compile_one_signature_each(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=1500)
    assert r.returncode == 0, f"probe failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    counts = json.loads(r.stdout.strip().splitlines()[-1])
    compiled = {k: v for k, v in counts.items() if v > 0}
    # cold: the inner helpers were compiled in the probe process, not loaded with their callers
    assert compiled.get("dma_gym.core.market_nb.clear_price_nb", 0) >= 1, compiled
    assert len(compiled) >= 30, compiled
    # `_nb` functions: exactly one signature. The private layout view helpers (_f1/_f2/_f3) are
    # generic over the three state buffers' dtypes: at most one signature per dtype.
    multi = {k: v for k, v in compiled.items()
             if (v != 1 if k.endswith("_nb") else v > 3)}
    assert not multi, f"dispatchers compiled more than once per dtype signature: {multi}"
