"""E independent episodes of one scenario on one core call: the engine every env facade drives."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from dma_gym.config.params import AlmgrenChrissConfig, MarketConfig
from dma_gym.core.facade_nb import INFO_KEYS, N_INFO_SCALARS, R, facade_step_nb, facade_step_parallel_nb, finish_nb
from dma_gym.core.layout import D, P, views
from dma_gym.core.observe import N_OBS, OBS_HIGH, OBS_LOW
from dma_gym.core.rng_nb import seed_state
from dma_gym.market import PARALLEL_MIN_ENVS, Market, parallel_chunks

AC_OBS_LOW = np.array([0.0, 0.0, -10.0], np.float32)
AC_OBS_HIGH = np.array([2.0, 1.0, 10.0], np.float32)
_ENV_KEYS = frozenset({"limit_down_share", "day", "step"})  # per env, not per learner
_INFO_DTYPES = {"margin_call": np.bool_, "forced_liquidation": np.bool_, "day": np.int64, "step": np.int64,
                "action_clipped": np.int64}


class Batch:
    """Drives E episodes of one scenario; ``learners`` are the managers whose orders come from
    actions and who get observations and rewards (the others follow their peer rule).

    Args:
        config: scenario config.
        n_envs: E.
        learners: manager indices controlled by actions (default: manager 0).
    """

    def __init__(self, config: MarketConfig | AlmgrenChrissConfig, n_envs: int, learners=(0,)):
        if not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
            raise ValueError(f"n_envs={n_envs!r}: must be a positive int")
        self.config = config
        self.market = Market(config)
        m = self.market
        self.is_ac = m.is_ac
        self.n_envs = int(n_envs)
        self.learners = np.asarray(learners, np.int64)
        if self.learners.ndim != 1 or self.learners.size == 0 or self.learners.min() < 0 \
                or self.learners.max() >= m.n_managers or np.unique(self.learners).size != self.learners.size:
            raise ValueError(f"learners={learners!r}: need distinct manager indices in [0, {m.n_managers})")
        lo_l = int(self.learners[0])
        contiguous = np.array_equal(self.learners, np.arange(lo_l, lo_l + self.learners.size))
        # a slice where possible: basic indexing is much cheaper than fancy indexing per step
        self._L = slice(lo_l, lo_l + self.learners.size) if contiguous else self.learners
        self.controlled = np.zeros(m.n_managers, np.bool_)
        self.controlled[self.learners] = True
        self.buf, self.state, self.dims = m.allocate(self.n_envs)
        E, M = self.n_envs, self.learners.size
        self.act_dim = 1 if self.is_ac else m.n_actions
        self.obs_dim = 3 if self.is_ac else N_OBS
        self.obs_low = AC_OBS_LOW if self.is_ac else OBS_LOW
        self.obs_high = AC_OBS_HIGH if self.is_ac else OBS_HIGH
        self.actions = np.zeros((E, m.n_managers, m.n_actions))
        self.obs = np.zeros((E, M, self.obs_dim), np.float32)
        self.spd = int(round(m.pf[P.STEPS_PER_DAY]))
        self.streams = np.zeros((E, 4), np.uint64)  # per-env random streams (core.rng_nb)
        self.z = np.zeros((E, m.n_shocks))  # this step's shocks, drawn in the core
        self.prev = np.zeros((E, M))  # log NAV (market) or cash (AC) at the previous step
        self.clipped = np.zeros((E, M), np.int64)
        self.rew = np.zeros((E, M))
        self.term = np.zeros((E, M), np.bool_)
        self.info = np.zeros((E, M, N_INFO_SCALARS + int(self.dims[D.T]) + int(self.dims[D.K])))
        self.rows = np.zeros(E, np.bool_)
        self._n_tiers = int(self.dims[D.T])
        self._all = np.ones(E, np.bool_)
        self._none = np.zeros(E, np.bool_)
        self._act_shape = (E, M, self.act_dim)
        self.rp = np.zeros(R.SIZE)
        self.rp[R.TERM_ON_LIQ] = float(bool(getattr(config, "terminate_on_liquidation", False)) and not self.is_ac)
        if self.is_ac:
            c = config
            self.rp[R.AC_S0] = c.initial_price
            self.rp[R.AC_LAMBDA] = c.risk_aversion
            self.rp[R.AC_OBS_SCALE] = c.sigma * math.sqrt(c.horizon_days) if c.sigma > 0 else 1.0
        self.act_in = np.zeros(self._act_shape)  # facades may copy validated actions here
        self._bind()

    def _bind(self) -> None:
        m = self.market
        self._core = (m.pf, m.uf, m.ui, self.buf.sf, self.buf.si, self.buf.sb, self.dims)
        self._step_args = (*self._core, self.learners, self.rp, self.act_in, self.actions, self.clipped,
                           self.streams, self.z, self._none, self.rows, self.obs_low, self.obs_high, self.obs,
                           self.prev, self.rew, self.term, self.info)
        # one view per (env, learner) row of the info table, indexed once rather than per info dict
        self._info_rows = [list(row) for row in self.info]

    # ---- pickling: views are rebuilt so that they share memory with the buffers again ----
    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d.pop("state")
        d.pop("_core")  # tuples of references to arrays pickled anyway; rebuilt on unpickling
        d.pop("_step_args")
        d.pop("_info_rows")
        return d

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)
        self.state = views(self.buf, self.dims)
        self._bind()

    # ---- episode control -----------------------------------------------------------------
    def reset_env(self, e: int, rng: np.random.Generator) -> None:
        """Fresh episode in env ``e``: books and peer types from ``rng``, which also seeds the env's
        random stream (every step's shocks are drawn from it in the core, the same number per
        step whatever the agents do). Call ``refresh`` afterwards: it writes the env's observation
        and info and sets the baseline of its next reward."""
        self.market.reset_env(self.buf, self.dims, e, rng, self.controlled, stream=self.streams[e])
        self.actions[e] = 0.0
        self.clipped[e] = 0

    def reset_envs(self, resets: list[tuple[int, np.random.Generator]]) -> None:
        """``reset_env`` for each (env, generator) pair, then ``refresh`` of those envs."""
        mask = np.zeros(self.n_envs, np.bool_)
        for e, rng in resets:
            self.reset_env(e, rng)
            mask[e] = True
        self.refresh(mask)

    def refresh(self, rows: np.ndarray | None = None) -> None:
        """Recompute observations, termination flags and info for envs flagged in ``rows`` (E,)
        bool (default: all), e.g. after ``reset_env``, and set their reward baselines to the
        current log NAV (cash in Almgren-Chriss); the rewards it writes for them are meaningless."""
        r = self._all if rows is None else rows
        finish_nb(*self._core, self.learners, self.rp, r, self.obs_low, self.obs_high, self.obs, self.prev,
                  self.rew, self.term, self.info, self.clipped)

    def validate(self, actions: Any, shape: tuple[int, ...]) -> np.ndarray:
        """(E, M, act_dim) float64 view/copy of ``actions``, which must have exactly ``shape`` (the
        facade's action-space shape); raises ValueError on a wrong shape or NaN/inf."""
        try:
            a = np.asarray(actions, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"action must be numeric, got {type(actions).__name__}: {exc}") from None
        if a.shape != shape:
            raise ValueError(f"action has shape {a.shape}, expected {shape}; state left unchanged")
        a = np.ascontiguousarray(a.reshape(self._act_shape))
        if not math.isfinite(a.sum()) and not np.isfinite(a).all():
            self._raise_nonfinite(a)
        return a

    def step(self, actions: np.ndarray, skip: np.ndarray | None = None,
             resets: list[tuple[int, np.random.Generator]] | None = None) -> None:
        """Step all envs with validated ``actions`` (E, M, act_dim); envs flagged in ``skip`` (E,)
        bool do not move (next-step autoreset) and keep their outputs. ``resets``: (env, generator)
        pairs of skipped envs that start a fresh episode instead, as ``reset_env`` then
        ``refresh`` would (on the threads of a parallel batch, in the same call). Afterwards
        ``obs``, ``rew``, ``term`` and ``info`` hold this step's outputs (the reward of a reset env
        is meaningless)."""
        sk = self._none if skip is None else skip
        if resets and (skip is None or not all(skip[e] for e, _ in resets)):
            raise ValueError("Batch.step: envs to reset must be skipped")
        if self.n_envs < PARALLEL_MIN_ENVS:
            if skip is None and actions is self.act_in:
                bad = facade_step_nb(*self._step_args)  # the common case: arguments bound once
            else:
                bad = facade_step_nb(*self._core, self.learners, self.rp, actions, self.actions, self.clipped,
                                     self.streams, self.z, sk, self.rows, self.obs_low, self.obs_high, self.obs,
                                     self.prev, self.rew, self.term, self.info)
            if bad:
                self._raise_nonfinite(actions)
            if resets:
                self.reset_envs(resets)
            return
        reset = self._none
        if resets:
            # the generators are read here, in env order; the stream seeds they give are all the
            # threaded resets need
            reset = np.zeros(self.n_envs, np.bool_)
            for e, rng in resets:
                seed_state(rng, self.streams[e])
                reset[e] = True
        bad = facade_step_parallel_nb(*self._core, self.learners, self.rp, actions, self.actions, self.clipped,
                                      self.streams, self.z, sk, self.rows, self.obs_low, self.obs_high,
                                      self.obs, self.prev, self.rew, self.term, self.info, reset,
                                      *self.market.reset_args(self.dims), self.controlled,
                                      parallel_chunks(self.n_envs))
        if bad:
            self._raise_nonfinite(actions)

    @staticmethod
    def _raise_nonfinite(actions: np.ndarray) -> None:
        bad = np.argwhere(~np.isfinite(actions))[0].tolist()
        raise ValueError(f"action contains NaN or inf (first at index {bad}); state left unchanged")

    # ---- outputs: ``obs``, ``rew``, ``term``, ``info`` hold the last step's or refresh's ---------
    def infos(self) -> dict[str, np.ndarray]:
        """Per-env, per-learner diagnostics (copies): arrays with leading axes (E, M) or (E,)."""
        info = self.info
        T = int(self.dims[D.T])
        out: dict[str, np.ndarray] = {}
        for j, k in enumerate(INFO_KEYS):
            if k in _ENV_KEYS:
                col = info[:, 0, j]
            else:
                col = info[:, :, j]
            out[k] = col.astype(_INFO_DTYPES.get(k, np.float64))
        out["tier_drawdown"] = info[:, 0, N_INFO_SCALARS: N_INFO_SCALARS + T].copy()
        out["basis_annualized"] = info[:, 0, N_INFO_SCALARS + T:].copy()
        shortfall = out.pop("implementation_shortfall")
        if self.is_ac:  # meaningful once the episode is over; facades expose it only then
            out["implementation_shortfall"] = shortfall[:, 0]
        return out

    def info_dict(self, e: int, m: int = 0) -> dict[str, Any]:
        """Learner ``m``'s info in env ``e`` as one env's ``info`` dict (Python scalars, and arrays
        for ``tier_drawdown`` and ``basis_annualized``), from the info table of the last step or
        refresh; ``implementation_shortfall`` only in Almgren-Chriss once the episode is over."""
        row = self._info_rows[e][m]
        (equity, nav, leverage, margin_ratio, margin_call, liquidated, sold, unfilled, cut, ld, day, step,
         clipped, shortfall) = row[:N_INFO_SCALARS].tolist()
        T = self._n_tiers
        per_tier = row[N_INFO_SCALARS:].copy()  # tier drawdowns, then annualised bases: one copy
        info: dict[str, Any] = {
            "equity": equity,
            "nav": nav,
            "leverage": leverage,
            "margin_ratio": margin_ratio,
            "margin_call": margin_call > 0.5,
            "forced_liquidation": liquidated > 0.5,
            "sold_value": sold,
            "unfilled_sell_value": unfilled,
            "cut_value": cut,
            "tier_drawdown": per_tier[:T],
            "basis_annualized": per_tier[T:],
            "limit_down_share": ld,
            "day": int(day),
            "step": int(step),
            "action_clipped": int(clipped),
        }
        if self.is_ac and self.state.done[e]:
            info["implementation_shortfall"] = shortfall
        return info

    def single_spaces(self) -> tuple[spaces.Box, spaces.Box]:
        """(action space, observation space) of one learner in one env."""
        act = spaces.Box(-1.0, 1.0, (self.act_dim,), np.float32)
        obs = spaces.Box(self.obs_low, self.obs_high, (self.obs_dim,), np.float32)
        return act, obs

    @property
    def n_learners(self) -> int:
        return int(self.learners.size)

    @property
    def n_managers(self) -> int:
        return int(self.dims[D.A])


class BatchFacade:
    """What every env facade exposes of its Batch."""

    _b: Batch

    @property
    def market(self) -> Market:
        return self._b.market

    @property
    def state(self):
        """The core state views (leading axis: envs)."""
        return self._b.state
