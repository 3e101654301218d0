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
    trigger per manager; in each tier a random subset of names (at least one) with float-cap x
    log-normal weights, so books overlap but differ; hedges proportional to the long book."""
    A = s.cash.shape[1]
    T = s.tier_level.shape[1]
    K = s.fut.shape[2]
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
        equity = bp[BP.EQUITY] * s.cash0[e, a] / w_sum
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
                s.hold[e, a, i] = value * s.hold[e, a, i] / u.price0[i]
        for k in range(K):
            s.fut[e, a, k] = -bp[BP.HEDGE_RATIO] * gross * bp[BP.SIZE + T + k] / s.fut_price[e, k]
        s.cash[e, a] = equity - gross
        s.cash0[e, a] = s.cash[e, a]


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
