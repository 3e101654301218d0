"""``Engine``: E independent episodes of one scenario, advanced by one jitted core call per step.
Every facade (the single env, the vector env, the SB3 adapter) and every script (demo,
calibration, evaluation, benchmarks) drives the market through it."""
from __future__ import annotations

import functools
import math
import operator
import sys
import threading
import time
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces

from dma_gym.config.params import AlmgrenChrissConfig, MarketConfig
from dma_gym.core import engine_nb as enb
from dma_gym.core.engine_nb import IO
from dma_gym.core.enums import INFO_COLUMNS, INFO_INTERNAL, C, D, I, Mode
from dma_gym.core.jit import cache_dir, prune_stale_caches
from dma_gym.core.layout import State, views
from dma_gym.core.rng_nb import seed_state
from dma_gym.market import PARALLEL_MIN_ENVS, Market, parallel_chunks

_ENV_KEYS = frozenset({"limit_down_share", "day", "step"})  # per env, not per learner
_INFO_DTYPES = {"margin_call": np.bool_, "forced_liquidation": np.bool_, "day": np.int64, "step": np.int64,
                "action_clipped": np.int64}
INFO_KEYS = tuple(c for c in INFO_COLUMNS if c not in INFO_INTERNAL)
_AUTORESET = {"none": Mode.STEP, "next_step": Mode.NEXT_STEP, "same_step": Mode.SAME_STEP}
_RESETS = int(C.RESETS)
_TIERS = int(I.TIERS)  # plain ints: an IntEnum index costs a method call per use
_BOOL_KEYS = tuple(k for k, t in _INFO_DTYPES.items() if t is np.bool_)
_INT_KEYS = tuple(k for k, t in _INFO_DTYPES.items() if t is np.int64)


