"""Where the core's compiled code is cached: one folder per hash of all the core's sources (a
cached caller links its callees' code, so a change to any core file must miss the cache), under
NUMBA_CACHE_DIR when set, else the package's __pycache__, else the user's cache folder."""
from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dma_gym.core import jit

CORE_MODULES = ("accounts_nb", "ac_nb", "background_nb", "engine_nb", "futures_nb", "market_nb", "observe",
                "reset_nb", "rng_nb", "step")


def test_every_core_dispatcher_caches_in_the_core_folder():
    n = 0
    for name in CORE_MODULES:
        mod = importlib.import_module(f"dma_gym.core.{name}")
        for obj in vars(mod).values():
            if hasattr(obj, "py_func") and obj.py_func.__module__ == mod.__name__:
                assert isinstance(obj._cache, jit._CoreCache), f"{name}.{obj.py_func.__name__}"
                assert Path(obj._cache._cache_path).name == f"dma_gym-{jit.CORE_HASH}"
                n += 1
    assert n >= 40


def test_cache_folder_follows_numba_cache_dir(tmp_path):
    code = "from dma_gym.core import jit; print(jit.cache_dir())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))).stdout.strip()
    assert Path(out) == tmp_path / f"dma_gym-{jit.CORE_HASH}"
    assert Path(out).is_dir()


def test_unwritable_package_folder_falls_back_to_the_next_root(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")  # a folder cannot be made under a file, whoever runs the test
    fallback = tmp_path / "user_cache" / "dma_gym-x"
    monkeypatch.setattr(jit, "cache_roots", lambda: [blocker / "dma_gym-x", fallback])
    loc = jit._CoreLocator.from_function(jit._core_hash, inspect.getsourcefile(jit))
    assert Path(loc.get_cache_path()) == fallback and fallback.is_dir()
    monkeypatch.setattr(jit, "cache_roots", lambda: [blocker / "dma_gym-x"])
    assert jit._CoreLocator.from_function(jit._core_hash, inspect.getsourcefile(jit)) is None


def test_the_hash_covers_every_core_source():
    names = sorted(p.name for p in jit.CORE_DIR.glob("*.py"))
    assert {"step.py", "engine_nb.py", "layout.py", "jit.py"} <= set(names)
    assert len(jit.CORE_HASH) == 12 and jit.CORE_HASH == jit._core_hash()


def test_kernels_refuse_python_calls():
    from dma_gym.core.step import market_step_env_nb

    with pytest.raises(TypeError, match="callable from jitted code only"):
        market_step_env_nb(None, None, None, 0, None, None)


def test_pruning_removes_other_core_versions_only(tmp_path, monkeypatch):
    here = tmp_path / f"dma_gym-{jit.CORE_HASH}"
    old = tmp_path / "dma_gym-0123456789ab"
    other = tmp_path / "someone_else"
    for d in (here, old, other):
        d.mkdir()
    monkeypatch.setattr(jit, "cache_roots", lambda: [here])
    assert jit.prune_stale_caches() == [old]
    assert here.is_dir() and other.is_dir() and not old.exists()

