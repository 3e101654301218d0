"""A fresh episode in one env, in one jitted call: copy the scenario's template env (everything
that does not depend on the seed), then draw the DMA books and peer types from the env's random
stream and value them.

Book parameters ``bp`` (BP.SIZE + T + K,) float64: the scalars indexed by :class:`BP`, then the
long book's tier weights (T), then the hedge's contract weights (K).
"""
from __future__ import annotations

import math
from dma_gym.core.enums import BP
from dma_gym.core.jit import kernel
from dma_gym.core.rng_nb import normal_nb, uniform_nb


@kernel
def copy_env_nb(dst, dst_seg, e, src, src_seg):
    """Copy env 0 of a flat state buffer ``src`` into env ``e`` of ``dst``; ``*_seg`` (F, 2) are
    the fields' (offset, elements per env) in each buffer (``layout.env_segments``)."""
    for f in range(dst_seg.shape[0]):
        o = dst_seg[f, 0] + e * dst_seg[f, 1]
        so = src_seg[f, 0]
        for j in range(dst_seg[f, 1]):
            dst[o + j] = src[so + j]


@kernel
def draw_books_nb(bp, u, s, e, st):
    """DMA books of env ``e`` from stream ``st``: equity shares (+-30%), leverage, peer rule and
    trigger per manager, then each manager's positions (``draw_book_nb``)."""
    A = s.cash.shape[1]
    w_sum = 0.0
    for a in range(A):  # per-manager draws first: equity shares need every manager's weight
        w_eq = 1.0 + 0.3 * (2.0 * uniform_nb(st) - 1.0)
        s.cash0[e, a] = w_eq  # scratch until the equity is known
        w_sum += w_eq
        s.lev0[e, a] = bp[BP.LEVERAGE] * (1.0 + bp[BP.LEV_DISPERSION] * (2.0 * uniform_nb(st) - 1.0))
        x = uniform_nb(st)
        s.rule[e, a] = (1 if x >= bp[BP.RULE_CDF0] else 0) + (1 if x >= bp[BP.RULE_CDF1] else 0)
        lo = bp[BP.TRIGGER_LO]
        s.lev_max[e, a] = s.lev0[e, a] * (lo + (bp[BP.TRIGGER_HI] - lo) * uniform_nb(st))
    for a in range(A):
        draw_book_nb(bp, u, s, e, a, st, bp[BP.EQUITY] * s.cash0[e, a] / w_sum)


@kernel
def draw_book_nb(bp, u, s, e, a, st, equity):
    """Manager ``a``'s positions at today's prices for ``equity`` at leverage ``lev0[e, a]``: in
    each tier a random subset of names (at least one) with float-cap x log-normal weights, so
    books overlap but differ; hedges proportional to the long book; cash the rest."""
    T = s.tier_level.shape[1]
    K = s.fut.shape[2]
    gross = s.lev0[e, a] * equity
    for t in range(T):
        i0 = u.tier_start[t]
        i1 = u.tier_start[t + 1]
        if i1 == i0:
            continue
        tot = 0.0
        for i in range(i0, i1):
            w = 0.0
            if uniform_nb(st) < bp[BP.CONCENTRATION]:
                w = u.tier_w[i] * math.exp(0.5 * normal_nb(st))
            s.hold[e, a, i] = w
            tot += w
        if tot == 0.0:  # no name picked: hold one at random
            i = min(i0 + int(uniform_nb(st) * (i1 - i0)), i1 - 1)
            w = u.tier_w[i] * math.exp(0.5 * normal_nb(st))
            s.hold[e, a, i] = w
            tot = w
        value = gross * bp[BP.SIZE + t] / tot
        for i in range(i0, i1):
            s.hold[e, a, i] = value * s.hold[e, a, i] / s.price[e, i]
    for k in range(K):
        s.fut[e, a, k] = -bp[BP.HEDGE_RATIO] * gross * bp[BP.SIZE + T + k] / s.fut_price[e, k]
    s.cash[e, a] = equity - gross
    s.cash0[e, a] = s.cash[e, a]


