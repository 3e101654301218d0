"""The core stays numba-only: importing it pulls in no RL, plotting or config/env code, and its
sources import nothing but numpy, numba, the few standard modules below and the core itself."""
from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "dma_gym" / "core"
HEAVY = ("gymnasium", "torch", "stable_baselines3", "pettingzoo", "matplotlib", "dma_gym.envs")
ALLOWED_TOP = {"numpy", "numba", "math", "enum", "typing", "__future__",
               "hashlib", "os", "pathlib", "shutil"}  # the last four: the core's cache folder (jit.py)


# The core is loaded under a bare stub of the parent package, so the check sees what the core
# itself imports, not what dma_gym/__init__.py (registration, config) brings in for users.
_PROBE = (
    "import sys, types, pathlib; pkg = types.ModuleType('dma_gym'); "
    "pkg.__path__ = [str(pathlib.Path('dma_gym').resolve())]; sys.modules['dma_gym'] = pkg; "
    "import dma_gym.core.step, dma_gym.core.layout, dma_gym.core.engine_nb; print(sorted(sys.modules))"
)


@functools.lru_cache(maxsize=None)
def _modules_after_core_import() -> tuple[str, ...]:
    code = _PROBE
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    mods = ast.literal_eval(r.stdout.strip().splitlines()[-1])
    assert "dma_gym.core.step" in mods and "numba" in mods  # the probe really imported the core
    return tuple(mods)


def _starting_with(mods, prefixes) -> list[str]:
    return [m for m in mods if m.startswith(tuple(prefixes))]


def test_core_import_pulls_no_rl_or_plotting_modules():
    bad = _starting_with(_modules_after_core_import(), HEAVY)
    assert not bad, f"importing the core loaded {bad}"


def test_core_import_pulls_no_config_or_env_layers():
    bad = _starting_with(_modules_after_core_import(), ("dma_gym.config", "dma_gym.market", "dma_gym.envs"))
    assert not bad, f"importing the core loaded {bad}"


def bad_imports(source: str) -> list[str]:
    """Imported module names (anywhere in ``source``) outside the core's allowed set.

    Relative imports must stay inside the package ``dma_gym.core`` (level 1)."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level > 1:
                    bad.append("." * node.level + (node.module or ""))
                continue
            names = [node.module]
        else:
            continue
        for n in names:
            if n.split(".")[0] in ALLOWED_TOP or n.startswith("dma_gym.core."):
                continue
            bad.append(n)
    return bad


def test_core_sources_import_only_numpy_numba_and_stdlib_basics():
    files = sorted(CORE.glob("*.py"))
    assert {"step.py", "layout.py", "market_nb.py", "accounts_nb.py"} <= {f.name for f in files}
    offenders = {f.name: b for f in files if (b := bad_imports(f.read_text()))}
    assert not offenders, f"disallowed imports in dma_gym/core: {offenders}"


def test_import_scan_flags_disallowed_imports():
    src = ("import numpy as np\nimport numba.typed\nfrom math import exp\nfrom . import layout\n"
           "from dma_gym.core.layout import P\nimport gymnasium\nfrom dma_gym.config import params\n"
           "from .. import market\ndef f():\n    import torch\n")
    assert bad_imports(src) == ["gymnasium", "dma_gym.config", "..", "torch"]
