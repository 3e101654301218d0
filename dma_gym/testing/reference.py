"""Slow, plain-numpy reference implementation of one core step: a test oracle, never used in envs.

``reference_step(market, buf, dims, actions, shocks)`` has the same in-place effect on the state
buffers ``buf.sf``, ``buf.si``, ``buf.sb`` as one ``Engine.step`` has on ``engine.buf`` (the core's
``step.market_step_env_nb`` or ``ac_nb.ac_step_env_nb`` on every env not done), given the actions
the core read (``engine.core_actions``) and the shocks it drew (``engine.shocks``), in both the
market mode and the Almgren-Chriss mode. It is an independent re-implementation of the same
equations: it imports nothing from the core except the memory layout and the indices
(:mod:`dma_gym.core.layout`, :mod:`dma_gym.core.enums`),
and it is written with numpy arrays over stocks and managers instead of the core's scalar loops.
``tests/core/test_reference.py`` checks that the two agree on randomized states and actions.

Floating point: wherever the core accumulates a sum in a loop, the reference reproduces that
left-to-right order (``_seqsum``/``_seqsum_rows``: ``np.cumsum`` is strictly sequential, unlike
``np.sum``), and every expression keeps the core's operation order, so that the two agree to
roundoff of ``exp``/``log``/``pow`` (far below 1e-10 relative) rather than to summation error.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from dma_gym.core.layout import shock_views, universe_views, views
from dma_gym.core.enums import D, P

TINY = 1e-12
BIG = 1e300
LEV_REPORT_CAP = 1e6
CORR_TOL = 1e-9  # as accounts_nb: the correlation rule ignores roundoff-level changes
MR_REPORT_CAP = 99.0
RULE_THRESHOLD = 0
RULE_TARGET = 1
# snowball dealer deltas (docs/model.md §7.3): tenor grid (months), delta near the barrier, exponent
_TENORS = (3.0, 6.0, 12.0, 24.0)
_DELTA_NEAR = (2.14, 1.68, 1.33, 1.08)
_DELTA_EXPO = (2.3, 1.6, 1.0, 0.8)
_DELTA_FAR = 0.4
_DELTA_KNOCKED = 1.0


# ---- helpers -----------------------------------------------------------------------------------
def _seqsum(x: Any, init: float = 0.0) -> float:
    """``init + x[0] + x[1] + ...`` strictly left to right (the order of the core's loops)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return float(init)
    return float(np.cumsum(np.concatenate((np.array([init], dtype=np.float64), x)))[-1])


def _seqsum_rows(x: np.ndarray, init: Any) -> np.ndarray:
    """Row-wise ``init[r] + x[r, 0] + x[r, 1] + ...`` strictly left to right."""
    x = np.asarray(x, dtype=np.float64)
    init = np.broadcast_to(np.asarray(init, dtype=np.float64), (x.shape[0],))
    return np.cumsum(np.concatenate((init[:, None], x), axis=1), axis=1)[:, -1]


def _tier_seqsum(values: np.ndarray, tier: np.ndarray, T: int, init: Any = 0.0) -> np.ndarray:
    """Per-tier sequential sums of ``values`` in stock order, starting from ``init`` per tier."""
    start = np.broadcast_to(np.asarray(init, dtype=np.float64), (T,))
    return np.array([_seqsum(values[tier == t], start[t]) for t in range(T)])


def _clip_price(pf, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Clip prices into the daily band when price limits are on."""
    if pf[P.LIMITS_ON] > 0.5:
        return np.where(x < lo, lo, np.where(x > hi, hi, x))
    return x


def _effective_adv(pf, adv: np.ndarray, stress: np.ndarray) -> np.ndarray:
    """ADV after the liquidity spiral removed depth."""
    if pf[P.SPIRAL_ON] > 0.5:
        return adv * (1.0 - pf[P.DEPTH_DROP] * stress)
    return adv


def _effective_sigma(pf, sigma: np.ndarray, stress: np.ndarray) -> np.ndarray:
    """Daily volatility after the liquidity spiral raised it."""
    if pf[P.SPIRAL_ON] > 0.5:
        return sigma * (1.0 + pf[P.VOL_RISE] * stress)
    return sigma


def _sellable(s, e: int, a: int) -> np.ndarray:
    """T+1: holdings minus today's purchases, floored at 0 (per stock)."""
    x = s.hold[e, a] - s.locked[e, a]
    return np.where(x > 0.0, x, 0.0)


# ---- entry point ---------------------------------------------------------------------------------
def reference_step(market: Any, buf: Any, dims: np.ndarray, actions: np.ndarray, shocks: np.ndarray) -> None:
    """Advance every env of ``buf`` whose episode is not done by one step, in place.

    Args:
        market: anything with the core parameter buffers ``.pf``, ``.uf``, ``.ui`` (a ``Market``).
        buf: state buffers with ``.sf``, ``.si``, ``.sb``.
        dims: (D.SIZE,) int64 dimensions.
        actions: (E, A, T + K) float64, read for controlled managers only.
        shocks: (E, n_shocks) float64, each row laid out as ``layout.SHOCK_FIELDS``.
    """
    pf = tuple(float(v) for v in np.asarray(market.pf))
    u = universe_views(market.uf, market.ui, dims)
    s = views(buf, dims)
    E = int(dims[D.E])
    ac = pf[P.MODE] > 0.5
    for e in range(E):
        if s.done[e]:
            continue
        if ac:
            _ac_step_env(pf, s, e, actions, shock_views(shocks[e], dims))
        else:
            _market_step_env(pf, u, s, e, actions, shock_views(shocks[e], dims))


def _begin_step(s, e: int) -> None:
    """Zero the per-step manager reports and the futures flow."""
    s.sold_step[e] = 0.0
    s.bought_step[e] = 0.0
    s.unfilled_step[e] = 0.0
    s.cut_step[e] = 0.0
    s.fut_flow[e] = 0.0
    s.bg_sold_step[e] = 0.0


def _market_step_env(pf, u, s, e: int, actions: np.ndarray, z) -> None:
    """One market-mode step of env ``e`` in the order of docs/model.md §2.1 (steps 1-10)."""
    spd = int(pf[P.STEPS_PER_DAY])
    A = s.cash.shape[1]
    N = s.price.shape[1]
    K = s.fut.shape[2]
    if s.step[e] % spd == 0:
        s.volume_day[e] = 0.0
        s.tier_value_day[e] = 0.0
    _begin_step(s, e)
    pri = z.priority
    s.priority[e] = [int(v * 1e9) for v in pri]
    s.prio_order[e] = np.argsort(s.priority[e], kind="stable")
    # 1. exogenous moves
    _exogenous(pf, u, s, e, z)
    _levels(u, s, e)
    _limit_flags(pf, u, s, e)
    _circuit_breaker(pf, s, e)
    # 2. background flows
    _fund_decisions(pf, u, s, e)
    _background_orders(pf, u, s, e, z)
    # 3. managers
    _manager_orders(pf, u, s, e, actions)
    s.active[e] = (s.order[e] != 0.0).any(axis=1)
    # 4. regulation masks
    _masks(pf, u, s, e)
    # 5. clearing
    _clear_all(pf, u, s, e)
    _levels(u, s, e)
    _limit_flags(pf, u, s, e)
    # 6. futures
    _dealer_flow(pf, u, s, e)
    _neutral_cover(u, s, e)
    _overlay_flow(pf, u, s, e)
    _peer_futures(s, e)
    _futures_masks(pf, u, s, e)
    for a in range(A):  # managers in order, each adding to every contract's flow
        s.fut_flow[e] = s.fut_flow[e] + s.fut_order[e, a] * s.fut_price[e]
    _basis(pf, u, s, e, z)
    _futures_fills(s, e)
    # 7-8. accounts and margin
    _accounts(pf, u, s, e)
    _margin(pf, s, e)
    # 9. liquidity
    _liquidity(pf, u, s, e)
    # 10. the close
    if (s.step[e] + 1) % spd == 0:
        _close(pf, u, s, e)
    s.step[e] += 1
    if s.step[e] >= int(pf[P.STEPS]):
        s.done[e] = True


# ---- step 1: exogenous moves, levels, limit flags, circuit breaker -------------------------------
def _exogenous(pf, u, s, e: int, z) -> None:
    """Factor + idiosyncratic returns move log fundamentals; transient impact decays; new prices."""
    dt = pf[P.DT]
    sq = math.sqrt(dt)
    N = s.price.shape[1]
    mkt = s.mkt_drift[e] * dt
    size = s.size_drift[e] * dt
    if s.day[e] + s.warmup[e] < s.trend_start[e]:
        mkt = 0.0
        size = 0.0
    if s.day[e] == s.shock_day[e]:
        mkt += s.shock_mkt[e] * dt
        size += s.shock_size[e] * dt
    zm = pf[P.MKT_VOL] * sq * z.market[0]
    zs = pf[P.SIZE_VOL] * sq * z.size[0]
    st = s.stress[e][u.tier]
    noise = u.beta * zm + u.size_load * zs + pf[P.IDIO_SCALE] * u.sigma * sq * z.idio
    if pf[P.SPIRAL_ON] > 0.5:
        scaled = (1.0 + pf[P.VOL_RISE] * st) * noise
    else:
        scaled = 1.0 * noise
    s.log_fund[e] = s.log_fund[e] + (u.beta * mkt + u.size_load * size + scaled)
    s.transient[e] = s.transient[e] * pf[P.TRANS_DECAY]
    s.price[e] = _clip_price(pf, np.exp(s.log_fund[e] + s.transient[e]), s.lo[e], s.hi[e])


def _levels(u, s, e: int) -> None:
    """Tier and index levels from price relatives; running peaks."""
    T = s.tier_level.shape[1]
    rel = s.price[e] / u.price0
    s.tier_level[e] = _tier_seqsum(u.tier_w * rel, u.tier, T)
    s.index_level[e] = _seqsum_rows(u.index_w * rel[None, :], 0.0)
    s.tier_peak[e] = np.where(s.tier_level[e] > s.tier_peak[e], s.tier_level[e], s.tier_peak[e])
    s.index_peak[e] = np.where(s.index_level[e] > s.index_peak[e], s.index_level[e], s.index_peak[e])


def _limit_flags(pf, u, s, e: int) -> None:
    """At-limit flags and limit-down shares (overall and per tier)."""
    T = s.tier_level.shape[1]
    N = s.price.shape[1]
    on = pf[P.LIMITS_ON] > 0.5
    p = s.price[e]
    ld = np.logical_and(on, p <= s.lo[e] * (1.0 + 1e-9))
    lu = np.logical_and(on, p >= s.hi[e] * (1.0 - 1e-9))
    s.at_ld[e] = ld
    s.at_lu[e] = lu
    n_t = np.bincount(u.tier[ld], minlength=T)[:T].astype(np.float64)
    counts = np.bincount(u.tier, minlength=T)[:T].astype(np.float64)
    s.tier_ld_share[e] = np.where(counts > 0, n_t / np.where(counts > 0, counts, 1.0), n_t)
    s.ld_share[e] = int(ld.sum()) / N


def _circuit_breaker(pf, s, e: int) -> None:
    """Halt stocks for the rest of the day once CSI300 falls ``cb_threshold`` intraday."""
    if pf[P.CB_ON] > 0.5 and not s.halted[e]:
        if s.tier_level[e, 0] / s.tier_prev_close[e, 0] - 1.0 <= -pf[P.CB_THRESHOLD]:
            s.halted[e] = True


# ---- step 2: background populations -------------------------------------------------------------
def _fund_decisions(pf, u, s, e: int) -> None:
    """Neutral-fund exits on the hedge discount, enhanced-fund redemptions on drawdown."""
    C = s.nf_frac.shape[1]
    dt = pf[P.DT]
    w = -u.nf_hedge
    ann = s.basis[e] * 242.0 / np.maximum(s.days_left[e], 1.0)
    hedge_tot = _seqsum(w)
    disc = _seqsum(w * (-ann))
    if hedge_tot > 0.0:
        disc /= hedge_tot
    nf = s.nf_frac[e].copy()
    go = (nf > 0.0) & (disc > u.nf_thr)
    d = np.minimum(nf, pf[P.NF_SPEED] * dt)
    s.nf_frac[e] = np.where(go, nf - d, nf)
    exit_pop = _seqsum(np.where(go, d / C, 0.0))
    val = _seqsum(u.ie_shares * s.price[e])
    val0 = _seqsum(u.ie_shares * u.price0)
    dd = 1.0 - val / val0 if val0 > 0.0 else 0.0
    ie = s.ie_frac[e].copy()
    thr = u.ie_thr
    red = (ie > 0.0) & (dd > thr)
    d = np.minimum(ie, pf[P.IE_SPEED] * dt * (dd - thr) / np.maximum(thr, 1e-6))
    s.ie_frac[e] = np.where(red, ie - d, ie)
    red_pop = _seqsum(np.where(red, d / C, 0.0))
    if exit_pop > 0.0 or red_pop > 0.0:
        s.bg_pending[e] = s.bg_pending[e] + (exit_pop * u.nf_shares + red_pop * u.ie_shares)
    if exit_pop > 0.0:
        s.nf_cover[e] = s.nf_cover[e] - exit_pop * u.nf_hedge


def _background_orders(pf, u, s, e: int, z) -> None:
    """Noise, liquidity-provider, national-team and fund orders (shares) per stock."""
    N = s.price.shape[1]
    dt = pf[P.DT]
    sq = math.sqrt(dt)
    nt_spend = 0.0
    if pf[P.NT_ON] > 0.5 and s.nt_budget[e] > 0.0:
        trig = bool(np.any(1.0 - s.index_level[e] / s.index_peak[e] > pf[P.NT_TRIGGER]))
        if trig:
            nt_spend = min(pf[P.NT_DAILY] * dt, pf[P.NT_DAILY] - float(s.nt_spent_today[e]),
                           float(s.nt_budget[e]))
            nt_spend = max(nt_spend, 0.0)
    p = s.price[e]
    st = s.stress[e][u.tier]
    v_sh = _effective_adv(pf, u.adv, st) / p
    noise = pf[P.NOISE] * v_sh * sq * z.noise
    x = np.clip(-s.transient[e] / u.sigma, -3.0, 3.0)
    lp = pf[P.LP_STRENGTH] * (1.0 - st) * v_sh * dt * x
    nt = nt_spend * u.nt_w / p
    fund = np.minimum(s.bg_pending[e], pf[P.BG_PART] * (u.adv / p) * dt)
    s.lp_order[e] = lp
    s.nt_order[e] = nt
    s.fund_order[e] = fund
    s.bg_buy[e] = np.maximum(noise, 0.0) + np.maximum(lp, 0.0) + nt
    s.bg_sell[e] = np.maximum(-noise, 0.0) + np.maximum(-lp, 0.0) + fund


# ---- step 3: manager orders ---------------------------------------------------------------------
def _allocate_sell(s, e: int, a: int, value: float) -> float:
    """Sell ``value`` pro rata over sellable holdings, skipping limit-down names if possible."""
    sl = _sellable(s, e, a)
    v = sl * s.price[e]
    free = ~s.at_ld[e]
    tot_all = _seqsum(v)
    tot_free = _seqsum(np.where(free, v, 0.0))
    use_free = tot_free > 0.0
    tot = tot_free if use_free else tot_all
    if tot <= 0.0 or value <= 0.0:
        return 0.0
    frac = min(1.0, value / tot)
    mask = free if use_free else np.ones_like(free)
    s.order[e, a] = np.where(mask, s.order[e, a] - frac * sl, s.order[e, a])
    return frac * tot


def _allocate_buy(s, e: int, a: int, value: float) -> None:
    """Buy ``value`` in proportion to current holdings."""
    g = s.gross[e, a]
    if g <= 0.0 or value <= 0.0:
        return
    s.order[e, a] = s.order[e, a] + value * s.hold[e, a] / g


def _manager_orders(pf, u, s, e: int, actions: np.ndarray) -> None:
    """Stock and futures orders: broker liquidation, controlled actions, peer rules."""
    A = s.cash.shape[1]
    K = s.fut.shape[2]
    T = s.tier_level.shape[1]
    dt = pf[P.DT]
    price = s.price[e]
    for a in range(A):
        s.order[e, a] = 0.0
        s.fut_order[e, a] = 0.0
        eq = float(s.equity[e, a])
        if s.liquidated[e, a]:
            q = _sellable(s, e, a) * pf[P.BROKER_SPEED]
            s.order[e, a] = -q
            s.intended_cum[e, a] += _seqsum(q * price)
            continue
        if s.controlled[e, a]:
            x = np.clip(actions[e, a][u.tier], -1.0, 1.0)
            sell = x < 0.0
            q = -x * pf[P.MAX_TRADE] * s.hold[e, a]
            o = np.where(sell, -q, 0.0)
            intended = _seqsum(np.where(sell, q * price, 0.0))
            if eq > 0.0:
                o = np.where(x > 0.0, x * pf[P.MAX_BUY] * eq * u.tier_w / price, o)
            s.order[e, a] = o
            s.intended_cum[e, a] += intended
            xf = np.clip(actions[e, a, T:T + K], -1.0, 1.0)
            pos = s.fut[e, a]
            cover = (xf > 0.0) & (pos < 0.0)
            short = ~cover & (xf < 0.0) & (eq > 0.0)
            s.fut_order[e, a] = np.where(
                cover, -xf * pf[P.MAX_FUT] * pos,
                np.where(short, xf * pf[P.MAX_FUT] * eq / s.fut_price[e], 0.0))
            continue
        g = float(s.gross[e, a])
        if g <= 0.0 or eq <= 0.0:
            continue
        lev = g / eq
        speed = min(1.0, pf[P.PEER_SPEED] * dt)
        gap = 0.0
        r = int(s.rule[e, a])
        mr = float(s.margin_ratio[e, a])
        if r == RULE_THRESHOLD:
            if lev > s.lev_max[e, a]:
                gap = g - 0.95 * float(s.lev_max[e, a]) * eq
        elif r == RULE_TARGET:
            gap = g - float(s.lev0[e, a]) * eq
        elif mr < pf[P.M_WARN]:
            gap = g * (1.0 - mr / (1.1 * pf[P.M_WARN]))
        if s.call_active[e, a]:
            mgap = g * (1.0 - mr / (1.1 * pf[P.M_WARN]))
            if mgap > gap:
                gap = mgap
        if gap > 0.0:
            s.intended_cum[e, a] += _allocate_sell(s, e, a, speed * gap)
        elif gap < 0.0:
            _allocate_buy(s, e, a, -speed * gap)


# ---- step 4: regulation masks -------------------------------------------------------------------
def _corr_with_hedge(pf, u, s, e: int, a: int, with_orders: bool) -> float:
    """Factor-model correlation of the whole long book with the futures hedge, both optionally
    after this step's orders."""
    fut = s.fut[e, a] + s.fut_order[e, a] if with_orders else s.fut[e, a] + 0.0
    short = fut < 0.0
    hsum = _seqsum(np.where(short, -fut, 0.0))
    if hsum <= 0.0:
        return 1.0
    vm = pf[P.MKT_VOL] * pf[P.MKT_VOL]
    vs = pf[P.SIZE_VOL] * pf[P.SIZE_VOL]
    q = s.hold[e, a] + s.order[e, a] if with_orders else s.hold[e, a] + 0.0
    pos_val = np.maximum(q, 0.0) * s.price[e]
    tot = _seqsum(pos_val)
    if tot <= 0.0:
        return 1.0
    w = pos_val / tot
    x = np.zeros_like(w)
    for k in range(fut.shape[0]):
        if short[k]:
            x = x + (-fut[k] / hsum) * u.index_w[k]
    isig = pf[P.IDIO_SCALE] * u.sigma
    iv = isig * isig
    pm = _seqsum(w * u.beta)
    ps = _seqsum(w * u.size_load)
    hm = _seqsum(x * u.beta)
    hs = _seqsum(x * u.size_load)
    pid = _seqsum(w * w * iv)
    hid = _seqsum(x * x * iv)
    cid = _seqsum(w * x * iv)
    cov = pm * hm * vm + ps * hs * vs + cid
    vp = pm * pm * vm + ps * ps * vs + pid
    vh = hm * hm * vm + hs * hs * vs + hid
    if vp <= 0.0 or vh <= 0.0:
        return 1.0
    return cov / math.sqrt(vp * vh)


def _masks(pf, u, s, e: int) -> None:
    """T+1, halts, sell restrictions, net-sell cap, leverage cap / scale freeze, correlation rule."""
    A = s.cash.shape[1]
    restricted = bool(s.reg_active[e])
    halted = bool(s.halted[e])
    p = s.price[e]
    for a in range(A):
        o = s.order[e, a].copy()
        broker = bool(s.liquidated[e, a])
        binds = restricted and (not broker or pf[P.REG_BIND_BROKER] > 0.5)
        if halted:
            hit = o != 0.0
            cut = _seqsum(np.where(hit, np.abs(o) * p, 0.0))
            o = np.where(hit, 0.0, o)
            sells = 0.0
            buys = 0.0
        else:
            neg = o < 0.0
            m = _sellable(s, e, a)
            over = neg & (-o > m)
            c_t1 = np.where(over, (-o - m) * p, 0.0)
            o = np.where(over, -m, o)
            if binds and pf[P.NO_REDUCTION] > 0.5:
                c_nr = np.where(neg, -o * p, 0.0)
                o = np.where(neg, 0.0, o)
            else:
                c_nr = np.zeros_like(o)
            cut = _seqsum(np.column_stack((c_t1, c_nr)).ravel())  # stock by stock, T+1 cut first
            sells = _seqsum(np.where(neg, -o * p, 0.0))
            buys = _seqsum(np.where(o > 0.0, o * p, 0.0))
        if binds and sells > 0.0:
            allowed = pf[P.NET_SELL_CAP] * s.gross0[e, a] - s.day_net_sold[e, a] + buys
            if allowed < sells:
                scale = max(float(allowed), 0.0) / sells
                o = np.where(o < 0.0, o * scale, o)
                cut += sells * (1.0 - scale)
                sells *= scale
        if pf[P.CORR_ON] > 0.5 and not broker and (buys > 0.0 or sells > 0.0):
            s.order[e, a] = o
            pre = _corr_with_hedge(pf, u, s, e, a, False)
            post = _corr_with_hedge(pf, u, s, e, a, True)
            if post < pf[P.CORR_MIN] and post < pre - CORR_TOL:
                if buys > 0.0:
                    o = np.where(o > 0.0, 0.0, o)
                    cut += buys
                    buys = 0.0
                    s.order[e, a] = o
                    post = _corr_with_hedge(pf, u, s, e, a, True)
                if sells > 0.0 and post < pf[P.CORR_MIN] and post < pre - CORR_TOL:
                    o = np.zeros_like(o)
                    cut += sells
                    sells = 0.0
        if buys > 0.0:
            eq = float(s.equity[e, a])
            g = float(s.gross[e, a])
            room = pf[P.LEV_CAP] * max(eq, 0.0) - (g - sells)
            if pf[P.SCALE_FREEZE] > 0.5:
                room = min(room, float(s.gross0[e, a]) - (g - sells))
            if room < buys:
                scale = max(room, 0.0) / buys
                o = np.where(o > 0.0, o * scale, o)
                cut += buys * (1.0 - scale)
                buys *= scale
        if buys > 0.0:  # initial margin on new buying
            m = u.margin_rate
            if pf[P.SPIRAL_ON] > 0.5:
                m = u.margin_rate * (1.0 + pf[P.MARGIN_VOL] * s.stress[e][u.tier])
            v = o * p * m
            add = _seqsum(np.where(o > 0.0, v, 0.0))
            free = _seqsum(np.where(o < 0.0, -v, 0.0))
            room = max(float(s.equity[e, a]), 0.0) / pf[P.M_INIT] - float(s.required[e, a]) + free
            if room < add:
                scale = max(room, 0.0) / add
                o = np.where(o > 0.0, o * scale, o)
                cut += buys * (1.0 - scale)
        s.order[e, a] = o
        s.cut_step[e, a] = cut


# ---- step 5: clearing ---------------------------------------------------------------------------
def _limit_capacity(pf, p0, bound, v_sh, sig, sign) -> np.ndarray:
    """Per stock: largest net quantity that clears before the price reaches its limit."""
    if pf[P.LIMITS_ON] < 0.5:
        return np.full(p0.shape, BIG)
    dt = pf[P.DT]
    with np.errstate(all="ignore"):
        room = np.where(sign < 0.0, 1.0 - bound / p0, bound / p0 - 1.0)
        y = pf[P.IMPACT_Y] * sig
        q_exec = np.where(y > 0.0, v_sh * dt * (room / y) ** (1.0 / pf[P.IMPACT_EXP]), BIG)
        lin = (pf[P.PERM] + pf[P.TRANS]) * sig
        q_mid = np.where(lin > 0.0, v_sh * np.abs(np.log(bound / p0)) / lin, BIG)
        out = np.minimum(q_exec, q_mid)
    return np.where(room <= TINY, 0.0, out)


def _clear_stocks(pf, u, s, e: int, buys: np.ndarray, sells: np.ndarray) -> np.ndarray:
    """Net gross orders per stock, impact and limits; fill ratios, volume, new prices.

    Returns the signed net quantity that cleared against outside liquidity, per stock.
    """
    N = s.price.shape[1]
    dt = pf[P.DT]
    p0 = s.price[e].copy()
    st = s.stress[e][u.tier]
    v_sh = _effective_adv(pf, u.adv, st) / p0
    sig = _effective_sigma(pf, u.sigma, st)
    s.exec_price[e] = p0
    s.fill_buy[e] = 1.0
    s.fill_sell[e] = 1.0
    if s.halted[e]:
        s.fill_buy[e] = 0.0
        s.fill_sell[e] = 0.0
        s.volume_step[e] = 0.0
        s.limit_locked[e] = False
        return np.zeros(N)
    with np.errstate(all="ignore"):
        q = buys - sells
        nz = (q < 0.0) | (q > 0.0)
        sign = np.where(q > 0.0, 1.0, -1.0)
        bound = np.where(sign > 0.0, s.hi[e], s.lo[e])
        qabs = np.abs(q)
        qlim = _limit_capacity(pf, p0, bound, v_sh, sig, sign)
        within = qabs <= qlim
        h = pf[P.IMPACT_Y] * sig * (qabs / (v_sh * dt)) ** pf[P.IMPACT_EXP]
        px = p0 * (1.0 + sign * h)
        px = np.where(px <= 0.0, p0 * TINY, px)
        qf_abs = np.where(within, qabs, np.minimum(qabs, qlim + pf[P.LIMIT_DEPTH] * v_sh * dt))
        locked = nz & ~within
        s.limit_locked[e] = locked
        s.exec_price[e] = np.where(nz, np.where(within, px, bound), p0)
        dlog = sign * sig * qf_abs / v_sh
        s.log_fund[e] = np.where(nz, s.log_fund[e] + pf[P.PERM] * dlog, s.log_fund[e])
        s.transient[e] = np.where(nz, s.transient[e] + pf[P.TRANS] * dlog, s.transient[e])
        s.fill_sell[e] = np.where(nz & (sign < 0.0), (buys + qf_abs) / sells, 1.0)
        s.fill_buy[e] = np.where(nz & (sign > 0.0), (sells + qf_abs) / buys, 1.0)
        qf = np.where(nz, sign * qf_abs, 0.0)
    s.volume_step[e] = np.minimum(buys, sells) + np.abs(qf)
    new = _clip_price(pf, np.exp(s.log_fund[e] + s.transient[e]), s.lo[e], s.hi[e])
    s.price[e] = np.where(locked, s.exec_price[e], new)
    return qf


def _sequential_fills(s, e: int, fill: np.ndarray, rationed: np.ndarray, capacity: np.ndarray,
                      side: float, bg: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Ration one side of the rationed stocks: managers by priority, then the background.

    Writes managers' fills into ``fill`` (A, N); returns the background's fill ratio per stock
    (``ratio`` where the stock is not rationed). Priorities come from uniforms: no ties.
    """
    order = s.order[e]
    left = capacity.copy()
    for a in s.prio_order[e]:
        o = order[a]
        take = rationed & (o * side > 0.0)
        f = np.minimum(np.abs(o), left)
        left = np.where(take, left - f, left)
        fill[a] = np.where(take, side * f, fill[a])
    with np.errstate(all="ignore"):
        r = np.where(bg <= 0.0, 1.0, np.minimum(1.0, np.maximum(left, 0.0) / bg))
    return np.where(rationed, r, ratio)


def _apply_fills(pf, s, e: int) -> None:
    """Managers' cash, holdings, T+1 locks, fees and reports (sums in stock order)."""
    px = s.exec_price[e]
    fee = pf[P.FEE]
    o = s.order[e]
    f = s.fill[e]
    act = o != 0.0
    val = np.abs(f) * px
    cost = np.where(act, f * px + fee * val, 0.0)
    s.cash[e] = _seqsum_rows(-cost, s.cash[e])
    s.cum_fee[e] = _seqsum_rows(np.where(act, fee * val, 0.0), s.cum_fee[e])
    new_hold = s.hold[e] + f
    new_hold = np.where(new_hold < 0.0, 0.0, new_hold)
    s.hold[e] = np.where(act, new_hold, s.hold[e])
    buy = act & (f > 0.0)
    sell = act & (f < 0.0)
    s.locked[e] = np.where(buy, s.locked[e] + f, s.locked[e])
    bv = np.where(buy, val, 0.0)
    sv = np.where(sell, val, 0.0)
    s.cum_buy[e] = _seqsum_rows(bv, s.cum_buy[e])
    s.bought_step[e] = _seqsum_rows(bv, s.bought_step[e])
    s.day_net_sold[e] = _seqsum_rows(np.where(buy, -val, sv), s.day_net_sold[e])
    s.cum_sell[e] = _seqsum_rows(sv, s.cum_sell[e])
    s.sold_step[e] = _seqsum_rows(sv, s.sold_step[e])
    s.sold_cum[e] = _seqsum_rows(sv, s.sold_cum[e])
    unf = np.where(act & (o < 0.0), (-o - (-f)) * px, 0.0)
    s.unfilled_step[e] = _seqsum_rows(unf, s.unfilled_step[e])


def _background_fills(s, e: int, fb: np.ndarray, fs: np.ndarray) -> None:
    """LP inventory and cash, national-team budget, funds' queue from background fill ratios."""
    px = s.exec_price[e]
    lp = s.lp_order[e]
    lp_fill = np.where(lp > 0.0, lp * fb, lp * fs)
    s.lp_inv[e] = s.lp_inv[e] + lp_fill
    s.lp_cash[e] = _seqsum(-(lp_fill * px), s.lp_cash[e])
    nt_val = s.nt_order[e] * fb * px
    budget = float(s.nt_budget[e])
    for v in nt_val:  # floored at 0 after every stock
        budget = max(0.0, budget - v)
    s.nt_budget[e] = budget
    s.nt_spent_today[e] = _seqsum(nt_val, s.nt_spent_today[e])
    s.bg_sold_step[e] = _seqsum(s.fund_order[e] * fs * px, s.bg_sold_step[e])
    pend = s.bg_pending[e] - s.fund_order[e] * fs
    s.bg_pending[e] = np.where(pend < 0.0, 0.0, pend)


def _neutral_cover(u, s, e: int) -> None:
    """Exiting neutral funds buy back their shorts as the funds' stock queue fills."""
    if _seqsum(s.nf_cover[e]) <= 0.0:
        return
    stuck = _seqsum(s.bg_pending[e] * s.price[e])
    sold = float(s.bg_sold_step[e])
    frac = 1.0 if stuck <= 0.0 else sold / (sold + stuck)
    c = frac * s.nf_cover[e]
    s.nf_cover[e] = s.nf_cover[e] - c
    s.nf_qty[e] = s.nf_qty[e] + c
    s.fut_flow[e] = s.fut_flow[e] + c * s.fut_price[e]


def _clear_all(pf, u, s, e: int) -> None:
    """Step 5 for all stocks, then manager and background fills, volumes and tier sell flow."""
    A = s.cash.shape[1]
    T = s.tier_level.shape[1]
    order = s.order[e]
    buys = s.bg_buy[e].copy()
    sells = s.bg_sell[e].copy()
    for a in range(A):  # managers in order
        o = order[a]
        buys = buys + np.where(o > 0.0, o, 0.0)
        sells = sells - np.where(o < 0.0, o, 0.0)
    s.gross_buy[e] = buys
    s.gross_sell[e] = sells
    qf = _clear_stocks(pf, u, s, e, buys, sells)
    fb = s.fill_buy[e].copy()
    fs = s.fill_sell[e].copy()
    fill = np.where(order > 0.0, order * fb, order * fs)
    bg_fb, bg_fs = fb, fs
    if pf[P.CLEARING_ORDER] > 0.5 and not s.halted[e]:
        bg_fs = _sequential_fills(s, e, fill, fs < 1.0, fs * sells, -1.0, s.bg_sell[e], fs)
        bg_fb = _sequential_fills(s, e, fill, fb < 1.0, fb * buys, 1.0, s.bg_buy[e], fb)
    s.fill[e] = fill
    _apply_fills(pf, s, e)
    _background_fills(s, e, bg_fb, bg_fs)
    px = s.exec_price[e]
    s.volume_day[e] = s.volume_day[e] + s.volume_step[e]
    s.tier_value_day[e] = _tier_seqsum(s.volume_step[e] * px, u.tier, T, s.tier_value_day[e])
    flow = _tier_seqsum(-(qf * px), u.tier, T, 0.0)
    tier_adv = _tier_seqsum(u.adv, u.tier, T, 0.0)
    with np.errstate(all="ignore"):
        flow = flow / (tier_adv * pf[P.DT])
    s.tier_sell_flow[e] = np.where(flow > 0.0, flow, 0.0)


# ---- step 6: futures ----------------------------------------------------------------------------
def _interp_tenor(tenor: float, values) -> float:
    """Piecewise-linear interpolation on the tenor grid, flat outside."""
    if tenor <= _TENORS[0]:
        return values[0]
    for j in range(1, 4):
        if tenor <= _TENORS[j]:
            w = (tenor - _TENORS[j - 1]) / (_TENORS[j] - _TENORS[j - 1])
            return values[j - 1] + w * (values[j] - values[j - 1])
    return values[3]


def _snowball_delta(level: float, ki: float, tenor: float, knocked: bool) -> float:
    """Dealer hedge delta per unit notional of one snowball note."""
    if knocked:
        return _DELTA_KNOCKED
    near = _interp_tenor(tenor, _DELTA_NEAR)
    expo = _interp_tenor(tenor, _DELTA_EXPO)
    if level >= 1.0:
        return _DELTA_FAR * max(0.0, 1.0 - 2.0 * (level - 1.0))
    x = (1.0 - level) / max(1.0 - ki, 1e-6)
    if x > 1.0:
        x = 1.0
    return _DELTA_FAR + (near - _DELTA_FAR) * x ** expo


def _dealer_flow(pf, u, s, e: int) -> None:
    """Snowball dealers re-hedge: the change of their long futures is futures flow."""
    if pf[P.SB_ON] < 0.5:
        return
    K, B = u.sb_ki.shape
    months_passed = int(s.day[e]) / 21.0
    for k in range(K):
        lev = float(s.index_level[e, k])
        if lev <= 0.0:
            continue
        nd = 0.0
        for b in range(B):
            notional = float(u.sb_notional[k, b])
            if notional <= 0.0:
                continue
            tenor = max(0.25, float(u.sb_tenor[k, b]) - months_passed)
            nd += notional * _snowball_delta(lev, float(u.sb_ki[k, b]), tenor, bool(s.knocked[e, k, b]))
        target = nd / lev
        s.fut_flow[e, k] += (target - s.dealer_qty[e, k]) * s.fut_price[e, k]
        s.dealer_qty[e, k] = target


def _overlay_flow(pf, u, s, e: int) -> None:
    """Funds short the nearest index future (IF / IC / IM for CSI1000 and smaller) against the
    value of their stuck sell orders."""
    if pf[P.OVERLAY] <= 0.0:
        return
    K = s.ov_qty.shape[1]
    contract = np.minimum(u.tier, K - 1)
    value = s.bg_pending[e] * s.price[e]
    stuck = np.array([_seqsum(np.where(contract == k, value, 0.0)) for k in range(K)])
    target = -(pf[P.OVERLAY] * stuck / s.fut_price[e])
    s.fut_flow[e] = s.fut_flow[e] + (target - s.ov_qty[e]) * s.fut_price[e]
    s.ov_qty[e] = target


def _peer_futures(s, e: int) -> None:
    """Peers and the broker scale the hedge with the long book's post-trade value."""
    price = s.price[e]
    g = _seqsum_rows(s.hold[e] * price, 0.0)
    g0 = _seqsum_rows((s.hold[e] - s.fill[e]) * price, 0.0)
    with np.errstate(all="ignore"):
        ratio = np.where(g0 > 0.0, g / g0, 0.0)
    fut = s.fut[e]
    skip = s.controlled[e] & ~s.liquidated[e]
    s.fut_order[e] = np.where(skip[:, None], s.fut_order[e], fut * ratio[:, None] - fut)


def _futures_masks(pf, u, s, e: int) -> None:
    """Controlled managers' neutral mandate and new shorts within the initial margin; when
    restricted, no new shorts and a daily cover cap; cut value added to ``cut_step``."""
    A, K = s.fut.shape[1], s.fut.shape[2]
    for a in range(A):
        liq = bool(s.liquidated[e, a])
        cut = 0.0
        if s.controlled[e, a] and not liq:
            long = _seqsum(s.hold[e, a] * s.price[e])
            q = s.fut[e, a] + s.fut_order[e, a]
            short = _seqsum(np.maximum(-q, 0.0) * s.fut_price[e])
            excess = short - pf[P.MAX_HEDGE] * long
            if excess > 0.0:
                s.fut_order[e, a] = np.where(q < 0.0, s.fut_order[e, a] - q * excess / short, s.fut_order[e, a])
            room = max(float(s.equity[e, a]), 0.0) / pf[P.M_INIT] - float(s.required[e, a])
            for k in range(K):
                f = float(s.fut_order[e, a, k])
                if f < 0.0:
                    fp = float(s.fut_price[e, k])
                    need = -f * fp * u.fut_margin[k]
                    if need > room:
                        g = f * max(room, 0.0) / need
                        cut += (g - f) * fp
                        f = g
                        s.fut_order[e, a, k] = f
                    room -= -f * fp * u.fut_margin[k]
        if s.reg_active[e] and (not liq or pf[P.REG_BIND_BROKER] > 0.5):
            for k in range(K):
                f = float(s.fut_order[e, a, k])
                if f == 0.0:
                    continue
                pos = float(s.fut[e, a, k])
                cov = float(s.fut_day_cover[e, a, k])
                fp = float(s.fut_price[e, k])
                if f < 0.0 and pf[P.FUT_NO_NEW_SHORT] > 0.5:
                    cut += -f * fp
                    f = 0.0
                elif f > 0.0 and pos < 0.0:
                    cap = max(pf[P.FUT_COVER_CAP] * (-pos + cov) - cov, 0.0)
                    if f > cap:
                        cut += (f - cap) * fp
                        f = cap
                s.fut_order[e, a, k] = f
        s.cut_step[e, a] += cut


def _basis(pf, u, s, e: int, z) -> None:
    """Basis mean reversion, flow impact and noise; futures price within its limit band."""
    K = s.index_level.shape[1]
    N = s.price.shape[1]
    sq = math.sqrt(pf[P.DT])
    lev = s.index_level[e].copy()
    if pf[P.FUT_ON] < 0.5:
        s.basis[e] = 0.0
    else:
        b_bar = u.normal_basis * s.days_left[e] / 242.0
        b = s.basis[e].copy()
        b = b + pf[P.BASIS_ALPHA] * (b_bar - b)
        b = b + 0.01 * s.fut_flow[e] / u.fut_depth
        b = b + pf[P.BASIS_VOL] * sq * z.basis
        b = np.minimum(b, pf[P.PREMIUM_CAP] * s.days_left[e] / 242.0)
        s.basis[e] = b
    f = lev * (1.0 + s.basis[e])
    lo = s.fut_settle[e] * (1.0 - pf[P.FUT_LIMIT])
    hi = s.fut_settle[e] * (1.0 + pf[P.FUT_LIMIT])
    f = np.where(f < lo, lo, np.where(f > hi, hi, f))
    f = np.where(f <= 0.0, 1e-9, f)
    s.fut_price[e] = f
    with np.errstate(all="ignore"):
        s.basis[e] = np.where(lev > 0.0, f / lev - 1.0, 0.0)


def _futures_fills(s, e: int) -> None:
    """Futures orders fill at the new price; the P&L against settlement goes to cash."""
    f = s.fut_order[e]
    pos = s.fut[e].copy()
    live = f != 0.0
    adj = np.where(live, -f * (s.fut_price[e] - s.fut_settle[e])[None, :], 0.0)
    s.cash[e] = _seqsum_rows(adj, s.cash[e])
    s.cum_fut[e] = _seqsum_rows(adj, s.cum_fut[e])
    covering = live & (f > 0.0) & (pos < 0.0)
    s.fut_day_cover[e] = np.where(covering, s.fut_day_cover[e] + np.minimum(f, -pos), s.fut_day_cover[e])
    s.fut[e] = np.where(live, pos + f, pos)


# ---- steps 7-9: accounts, margin, liquidity -----------------------------------------------------
def _accounts(pf, u, s, e: int) -> None:
    """Financing, gross, equity, required margin, leverage and margin ratio per manager."""
    dt = pf[P.DT]
    cash = s.cash[e].copy()
    neg = cash < 0.0
    fin = np.where(neg, -cash * pf[P.FIN_RATE] * dt, 0.0)
    cash = np.where(neg, cash - fin, cash)
    s.cash[e] = cash
    s.cum_fin[e] = np.where(neg, s.cum_fin[e] + fin, s.cum_fin[e])
    v = s.hold[e] * s.price[e]
    g = _seqsum_rows(v, 0.0)
    m = u.margin_rate
    if pf[P.SPIRAL_ON] > 0.5:
        m = m * (1.0 + pf[P.MARGIN_VOL] * s.stress[e][u.tier])
    req = _seqsum_rows(m * v, 0.0)
    fut = s.fut[e]
    fp = s.fut_price[e]
    fpnl = _seqsum_rows(fut * (fp - s.fut_settle[e]), 0.0)
    fm = u.fut_margin * fut * fp  # exchange margin on gross contract value, larger side only
    f_long = _seqsum_rows(np.where(fut > 0.0, fm, 0.0), 0.0)
    f_short = _seqsum_rows(np.where(fut > 0.0, 0.0, -fm), 0.0)
    req = req + np.maximum(f_long, f_short)
    eq = cash + g + fpnl
    s.gross[e] = g
    s.equity[e] = eq
    s.required[e] = req
    with np.errstate(all="ignore"):
        ge = g / eq
        er = eq / req
    s.leverage[e] = np.where((eq > 0.0) & (ge < LEV_REPORT_CAP), ge,
                             np.where(g > 0.0, LEV_REPORT_CAP, 0.0))
    s.margin_ratio[e] = np.where((req > 0.0) & (er < MR_REPORT_CAP), er,
                                 np.where((eq > 0.0) | (req <= 0.0), MR_REPORT_CAP, er))


def _margin(pf, s, e: int) -> None:
    """Margin ladder: warning, call with a deadline, forced liquidation."""
    if pf[P.MODE] > 0.5:
        return
    step = int(s.step[e])
    live = ~s.liquidated[e]
    mr = s.margin_ratio[e]
    s.warning[e] = np.where(live, mr < pf[P.M_WARN], s.warning[e])
    liq_now = live & ((s.equity[e] <= 0.0) | (mr < pf[P.M_LIQ]))
    rest = live & ~liq_now
    called = s.call_active[e].copy()
    cured = rest & called & (mr >= pf[P.M_WARN])
    expired = rest & called & ~(mr >= pf[P.M_WARN]) & (step >= s.call_deadline[e])
    new_call = rest & ~called & (mr < pf[P.M_CALL])
    s.liquidated[e] = s.liquidated[e] | liq_now | expired
    s.call_active[e] = np.where(liq_now | cured | expired, False, called | new_call)
    s.call_deadline[e] = np.where(new_call, step + int(pf[P.CALL_STEPS]), s.call_deadline[e])


def _liquidity(pf, u, s, e: int) -> None:
    """Stress per tier moves toward its drawdown / flow / limit-down / LP-loss target."""
    if pf[P.SPIRAL_ON] < 0.5:
        s.stress[e] = 0.0
        return
    lp_val = _seqsum(s.lp_inv[e] * s.price[e], s.lp_cash[e])
    mm_loss = max(0.0, -lp_val) / pf[P.LP_CAPITAL]
    dd = 1.0 - s.tier_level[e] / s.tier_peak[e]
    target = (pf[P.W_DD] * dd + pf[P.W_FLOW] * s.tier_sell_flow[e]
              + pf[P.W_LD] * s.tier_ld_share[e] + pf[P.W_MM] * mm_loss)
    target = np.minimum(1.0, np.maximum(0.0, target))
    s.stress[e] = s.stress[e] + pf[P.STRESS_ALPHA] * (target - s.stress[e])


# ---- step 10: the close -------------------------------------------------------------------------
def _close(pf, u, s, e: int) -> None:
    """Bands, T+1 unlock, knock-ins, futures settlement, regulation trigger, new day."""
    p = s.price[e].copy()
    s.prev_close[e] = p
    if pf[P.LIMITS_ON] > 0.5:
        s.lo[e] = p * (1.0 - u.limit)
        s.hi[e] = p * (1.0 + u.limit)
    else:
        s.lo[e] = 0.0
        s.hi[e] = BIG
    s.locked[e] = 0.0
    s.day_net_sold[e] = 0.0
    s.fut_day_cover[e] = 0.0
    s.ld_share_close[e] = s.ld_share[e]
    if s.ld_share[e] > s.ld_share_peak[e]:
        s.ld_share_peak[e] = s.ld_share[e]
    if pf[P.SB_ON] > 0.5:
        s.knocked[e] = s.knocked[e] | ((u.sb_notional > 0.0) & (s.index_level[e][:, None] < u.sb_ki))
    pnl = s.fut[e] * (s.fut_price[e] - s.fut_settle[e])[None, :]
    s.cash[e] = _seqsum_rows(pnl, s.cash[e])
    s.cum_fut[e] = _seqsum_rows(pnl, s.cum_fut[e])
    s.fut_settle[e] = s.fut_price[e]
    if pf[P.REG_ON] > 0.5:
        if s.ld_share[e] >= pf[P.REG_TRIGGER]:
            s.reg_active[e] = True
        if pf[P.REG_FROM_DAY] >= 0.0 and s.day[e] + 1 >= int(pf[P.REG_FROM_DAY]):
            s.reg_active[e] = True
    s.tier_prev_close[e] = s.tier_level[e]
    s.index_prev_close[e] = s.index_level[e]
    s.days_left[e] = s.days_left[e] - 1.0
    s.nt_spent_today[e] = 0.0
    s.halted[e] = False
    s.day[e] += 1


# ---- Almgren-Chriss mode ------------------------------------------------------------------------
def _ac_step_env(pf, s, e: int, actions: np.ndarray, z) -> None:
    """One Almgren-Chriss step of every seller: seller a trades n_a, all are filled at
    S - eps*sgn(n_a) - eta*N/tau (N = sum of the n_a), then S moves by noise - gamma*N."""
    _begin_step(s, e)
    tau = pf[P.DT]
    x = s.hold[e, :, 0].astype(float)
    px0 = float(s.price[e, 0])
    act = np.clip(actions[e, :, 0].astype(float), -1.0, 1.0)
    if s.step[e] >= int(pf[P.STEPS]) - 1:
        n = x.copy()
    else:
        n = np.where(act < 0.0, -act * x, -act * pf[P.AC_X0])
    agg = float(n.sum())
    for a in range(x.size):
        if n[a] != 0.0:
            sgn = 1.0 if n[a] > 0.0 else -1.0
            proceeds = n[a] * (px0 - pf[P.AC_ETA] * agg / tau)
            fee = pf[P.AC_EPS] * abs(n[a])
            s.cash[e, a] += proceeds - fee
            s.cum_fee[e, a] += fee
            if n[a] > 0.0:
                s.cum_sell[e, a] += proceeds
                s.sold_step[e, a] = proceeds
                s.sold_cum[e, a] += proceeds
                s.intended_cum[e, a] += proceeds
            else:
                s.cum_buy[e, a] -= proceeds
                s.bought_step[e, a] = -proceeds
            s.hold[e, a, 0] = x[a] - n[a]
            s.fill[e, a, 0] = -n[a]
        else:
            s.fill[e, a, 0] = 0.0
    # the stock's clearing price: the aggregate order's fill, spread included (fees are booked per seller)
    if agg != 0.0:
        s.exec_price[e, 0] = px0 - (1.0 if agg > 0.0 else -1.0) * pf[P.AC_EPS] - pf[P.AC_ETA] * agg / tau
    else:
        s.exec_price[e, 0] = px0
    s.price[e, 0] = px0 + pf[P.AC_SIGMA] * math.sqrt(tau) * z.idio[0] - pf[P.AC_GAMMA] * agg
    s.log_fund[e, 0] = s.price[e, 0]
    s.gross[e] = s.hold[e, :, 0] * s.price[e, 0]
    s.equity[e] = s.cash[e] + s.gross[e]
    s.step[e] += 1
    s.day[e] = int(int(s.step[e]) * tau)
    if s.step[e] >= int(pf[P.STEPS]):
        s.done[e] = True