@kernel
def idle_book_nb(s, e, a):
    """Manager ``a`` (a learner) sits out the warm-up: its positions become cash (its equity is
    kept in ``equity0`` for ``fresh_book_nb``), so it neither trades nor moves the market."""
    N = s.price.shape[1]
    K = s.fut.shape[2]
    for i in range(N):
        s.hold[e, a, i] = 0.0
    for k in range(K):
        s.fut[e, a, k] = 0.0
    s.cash[e, a] = s.equity0[e, a]


@kernel
def fresh_book_nb(bp, u, s, e, a, st):
    """After a warm-up, manager ``a`` (a learner) takes a fresh book at today's prices with the
    equity it was drawn with (``equity0``, set before the warm-up): positions from
    ``draw_book_nb``, margin flags and per-episode counters cleared."""
    N = s.price.shape[1]
    K = s.fut.shape[2]
    for i in range(N):
        s.locked[e, a, i] = 0.0
        s.order[e, a, i] = 0.0
        s.fill[e, a, i] = 0.0
    for k in range(K):
        s.fut_order[e, a, k] = 0.0
        s.fut_day_cover[e, a, k] = 0.0
    draw_book_nb(bp, u, s, e, a, st, s.equity0[e, a])
    s.liquidated[e, a] = False
    s.call_active[e, a] = False
    s.warning[e, a] = False
    s.active[e, a] = False
    s.day_net_sold[e, a] = 0.0
    s.intended_cum[e, a] = 0.0
    s.sold_cum[e, a] = 0.0
    s.cum_buy[e, a] = 0.0
    s.cum_sell[e, a] = 0.0
    s.cum_fut[e, a] = 0.0
    s.cum_fin[e, a] = 0.0
    s.cum_fee[e, a] = 0.0


@kernel
def draw_path_nb(bp, s, e, st):
    """Env ``e``'s exogenous path from stream ``st`` (always seven draws, so the stream advances
    alike whatever the spreads): drifts and shock sizes normal around the template's values
    (the config's); the shock day uniform over [SHOCK_DAY_LO, SHOCK_DAY_HI] unless LO < 0 or the
    template has no shock day (-1: no shock at all); the sessions the market runs before the
    episode (``engine_nb``'s warm-up) uniform over [WARMUP_LO, WARMUP_HI] unless LO < 0 (none);
    the session of the year the drifts start uniform over [TREND_LO, TREND_HI] unless LO < 0."""
    s.mkt_drift[e] += bp[BP.MKT_DRIFT_SD] * normal_nb(st)
    s.size_drift[e] += bp[BP.SIZE_DRIFT_SD] * normal_nb(st)
    s.shock_mkt[e] += bp[BP.SHOCK_MKT_SD] * normal_nb(st)
    s.shock_size[e] += bp[BP.SHOCK_SIZE_SD] * normal_nb(st)
    x = uniform_nb(st)
    lo = bp[BP.SHOCK_DAY_LO]
    if lo >= 0.0 and s.shock_day[e] >= 0:
        n = int(bp[BP.SHOCK_DAY_HI] - lo) + 1
        s.shock_day[e] = int(lo) + min(int(x * n), n - 1)
    x = uniform_nb(st)
    lo = bp[BP.WARMUP_LO]
    if lo >= 0.0:
        n = int(bp[BP.WARMUP_HI] - lo) + 1
        s.warmup[e] = int(lo) + min(int(x * n), n - 1)
    x = uniform_nb(st)
    lo = bp[BP.TREND_LO]
    if lo >= 0.0:
        n = int(bp[BP.TREND_HI] - lo) + 1
        s.trend_start[e] = int(lo) + min(int(x * n), n - 1)


@kernel
def start_env_nb(s, buf, tmpl, e, controlled):
    """The template env (``tmpl``: the batch's env segments, the template's flat buffers (E = 1)
    and their segments) copied into env ``e`` of the flat buffers ``buf`` (whose named views are
    ``s``); ``controlled`` (A,) bool: managers driven by actions."""
    copy_env_nb(buf.sf, tmpl.seg_f, e, tmpl.tf, tmpl.tseg_f)
    copy_env_nb(buf.si, tmpl.seg_i, e, tmpl.ti, tmpl.tseg_i)
    copy_env_nb(buf.sb, tmpl.seg_b, e, tmpl.tb, tmpl.tseg_b)
    for a in range(controlled.shape[0]):
        s.controlled[e, a] = controlled[a]
