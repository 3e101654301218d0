"""How the core's numba functions are compiled.

``kernel``: every function that takes the ``State`` / ``Universe`` tuples (about 120 array views)
or is called per stock. Kernels never allocate: they write into the state, the universe or
arrays their caller passes, so they are compiled without numba's reference counting (NRT). With
NRT on, a call that receives the State increfs and decrefs each of its arrays (an atomic add per
array and direction, about 1 us per call) wherever numba's pruning pass cannot prove the pair
redundant, which at ~25 stage calls per step cost more than the market itself. Without NRT a
kernel call costs what its arguments cost to pass.

``entry``: the functions the Python side calls (``engine_nb``'s entries, and small helpers the
tests call directly). The engine's entries build the named views from the flat buffers
(``layout.state_views_nb``: a pointer offset and strides per view, emitted in place) and hand
them to kernels. They allocate nothing either and are compiled without NRT too, so building the
~120 views costs no reference counting; the buffers they view are owned by the Python caller for
the whole call.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from numba import njit
from numba.core import config
from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator, _SourceFileBackedLocatorMixin
from numba.core.registry import CPUDispatcher
from numba.misc.appdirs import AppDirs

_FLAGS = dict(cache=True, _nrt=False, error_model="numpy")
CORE_DIR = Path(__file__).resolve().parent


def _core_hash() -> str:
    h = hashlib.sha1()
    for p in sorted(CORE_DIR.glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


CORE_HASH = _core_hash()


def cache_roots() -> list[Path]:
    """Where the core's compiled code may be cached, in order of preference: under
    ``NUMBA_CACHE_DIR`` if set, else the package's own ``__pycache__`` (when writable), else the
    user's cache folder. Each is keyed by a hash of all the core's sources: numba keys a cached
    function on its own file only and links its callees' code into it, so a change to a callee
    in another file would otherwise leave the caller's cached copy stale."""
    key = f"dma_gym-{CORE_HASH}"
    if config.CACHE_DIR:
        return [Path(config.CACHE_DIR) / key]
    return [CORE_DIR / "__pycache__" / key, Path(AppDirs(appname="dma_gym", appauthor=False).user_cache_dir) / key]


class _CoreLocator(_SourceFileBackedLocatorMixin, _CacheLocator):
    """Numba cache locator for the core's functions: the first writable folder of ``cache_roots``."""

    def __init__(self, py_func, py_file, root: Path):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(root)

    def get_cache_path(self) -> str:
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file):
        if not os.path.exists(py_file):
            return None
        for root in cache_roots():
            self = cls(py_func, py_file, root)
            try:
                self.ensure_cache_path()
            except OSError:
                continue
            return self
        return None


class _CoreCacheImpl(CompileResultCacheImpl):
    _locator_classes = [_CoreLocator]


class _CoreCache(FunctionCache):
    _impl_class = _CoreCacheImpl


def cache_dir() -> str:
    """The folder the core's compiled code is cached in (created if needed)."""
    loc = _CoreLocator.from_function(_core_hash, __file__)
    return loc.get_cache_path() if loc is not None else "nowhere (no writable folder)"


def cached(dispatcher):
    """Point ``dispatcher``'s on-disk cache at the core's folder (see ``cache_roots``)."""
    dispatcher._cache = _CoreCache(dispatcher.py_func)
    return dispatcher


class Kernel(CPUDispatcher):
    """A kernel's dispatcher: jitted callers use it as any other; Python cannot call it (no
    Python wrapper is compiled for it), and gets a TypeError saying so."""

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.py_func.__name__} is a core kernel, callable from jitted code only "
                        "(drive the market through dma_gym.Engine)")


def kernel(fn=None, *, inline: bool = False):
    """Compile ``fn`` as an allocation-free core kernel (on-disk cache, no NRT, IEEE division:
    no zero-divisor check and branch per division). No Python or C wrapper is generated: most
    kernels take the ~100-array State, whose unboxing wrapper alone took a second or more to
    compile per kernel; they are only ever called from other jitted functions.

    ``inline=True``: the kernel's body is inlined into its callers at numba's IR level instead of
    being compiled on its own: for ``step.market_step_env_nb``, which just sequences the stages
    (numba links every callee's code into each caller and optimises the whole again, so that
    level cost one more optimisation of the whole market on a cold start, about 2 s of 32); for
    ``engine_nb.engine_body_nb`` and ``_reset_env_nb``, which take the model's kernels as
    arguments (a cached function can only receive dispatchers through inlining); and for
    one-line helpers. Inlining bigger kernels is slower (typing the inlined code costs more than
    it saves)."""
    def wrap(f):
        d = cached(njit(**_FLAGS, no_cpython_wrapper=True, no_cfunc_wrapper=True,
                        **({"inline": "always"} if inline else {}))(f))
        d.__class__ = Kernel
        return d

    return wrap if fn is None else wrap(fn)


def entry(fn):
    """Compile ``fn`` as an allocation-free core entry point (same flags as ``kernel``)."""
    return cached(njit(**_FLAGS)(fn))


def prune_stale_caches() -> list[Path]:
    """Remove the cache folders of other core versions next to this one's (``dma_gym-<hash>``
    folders of edited or upgraded cores, which nothing loads any more); returns them."""
    removed = []
    for root in cache_roots():
        parent = root.parent
        if not parent.is_dir():
            continue
        for old in parent.glob("dma_gym-*"):
            if old.is_dir() and old.name != root.name:
                shutil.rmtree(old, ignore_errors=True)
                removed.append(old)
    return removed