def generator(seed: int | None) -> np.random.Generator:
    """The generator gymnasium's ``np_random(seed)`` builds, so that engine env i seeded with
    s + i reproduces a single env reset with seed s + i."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))


def _env_indices(envs: Any, n: int) -> list[int]:
    try:
        idx = [operator.index(e) for e in envs]
    except TypeError:
        raise ValueError(f"envs={envs!r}: need a sequence of env indices") from None
    if any(not 0 <= e < n for e in idx) or len(set(idx)) != len(idx):
        raise ValueError(f"envs={envs!r}: need distinct env indices in [0, {n})")
    return idx


def _seed(s: Any, what: str) -> int:
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
        raise ValueError(f"{what}={s!r}: a seed must be a non-negative int or None")
    return int(s)


def _seeds(seed: Any, idx: list[int]) -> list[int | None]:
    """One seed (or None) per env of ``idx`` from ``seed``: None, an int s (env i gets s + i) or
    a sequence with one entry per env."""
    if seed is None:
        return [None] * len(idx)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        s = _seed(seed, "seed")
        return [s + e for e in idx]
    if isinstance(seed, (str, bytes)) or not isinstance(seed, Sequence):
        raise ValueError(f"seed={seed!r}: pass an int, a sequence of one seed per env, or None")
    if len(seed) != len(idx):
        raise ValueError(f"reset(seed=...) got {len(seed)} seeds for {len(idx)} envs")
    return [None if s is None else _seed(s, f"seed[{k}]") for k, s in enumerate(seed)]


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class Engine:
    """E episodes of one scenario on the batched core.

    ``learners`` are the managers whose orders come from actions and who get observations and
    rewards; the others follow their peer rule. Construction allocates everything; ``reset``
    starts episodes; each ``step`` is one core call (serial, or chunks of envs on numba's threads
    from ``PARALLEL_MIN_ENVS`` envs) that fills these read-only arrays:

    ==================  ===================  ==================================================
    ``obs``             (E, M, obs_dim) f32  each learner's observation
    ``reward``          (E, M) float64       reward of the step (0 at a reset)
    ``terminated``      (E, M) bool          the learner's episode is over (horizon, or its broker's sale done)
    ``truncated``       (E,) bool            the episode reached ``max_episode_steps``
    ``info``            (E, M, N_INFO) f64   info table: ``INFO_KEYS`` columns, tier drawdowns, bases
    ``was_reset``       (E,) bool            the env started a fresh episode in this call
    ``pending``         (E,) bool            next-step autoreset: the env restarts at the next step
    ``final``           (E,) bool            same-step autoreset: the episode ended in this call,
    ``final_obs``       like ``obs``         ... its last observation
    ``final_info``      like ``info``        ... and its last info row
    ``shocks``          (E, n_shocks) f64    the step's exogenous shocks (for the reference oracle)
    ``state``           ``layout.State``     named views of the market state (leading axis E)
    ==================  ===================  ==================================================

    Args:
        config: scenario config (``dma_gym.scenarios.get``).
        num_envs: E >= 1.
        learners: distinct manager indices (M of them, M may be 0: a market of heuristic
            managers only, stepped with ``step(None)``).
        autoreset: ``"none"`` (an ended env stays as it is), ``"next_step"`` (it restarts at the
            next step, which ignores its action and returns reward 0) or ``"same_step"`` (it
            restarts in the step that ends it; ``final*`` keep the ended episode's outputs).
        max_episode_steps: truncate episodes at this many steps (None: never).
        threads: step chunks of envs on numba's threads (default: from ``PARALLEL_MIN_ENVS``
            envs); results are bit-identical either way.
    """

    def __init__(self, config: MarketConfig | AlmgrenChrissConfig, num_envs: int, learners: Sequence[int] = (0,),
                 *, autoreset: str = "none", max_episode_steps: int | None = None, threads: bool | None = None):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r}: must be a positive int")
        if autoreset not in _AUTORESET:
            raise ValueError(f"autoreset={autoreset!r}: allowed {sorted(_AUTORESET)}")
        if max_episode_steps is not None and (isinstance(max_episode_steps, bool) or not isinstance(
                max_episode_steps, (int, np.integer)) or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps={max_episode_steps!r}: must be a positive int or None")
        self.config = config
        self.market = m = Market(config)
        self._shortfall = "implementation_shortfall" in m.extra_info
        self.num_envs = E = int(num_envs)
        try:
            ls = np.asarray(learners, np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"learners={learners!r}: need distinct manager indices in [0, {m.n_managers})") from None
        if ls.size and (ls.min() < 0 or ls.max() >= m.n_managers or np.unique(ls).size != ls.size):
            raise ValueError(f"learners={learners!r}: need distinct manager indices in [0, {m.n_managers})")
        self.autoreset = autoreset
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.threads = E >= PARALLEL_MIN_ENVS if threads is None else bool(threads)
        M = ls.size
        self.act_dim, self.obs_dim = m.act_dim, m.obs_dim
        self.buf, self._state, dims = m.allocate(E)
        controlled = np.zeros(m.n_managers, np.bool_)
        controlled[ls] = True
        ctl = np.zeros(C.SIZE, np.int64)
        ctl[C.MAX_STEPS] = max_episode_steps or 0
        self._mode = int(_AUTORESET[autoreset])
        ctl[C.MODE] = self._mode
        ninfo = enb.n_info(int(dims[D.T]), int(dims[D.K]))
        self._io = IO(
            ctl=ctl, learners=ls, controlled=controlled,
            act_in=np.zeros((E, M, self.act_dim)), act_buf=np.zeros((E, m.n_managers, m.n_actions)),
            clipped=np.zeros((E, M), np.int64), streams=np.zeros((E, 4), np.uint64),
            next_seed=np.zeros((E, 4), np.uint64), shocks=np.zeros((E, m.n_shocks)),
            warm_shocks=np.zeros((E, m.n_shocks)),
            reset=np.zeros(E, np.bool_), was_reset=np.zeros(E, np.bool_),
            obs=np.zeros((E, M, self.obs_dim), np.float32), prev=np.zeros((E, M)), reward=np.zeros((E, M)),
            terminated=np.zeros((E, M), np.bool_), truncated=np.zeros(E, np.bool_), info=np.zeros((E, M, ninfo)),
            final=np.zeros(E, np.bool_), final_obs=np.zeros((E, M, self.obs_dim), np.float32),
            final_info=np.zeros((E, M, ninfo)),
        )
        self._model = m.model()
        self._tmpl = m.template(dims)
        self._n_tiers = int(dims[D.T])
        self._generators: list[np.random.Generator | None] = [None] * E
        self._live = np.zeros(E, np.bool_)  # envs reset at least once
        self._predraw = self._mode != Mode.STEP  # autoresets need the next stream ready in the core
        self._bind()

    def _bind(self) -> None:
        io = self._io
        self.learners = _readonly(io.learners)  # read-only views of the core's own arrays
        self.dims = _readonly(self._tmpl.dims)
        self.state: State = State(*(_readonly(a) for a in self._state))
        for name in ("obs", "reward", "terminated", "truncated", "info", "was_reset", "final", "final_obs",
                     "final_info", "shocks"):
            setattr(self, name, _readonly(getattr(io, name)))
        self.pending = _readonly(io.reset)  # after a call, only next-step autoresets are flagged
        self._info_rows = [list(row) for row in io.info]
        self._final_rows = [list(row) for row in io.final_info]
        self._entry = None  # the compiled entry with its arguments bound, on first use
        self._step_call = self._call if self._live.all() else self._before_reset

    # ---- pickling: views and the bound entry are rebuilt --------------------------------
    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        for k in ("learners", "dims", "state", "_state", "pending", "obs", "reward", "terminated", "truncated", "info", "was_reset", "final",
                  "final_obs", "final_info", "shocks", "_info_rows", "_final_rows", "_entry", "_step_call"):
            d.pop(k, None)
        return d

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)
        self._state = views(self.buf, self._tmpl.dims)
        self._bind()

    # ---- episodes ------------------------------------------------------------------------
    @property
    def num_learners(self) -> int:
        return int(self.learners.size)

    @property
    def num_managers(self) -> int:
        return int(self.dims[D.A])

    @property
    def generators(self) -> list[np.random.Generator | None]:
        """Each env's generator: it seeds the env's episodes (books, peers, every shock)."""
        return list(self._generators)

    def reset(self, seed: int | Sequence[int | None] | None = None, *, envs: Sequence[int] | None = None,
              generators: Sequence[np.random.Generator] | None = None) -> None:
        """Start fresh episodes in ``envs`` (default: all) in one core call; the other envs are
        left as they are (a pending next-step autoreset stays pending).

        Each env draws its episodes from its own numpy generator: the next four 64-bit draws
        seed an episode's random stream (books, peer types, every shock). With an autoreset mode
        the engine draws them as soon as an episode starts, ready for the next one.

        Args:
            seed: an int s seeds env i with the generator of s + i (gymnasium's
                ``np_random(s + i)``, as its vector envs do); a sequence gives one seed (or None)
                per reset env; None keeps each env's generator (one from OS entropy the first
                time). Seeds are non-negative ints.
            envs: distinct env indices.
            generators: one numpy Generator per reset env instead of seeds (the single env passes
                its ``np_random``); a generator the env already uses continues its sequence.
        """
        io = self._io
        idx = list(range(self.num_envs)) if envs is None else _env_indices(envs, self.num_envs)
        if generators is not None:
            if seed is not None:
                raise ValueError("reset: pass seed or generators, not both")
            gens = list(generators)
            if len(gens) != len(idx) or not all(isinstance(g, np.random.Generator) for g in gens):
                raise ValueError(f"reset(generators=...) needs {len(idx)} numpy Generators")
        else:
            gens = [None if s is None else generator(s) for s in _seeds(seed, idx)]
        pending = io.reset.copy()  # next-step autoresets flagged by the last step
        io.reset[:] = False
        for e, g in zip(idx, gens):
            if g is None:
                g = self._generators[e] or generator(None)
            if g is not self._generators[e] or not self._predraw:
                seed_state(g, io.next_seed[e])  # else its next stream was drawn when it last started
            self._generators[e] = g
            io.reset[e] = True
        io.ctl[C.MODE] = Mode.RESET
        try:
            self._call()
        finally:
            io.ctl[C.MODE] = self._mode
            io.reset[:] = pending
            io.reset[idx] = False
        self._live[idx] = True
        if self._live.all():
            self._step_call = self._call

    def step(self, actions: Any = None, *, shocks: Any = None) -> None:
        """Advance every env by one step (one core call) with ``actions`` (E, M, act_dim), or
        None when there are no learners. Values outside [-1, 1] are clipped (counted in the info
        table); NaN/inf or a wrong shape raise ValueError and change nothing.

        ``shocks``: (E, n_shocks) to step with instead of each env's draws (rows laid out as
        ``layout.SHOCK_FIELDS``: standard normals, then clearing-priority uniforms in [0, 1)),
        for replays and stress tests; the envs' random streams do not advance."""
        io = self._io
        if actions is not io.act_in:
            if actions is None:
                if self.learners.size:
                    raise ValueError(f"step(None): the engine has {self.learners.size} learners; pass "
                                     f"actions of shape {io.act_in.shape}")
            else:
                io.act_in[:] = self.validate(actions, io.act_in.shape)
        if shocks is None:
            self._step_call()
            return
        z = self._given_shocks(shocks)
        saved = io.shocks.copy()
        io.shocks[:] = z
        io.ctl[C.GIVEN_SHOCKS] = 1
        try:
            self._step_call()
        except Exception:
            io.shocks[:] = saved  # the call changed nothing else
            raise
        finally:
            io.ctl[C.GIVEN_SHOCKS] = 0

    def _given_shocks(self, shocks: Any) -> np.ndarray:
        z = np.asarray(shocks, dtype=np.float64)
        shape = self._io.shocks.shape
        if z.shape != shape:
            raise ValueError(f"shocks have shape {z.shape}, expected {shape}; state left unchanged")
        if not np.isfinite(z).all():
            raise ValueError("shocks contain NaN or inf; state left unchanged")
        n_unif = self.num_managers
        if ((z[:, -n_unif:] < 0.0) | (z[:, -n_unif:] >= 1.0)).any():
            raise ValueError(f"shocks: the last {n_unif} entries of each row are clearing-priority "
                             "uniforms and must lie in [0, 1); state left unchanged")
        return z

    def _before_reset(self) -> int:
        never = np.flatnonzero(~self._live).tolist()
        raise RuntimeError(f"Engine.step() before every env was reset (never reset: envs {never})")

    def validate(self, actions: Any, shape: tuple[int, ...], reshape: bool = True) -> np.ndarray:
        """``actions`` as a float64 array of exactly ``shape`` (a facade's action-space shape),
        reshaped to the engine's (E, M, act_dim) (``reshape=False``: left in ``shape``, for a
        facade that fills only some of the rows); ValueError on a wrong shape or NaN/inf."""
        try:
            a = np.asarray(actions, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"action must be numeric, got {type(actions).__name__}: {exc}") from None
        if a.shape != tuple(shape):
            raise ValueError(f"action has shape {a.shape}, expected {tuple(shape)}; state left unchanged")
        if reshape:
            a = a.reshape(self._io.act_in.shape)
        if not math.isfinite(a.sum()) and not np.isfinite(a).all():
            self._raise_nonfinite(a)
        return a

    @property
    def action_buffer(self) -> np.ndarray:
        """The (E, M, act_dim) input buffer ``step(engine.action_buffer)`` reads without a copy
        (facades write validated actions here; NaN/inf are still caught before any change)."""
        return self._io.act_in

    @property
    def core_actions(self) -> np.ndarray:
        """(E, A, T + K) float64, read-only: the actions the core read in the last step (the
        learners' actions clipped to [-1, 1]; zero rows for the other managers; an env that did
        not step keeps its earlier rows). With ``shocks``, what ``testing.reference`` needs to
        replay a step."""
        return _readonly(self._io.act_buf)

    def _call(self) -> None:
        """One engine call in the mode set in ``ctl``; then, with an autoreset mode, the next
        episode's stream of each env that just started one is drawn from its generator."""
        if self._entry is None:
            self._entry = self._bind_entry()
        io = self._io
        if self._entry():
            self._raise_nonfinite(io.act_in)
        if self._predraw and io.ctl[_RESETS]:
            for e in np.flatnonzero(io.was_reset):
                seed_state(self._generators[e], io.next_seed[e])

    def _bind_entry(self):
        """The compiled entry as a call without numba's per-call type dispatch (its argument
        types never change); compiled here, with a notice on stderr, if not cached yet."""
        serial, threaded = self.market.entries
        if self.threads:
            fn, args = threaded, (self._model, self._tmpl, self.buf, self._io, parallel_chunks(self.num_envs))
        else:
            fn, args = serial, (self._model, self._tmpl, self.buf, self._io, 0, self.num_envs)
        return _bound(fn, args)

    @staticmethod
    def _raise_nonfinite(actions: np.ndarray) -> None:
        bad = np.argwhere(~np.isfinite(np.asarray(actions, np.float64)))
        where = bad[0].tolist() if bad.size else "?"
        raise ValueError(f"action contains NaN or inf (first at index {where}); state left unchanged")

    # ---- outputs -------------------------------------------------------------------------
    def _table(self, final: bool | np.ndarray) -> np.ndarray:
        io = self._io
        if isinstance(final, np.ndarray):  # per env: final rows where flagged
            return np.where(final[:, None, None], io.final_info, io.info)
        return io.final_info if final else io.info

    def infos(self, final: bool | np.ndarray = False) -> dict[str, np.ndarray]:
        """Per-env, per-learner diagnostics (copies) from the info table (``final``: from the
        same-step ``final_info`` table, or an (E,) bool choosing it per env): arrays with
        leading axes (E, M) or (E,)."""
        if not self.learners.size:
            raise ValueError("infos: the engine has no learners; read engine.state instead")
        info = self._table(final)
        T = self._n_tiers
        out: dict[str, np.ndarray] = {}
        for j, k in enumerate(INFO_KEYS):
            col = info[:, 0, j] if k in _ENV_KEYS else info[:, :, j]
            out[k] = col.astype(_INFO_DTYPES.get(k, np.float64))
        out["tier_drawdown"] = info[:, 0, I.TIERS: I.TIERS + T].copy()
        out["basis_annualized"] = info[:, 0, I.TIERS + T:].copy()
        shortfall = out.pop("implementation_shortfall")
        if self._shortfall:  # meaningful once the episode is over; facades expose it only then
            out["implementation_shortfall"] = shortfall[:, 0]
        return out

    def episode_done(self, final: bool | np.ndarray = False) -> np.ndarray:
        """(E,) bool: the env's episode had reached its horizon when its info row was written."""
        if not self.num_learners:
            return self._state.done.copy()
        return self._table(final)[:, 0, I.EPISODE_DONE] > 0.5

    def info_dict(self, e: int, m: int = 0, final: bool = False) -> dict[str, Any]:
        """Learner ``m``'s info in env ``e`` as one env's ``info`` dict (Python scalars, and arrays
        for ``tier_drawdown`` and ``basis_annualized``), from the info table (``final``: from
        ``final_info``); ``implementation_shortfall`` only in Almgren-Chriss once the episode is
        over."""
        if not self.learners.size:
            raise ValueError("info_dict: the engine has no learners; read engine.state instead")
        row = (self._final_rows if final else self._info_rows)[e][m]
        info: dict[str, Any] = dict(zip(INFO_COLUMNS, row[:_TIERS].tolist()))
        for k in _BOOL_KEYS:
            info[k] = info[k] > 0.5
        for k in _INT_KEYS:
            info[k] = int(info[k])
        per_tier = row[_TIERS:].copy()  # tier drawdowns, then annualised bases: one copy
        info["tier_drawdown"] = per_tier[:self._n_tiers]
        info["basis_annualized"] = per_tier[self._n_tiers:]
        shortfall = info.pop("implementation_shortfall")
        if info.pop("episode_done") > 0.5 and self._shortfall:
            info["implementation_shortfall"] = shortfall
        return info

    def single_spaces(self) -> tuple[spaces.Box, spaces.Box]:
        """(action space, observation space) of one learner in one env."""
        m = self.market
        act = spaces.Box(-1.0, 1.0, (self.act_dim,), np.float32)
        obs = spaces.Box(m.obs_low, m.obs_high, (self.obs_dim,), np.float32)
        return act, obs


