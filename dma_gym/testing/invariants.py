"""Per-step invariants of the market state: accounting identity and cash audit, holdings and T+1
locks, fills against orders, sellable shares and traded volume, price bands and the daily close.
``InvariantChecker`` is what the test suite runs after every step of its rollouts; run it over a
rollout of your own config after changing a mechanism."""
from __future__ import annotations

import numpy as np

from dma_gym.core.enums import P
from dma_gym.core.layout import State

REL = 1e-9  # accounting tolerance: rtol, and atol as a share of |equity0|
TINY_REL = 1e-12  # share-count tolerance (float rounding of hold/locked updates)
TINY_ABS = 1e-15  # shares bn
BAND_TOL = 1e-9  # price-band tolerance (relative)


def fail_unless(what: str, k: int, mask: np.ndarray, **arrays) -> None:
    """Raise with the step, the first offending index and the values there."""
    if mask.all():
        return
    idx = tuple(int(x) for x in np.argwhere(~mask)[0])
    vals = {name: a[idx] if np.ndim(a) >= len(idx) else a for name, a in arrays.items()}
    raise AssertionError(f"step {k}: {what} violated at index {idx} "
                         f"({int((~mask).sum())} places): {vals}")


class InvariantChecker:
    """All per-step invariants of one rollout of ``n_envs`` envs of market ``m`` (a
    ``dma_gym.market.Market``): call ``before(state)`` right before each step and
    ``after(k, buffers, state)`` right after it; a violated invariant raises AssertionError
    naming the step, the first offending index and the values there. The ``n_closes``, ``sold``,
    ``bought``, ``locked_seen``, ``ld_seen`` and ``lu_seen`` counters tell how much was checked."""

    def __init__(self, m, n_envs: int):
        self.m = m
        self.u = m.universe
        self.limits_on = bool(m.pf[P.LIMITS_ON] > 0.5)
        self.spd = int(m.pf[P.STEPS_PER_DAY])
        A, N = m.n_managers, m.n_stocks
        self.day_buys = np.zeros((n_envs, A, N))
        self.last_close = None
        self.hold0 = self.locked0 = None
        # coverage counters: the checks below must have had something to check
        self.n_closes = 0
        self.sold = 0.0
        self.bought = 0.0
        self.locked_seen = 0.0
        self.ld_seen = 0
        self.lu_seen = 0

    def before(self, s: State) -> None:
        self.hold0 = s.hold.copy()
        self.locked0 = s.locked.copy()
        # the band in force while this step trades (a close resets lo/hi for the next day)
        self.lo0 = s.lo.copy()
        self.hi0 = s.hi.copy()
        if self.last_close is None:
            self.last_close = s.prev_close.copy()

    def after(self, k: int, buf, s: State) -> None:
        u = self.u
        eq0 = np.abs(s.equity0)
        # ---- every float finite ----------------------------------------------------------
        if not np.isfinite(buf.sf).all():
            bad = [name for name, a in zip(State._fields, s) if a.dtype.kind == "f" and not np.isfinite(a).all()]
            raise AssertionError(f"step {k}: non-finite floats in {bad}")
        # ---- accounting identity and cash audit --------------------------------------------
        stock = (s.hold * s.price[:, None, :]).sum(-1)
        fpnl = (s.fut * (s.fut_price - s.fut_settle)[:, None, :]).sum(-1)
        ident = s.cash + stock + fpnl
        fail_unless("equity == cash + stock value + unsettled futures P&L", k,
              np.abs(s.equity - ident) <= REL * np.abs(ident) + REL * eq0, equity=s.equity, identity=ident)
        audit = s.cash0 - s.cum_buy + s.cum_sell + s.cum_fut - s.cum_fin - s.cum_fee
        fail_unless("cash audit", k, np.abs(s.cash - audit) <= REL * np.abs(audit) + REL * eq0, cash=s.cash, audit=audit)
        # ---- holdings, locks, prices -------------------------------------------------------
        fail_unless("hold >= 0", k, s.hold >= 0.0, hold=s.hold)
        fail_unless("locked >= 0", k, s.locked >= 0.0, locked=s.locked)
        fail_unless("locked <= hold", k, s.locked <= s.hold * (1 + TINY_REL) + TINY_ABS, locked=s.locked, hold=s.hold)
        for name in ("price", "prev_close", "exec_price", "fut_price", "fut_settle", "index_level", "tier_level"):
            a = getattr(s, name)
            fail_unless(f"{name} > 0", k, a > 0.0, **{name: a})
        # ---- fills: sign, size, sellable, liquidity ----------------------------------------
        o, f = s.order, s.fill
        fail_unless("fill has the order's sign", k, (f * o >= 0.0) & ((o != 0.0) | (f == 0.0)), order=o, fill=f)
        fail_unless("|fill| <= |order|", k, np.abs(f) <= np.abs(o) * (1 + TINY_REL) + TINY_ABS, order=o, fill=f)
        sold = np.maximum(-f, 0.0)
        bought = np.maximum(f, 0.0)
        sellable0 = np.maximum(self.hold0 - self.locked0, 0.0)
        fail_unless("sold <= hold - locked at the start of the step (T+1)", k,
              sold <= sellable0 * (1 + TINY_REL) + TINY_ABS, sold=sold, hold0=self.hold0, locked0=self.locked0)
        sell_orders = np.maximum(-o, 0.0).sum(1)
        fail_unless("sum of filled sells <= shares offered by sell orders", k,
              sold.sum(1) <= sell_orders * (1 + TINY_REL) + TINY_ABS, filled=sold.sum(1), offered=sell_orders)
        vol_tol = s.volume_step * (1 + BAND_TOL) + TINY_ABS
        fail_unless("managers' filled sells <= traded volume", k, sold.sum(1) <= vol_tol,
              filled=sold.sum(1), volume=s.volume_step)
        fail_unless("managers' filled buys <= traded volume", k, bought.sum(1) <= vol_tol,
              filled=bought.sum(1), volume=s.volume_step)
        for name in ("fill_buy", "fill_sell"):
            a = getattr(s, name)
            fail_unless(f"0 <= {name} <= 1", k, (a >= 0.0) & (a <= 1.0 + TINY_REL), **{name: a})
        self.sold += sold.sum()
        self.bought += bought.sum()
        self.locked_seen = max(self.locked_seen, float(s.locked.max()))
        self.ld_seen += int(s.at_ld.sum())
        self.lu_seen += int(s.at_lu.sum())
        # ---- T+1 within the day --------------------------------------------------------------
        self.day_buys += bought
        fail_unless("holdings never fall below today's purchases (T+1)", k,
              s.hold >= self.day_buys * (1 - TINY_REL) - TINY_ABS, hold=s.hold, day_buys=self.day_buys)
        closed = s.step % self.spd == 0
        assert closed.all() or not closed.any(), f"step {k}: envs out of phase {s.step}"
        if not closed.any():
            fail_unless("locked == shares bought today", k,
                  np.abs(s.locked - self.day_buys) <= TINY_REL * self.day_buys + TINY_ABS,
                  locked=s.locked, day_buys=self.day_buys)
        # ---- price bands -------------------------------------------------------------------
        lim = u.limit[None, :]
        if self.limits_on:
            for name, lo, hi in (("price", s.lo, s.hi), ("exec_price", self.lo0, self.hi0)):
                p = getattr(s, name)
                fail_unless(f"lo <= {name} <= hi", k,
                      (p >= lo * (1 - BAND_TOL)) & (p <= hi * (1 + BAND_TOL)), **{name: p, "lo": lo, "hi": hi})
        if closed.any():
            self.n_closes += 1
            fail_unless("locked resets to 0 at the close", k, s.locked == 0.0, locked=s.locked)
            fail_unless("prev_close == closing price", k, s.prev_close == s.price, prev_close=s.prev_close, price=s.price)
            if self.limits_on:
                fail_unless("new limit-down == close*(1-limit)", k, s.lo == s.prev_close * (1.0 - lim),
                      lo=s.lo, expected=s.prev_close * (1.0 - lim))
                fail_unless("new limit-up == close*(1+limit)", k, s.hi == s.prev_close * (1.0 + lim),
                      hi=s.hi, expected=s.prev_close * (1.0 + lim))
                ret = s.price / self.last_close - 1.0
                fail_unless("|close-to-close return| <= board limit", k, np.abs(ret) <= lim + BAND_TOL,
                      ret=ret, limit=np.broadcast_to(lim, ret.shape))
            else:
                fail_unless("no band without limits (lo == 0)", k, s.lo == 0.0, lo=s.lo)
                fail_unless("no band without limits (hi huge)", k, s.hi >= 1e299, hi=s.hi)
            self.last_close = s.price.copy()
            self.day_buys[:] = 0.0
