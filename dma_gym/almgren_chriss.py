"""The Almgren-Chriss benchmark scenario on the engine: one stock, linear temporary and permanent
impact, arithmetic Brownian price, no market around it (docs/model.md §12.1). Everything the
Python side does differently for it lives here; the core's side is ``core/ac_nb.py``."""
from __future__ import annotations

import math

import numpy as np

from dma_gym.config.params import AlmgrenChrissConfig
from dma_gym.core.enums import BP, D, P, R
from dma_gym.core.layout import Buffers, allocate_state, env_segments
from dma_gym.market import Market

AC_OBS_LOW = np.array([0.0, 0.0, -10.0], np.float32)  # remaining / X, step / N, (S - S0) / (sigma sqrt T)
AC_OBS_HIGH = np.array([2.0, 1.0, 10.0], np.float32)


class ACMarket(Market):
    """``Market`` of an :class:`AlmgrenChrissConfig`: ``n_sellers`` sellers (managers 0 .. N - 1)
    of one stock, each holding X; a seller's action is the share of its remaining holdings to
    sell this step (or, positive, of X to buy)."""

    config: AlmgrenChrissConfig
    obs_low = AC_OBS_LOW
    obs_high = AC_OBS_HIGH
    extra_info = ("implementation_shortfall",)

    @property
    def entries(self) -> tuple:
        from dma_gym.core import ac_nb
        return ac_nb.ac_engine_step_nb, ac_nb.ac_engine_step_parallel_nb

    def _act_dim(self) -> int:
        return 1

    def _counts(self) -> tuple[int, int, int, int]:
        return self.config.n_sellers, 1, 1, 1  # N sellers of one stock

    def _scalars(self) -> np.ndarray:
        c = self.config
        pf = np.zeros(P.SIZE)
        pf[P.MODE] = c.model_id
        pf[P.DT] = c.tau
        pf[P.STEPS_PER_DAY] = 1.0
        pf[P.STEPS] = c.steps
        pf[P.TRANS_DECAY] = 1.0
        pf[P.LP_CAPITAL] = 1.0
        pf[P.MAX_TRADE] = 1.0
        pf[P.MAX_BUY] = 1.0
        pf[P.AC_SIGMA] = c.sigma
        pf[P.AC_EPS] = c.epsilon
        pf[P.AC_ETA] = c.eta
        pf[P.AC_GAMMA] = c.gamma
        pf[P.AC_X0] = c.initial_shares
        pf[P.REG_FROM_DAY] = -1.0
        return pf

    def _universe(self) -> tuple[np.ndarray, np.ndarray]:
        uf, ui, u = self._new_universe()
        c = self.config
        u.price0[0] = c.initial_price
        u.adv[0] = 1.0
        u.sigma[0] = c.sigma / c.initial_price
        u.limit[0] = 1.0
        u.tier_w[0] = 1.0
        u.fut_depth[:] = 1.0
        u.tier_start[1:] = 1  # the single stock is tier 0; tiers 1.. are empty
        return uf, ui

    def _facade_params(self) -> np.ndarray:
        c = self.config
        rp = np.zeros(R.SIZE)
        rp[R.AC_S0] = c.initial_price
        rp[R.AC_LAMBDA] = c.risk_aversion
        # the price move's scale: its noise over the horizon, or without noise the permanent impact
        # of every seller's whole position (so a deterministic game's observation stays in [-1, 0])
        if c.sigma > 0:
            rp[R.AC_OBS_SCALE] = c.sigma * math.sqrt(c.horizon_days)
        elif c.gamma > 0:
            rp[R.AC_OBS_SCALE] = c.gamma * c.n_sellers * c.initial_shares
        else:
            rp[R.AC_OBS_SCALE] = 1.0
        return rp

    def _book_params(self) -> np.ndarray:
        return np.zeros(BP.SIZE + int(self.base_dims[D.T]) + int(self.base_dims[D.K]))

    def _build_template(self) -> tuple[Buffers, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        dims = self.dims(1)
        buf, s = allocate_state(dims)
        u = self.universe
        c = self.config
        s.price[0] = u.price0
        s.prev_close[0] = u.price0
        s.lo[0] = 0.0
        s.hi[0] = 1e300
        s.log_fund[0] = u.price0
        s.hold[0, :, 0] = c.initial_shares
        s.gross[0] = s.gross0[0] = c.initial_shares * c.initial_price
        s.equity[0] = s.equity0[0] = s.gross[0]
        s.tier_level[0] = s.tier_peak[0] = s.tier_prev_close[0] = 1.0
        s.index_level[0] = s.index_peak[0] = s.index_prev_close[0] = 1.0
        s.fut_price[0] = s.fut_settle[0] = 1.0
        s.days_left[0] = 1e9
        s.margin_ratio[0] = 99.0
        s.leverage[0] = 1.0
        return buf, env_segments(dims)

    # ---- what a person sees ----------------------------------------------------------------
    def snapshot(self, s, e: int, a: int) -> dict[str, np.ndarray]:
        return {"step": np.array(s.step[e]), "price": np.array([s.price[e, 0]]),
                "holdings": np.array([s.hold[e, a, 0]])}

    def status_line(self, s, e: int, a: int) -> str:
        return (f"step {int(s.step[e])}/{self.steps} | shares {s.hold[e, a, 0]:,.0f} | "
                f"price {s.price[e, 0]:.4f} | cash {s.cash[e, a]:,.0f}")