class EngineFacade:
    """What every env facade exposes of its ``engine``."""

    engine: Engine

    @property
    def state(self) -> State:
        """The market state (``layout.State`` read-only views; leading axis: envs)."""
        return self.engine.state

    @property
    def market(self) -> Market:
        """The scenario's compiled market (config, universe, parameters)."""
        return self.engine.market


# ---- compiling and binding the entry ----------------------------------------------------------
_NOTICE_SHOWN = False
NOTICE_AFTER_S = 2.0  # a cache load takes well under this
COMPILE_NOTICE = ("dma_gym: compiling the market core for this machine (once; about {s} s on 2 cores, "
                  "then loaded from the cache in {cache})")


def _bound(fn, args: tuple):
    """``fn(*args)`` without dispatch: the compiled overload's entry point with ``args`` bound.
    Compiles (or loads from numba's cache) for the arguments' types first, saying so on stderr
    when it compiles."""
    from numba import typeof

    sig = tuple(typeof(a) for a in args)
    if sig not in fn.overloads:
        _compile(fn, sig)
    return functools.partial(fn.overloads[sig].entry_point, *args)


def _compile(fn, sig) -> None:
    """Compile ``fn`` for ``sig`` (numba loads it from its on-disk cache when it can). A compile
    that takes more than a couple of seconds is a real one: say so once per process on stderr."""
    global _NOTICE_SHOWN
    shown = []

    def notice() -> None:
        global _NOTICE_SHOWN
        if not _NOTICE_SHOWN:
            _NOTICE_SHOWN = True
            shown.append(True)
            secs = "40-70" if "parallel" in fn.__name__ else "20-40"
            print(COMPILE_NOTICE.format(s=secs, cache=cache_dir()), file=sys.stderr, flush=True)

    timer = threading.Timer(NOTICE_AFTER_S, notice)
    t0 = time.perf_counter()
    timer.start()
    try:
        fn.compile(sig)
    finally:
        timer.cancel()
    if shown:
        print(f"dma_gym: market core compiled in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        prune_stale_caches()  # a real compile: folders of earlier core versions are dead weight
