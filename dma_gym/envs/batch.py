"""E independent episodes of one scenario on one core call: the engine every env facade drives."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from dma_gym.config.params import AlmgrenChrissConfig, MarketConfig
from dma_gym.core.layout import D, P, views
from dma_gym.core.observe import N_OBS, OBS_HIGH, OBS_LOW, observe_nb
from dma_gym.market import TRADING_DAYS, Market

AC_OBS_LOW = np.array([0.0, 0.0, -10.0], np.float32)
AC_OBS_HIGH = np.array([2.0, 1.0, 10.0], np.float32)
NAV_FLOOR = 1e-6  # log NAV is taken of max(NAV, this): a wiped-out book stays finite


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
        self.shocks = np.zeros((E, self.spd, m.n_shocks))  # the current trading day's shocks
        self.rngs: list[np.random.Generator | None] = [None] * E
        self.z = np.zeros((E, m.n_shocks))
        self.prev = np.zeros((E, M))  # log NAV (market) or cash (AC) at the previous step
        self.clipped = np.zeros((E, M), np.int64)
        self._rows = np.arange(E)

    # ---- pickling: views are rebuilt so that they share memory with the buffers again ----
    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d.pop("state")
        return d

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)
        self.state = views(self.buf, self.dims)

    # ---- episode control -----------------------------------------------------------------
    def reset_env(self, e: int, rng: np.random.Generator) -> None:
        """Fresh episode in env ``e``: books and peer types, then the first day's shocks, from ``rng``
        (which the env keeps drawing each new day's shocks from)."""
        m, s = self.market, self.state
        m.reset_env(s, e, rng, self.controlled)
        self.rngs[e] = rng
        m.draw_shock_block(rng, self.shocks[e])
        self.actions[e] = 0.0
        self.clipped[e] = 0
        if self.is_ac:
            self.prev[e] = s.cash[e, self._L]
        else:
            self.prev[e] = np.log(np.maximum(s.equity[e, self._L] / s.equity0[e, self._L], NAV_FLOOR))

    def validate(self, actions: Any, shape: tuple[int, ...]) -> np.ndarray:
        """(E, M, act_dim) float64 view/copy of ``actions``, which must have exactly ``shape`` (the
        facade's action-space shape); raises ValueError on a wrong shape or NaN/inf."""
        try:
            a = np.asarray(actions, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"action must be numeric, got {type(actions).__name__}: {exc}") from None
        if a.shape != shape:
            raise ValueError(f"action has shape {a.shape}, expected {shape}; state left unchanged")
        a = a.reshape((self.n_envs, self.learners.size, self.act_dim))
        if not math.isfinite(a.sum()) and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0].tolist()
            raise ValueError(f"action contains NaN or inf (first at index {bad}); state left unchanged")
        return a

    def step(self, actions: np.ndarray, skip: np.ndarray | None = None) -> None:
        """One core call for all envs with validated ``actions`` (E, M, act_dim); envs flagged in
        ``skip`` (E,) do not move (next-step autoreset)."""
        s = self.state
        self.clipped[:] = (np.abs(actions) > 1.0).sum(axis=2)
        if isinstance(self._L, slice):
            np.clip(actions, -1.0, 1.0, out=self.actions[:, self._L, : self.act_dim])
        else:  # fancy indexing returns a copy: assign instead
            self.actions[:, self._L, : self.act_dim] = np.clip(actions, -1.0, 1.0)
        sub = s.step % self.spd
        # a new trading day: draw its shocks (day 0 was drawn at reset)
        for e in np.flatnonzero((sub == 0) & (s.step > 0) & ~s.done):
            if skip is None or not skip[e]:
                self.market.draw_shock_block(self.rngs[e], self.shocks[e])
        self.z[:] = self.shocks[self._rows, sub]
        if skip is not None and skip.any():
            was = s.done.copy()
            s.done[skip] = True
            self.market.step(self.buf, self.dims, self.actions, self.z)
            s.done[:] = was
        else:
            self.market.step(self.buf, self.dims, self.actions, self.z)

    # ---- outputs -------------------------------------------------------------------------
    def observe(self) -> np.ndarray:
        """(E, M, obs_dim) float32 observations (a view of an internal buffer)."""
        m, s = self.market, self.state
        if self.is_ac:
            c = self.config
            x = s.hold[:, 0, 0] / c.initial_shares
            self.obs[:, 0, 0] = np.clip(x, 0.0, 2.0)
            self.obs[:, 0, 1] = s.step / m.steps
            scale = c.sigma * math.sqrt(c.horizon_days) if c.sigma > 0 else 1.0
            self.obs[:, 0, 2] = np.clip((s.price[:, 0] - c.initial_price) / scale, -10.0, 10.0)
            return self.obs
        observe_nb(m.pf, m.uf, m.ui, self.buf.sf, self.buf.si, self.buf.sb, self.dims, self.learners,
                   OBS_LOW, OBS_HIGH, self.obs)
        return self.obs

    def rewards(self) -> np.ndarray:
        """(E, M) rewards since the last call; updates the reference values.

        Market: change of log NAV. Almgren-Chriss: minus the step's mean-variance shortfall,
        -(n_k (S_0 - S~_k) + lambda sigma^2 tau x_k^2) / (X S_0) x 100 (percent of initial value),
        whose expected sum is -(E[IS] + lambda Var[IS]) for any deterministic schedule."""
        s = self.state
        L = self._L
        if self.is_ac:
            c = self.config
            cash = s.cash[:, 0]
            n = s.fill[:, 0, 0] * -1.0
            d_is = n * c.initial_price - (cash - self.prev[:, 0])
            var = c.risk_aversion * c.sigma ** 2 * c.tau * s.hold[:, 0, 0] ** 2
            self.prev[:, 0] = cash
            r = -(d_is + var) / (c.initial_shares * c.initial_price) * 100.0
            return r[:, None]
        now = np.log(np.maximum(s.equity[:, L] / s.equity0[:, L], NAV_FLOOR))
        r = now - self.prev
        self.prev[:] = now
        return r

    def terminated(self) -> np.ndarray:
        """(E, M): the mandate's horizon is over, or the manager was force-liquidated."""
        s = self.state
        t = np.repeat(s.done[:, None], self.learners.size, axis=1)
        if getattr(self.config, "terminate_on_liquidation", False) and not self.is_ac:
            t |= s.liquidated[:, self._L]
        return t

    def infos(self) -> dict[str, np.ndarray]:
        """Per-env, per-learner diagnostics: arrays with leading axes (E, M) or (E,)."""
        s, L = self.state, self._L
        out = {
            "equity": s.equity[:, L].copy(),
            "nav": s.equity[:, L] / s.equity0[:, L],
            "leverage": s.leverage[:, L].copy(),
            "margin_ratio": s.margin_ratio[:, L].copy(),
            "margin_call": s.call_active[:, L].copy(),
            "forced_liquidation": s.liquidated[:, L].copy(),
            "sold_value": s.sold_step[:, L].copy(),
            "unfilled_sell_value": s.unfilled_step[:, L].copy(),
            "cut_value": s.cut_step[:, L].copy(),
            "tier_drawdown": 1.0 - s.tier_level,
            "basis_annualized": s.basis * TRADING_DAYS / np.maximum(s.days_left, 1.0),
            "limit_down_share": s.ld_share.copy(),
            "day": s.day.copy(),
            "step": s.step.copy(),
            "action_clipped": self.clipped.copy(),
        }
        if self.is_ac:
            c = self.config
            # meaningful once the episode is over; facades expose it only then
            out["implementation_shortfall"] = np.where(
                s.done, c.initial_shares * c.initial_price - s.cash[:, 0], 0.0)
        return out

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
