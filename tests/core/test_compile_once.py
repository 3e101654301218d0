"""Compile once: after engine rollouts over several configs, batch sizes and numbers of learners,
every numba dispatcher of the core that has been compiled (or loaded from the on-disk cache) holds
exactly one signature. Parameters and dimensions are runtime arrays, so nothing may specialise on
them.

The check runs in a fresh interpreter (``_compile_probe.py``) after a first run has warmed the
on-disk cache, so that it does not depend on what this pytest process, or a stale cache, compiled
before. A cold compile (empty cache: inner helpers are compiled too) is checked in
``tests/slow/test_compile_cold.py``.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("_compile_probe.py")
ROOT = Path(__file__).resolve().parents[2]


def _load_probe():
    spec = importlib.util.spec_from_file_location("_compile_probe", PROBE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_probe(env: dict | None = None, timeout: float = 1200) -> dict[str, int]:
    r = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=timeout)
    assert r.returncode == 0, f"probe failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_compiled_dispatchers_have_one_signature():
    run_probe()  # warms the on-disk cache (compiles only what is missing or invalidated)
    counts = run_probe()
    # the scan found the core's dispatchers, and the rollouts really went through the core's
    # entry (its callees, _count_nonfinite_nb included, come from the cache with it when it is warm)
    assert len(counts) >= 30, counts
    for mod in ("engine_nb", "reset_nb", "step", "market_nb", "futures_nb", "background_nb", "accounts_nb"):
        assert any(k.startswith(f"dma_gym.core.{mod}.") for k in counts), f"no dispatcher found in {mod}"
    assert "dma_gym.core.engine_nb._count_nonfinite_nb" in counts, counts
    compiled = {k: v for k, v in counts.items() if v > 0}
    entry = "dma_gym.core.engine_nb.engine_step_nb"
    assert compiled.get(entry, 0) >= 1, f"{entry} was never compiled: {compiled}"
    multi = {k: v for k, v in compiled.items() if v != 1}
    assert not multi, f"dispatchers compiled more than once: {multi}"


def test_counts_detect_a_second_signature(tmp_path):
    """The scan itself: a dispatcher called with an int and a float shows 2 signatures; one only
    called with ints shows 1; one never called shows 0; foreign dispatchers are not counted."""
    (tmp_path / "probe_fake_core.py").write_text(
        "from numba import njit\n"
        "from dma_gym.core.engine_nb import engine_step_nb as imported  # defined elsewhere\n"
        "@njit\ndef f(x):\n    return x + 1\n"
        "@njit\ndef g(x):\n    return x\n"
        "@njit\ndef h(x):\n    return x\n"
    )
    spec = importlib.util.spec_from_file_location("probe_fake_core", tmp_path / "probe_fake_core.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.f(1)
    mod.f(1.5)
    mod.g(2)
    counts = _load_probe().compiled_counts([mod])
    assert counts == {"probe_fake_core.f": 2, "probe_fake_core.g": 1, "probe_fake_core.h": 0}
