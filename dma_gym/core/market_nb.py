"""Stock market mechanics: exogenous factor moves, netted clearing with impact and limits, liquidity."""
import math

from dma_gym.core.jit import kernel
from dma_gym.core.enums import P

TINY = 1e-12
BIG = 1e300


@kernel
def effective_adv_nb(pf, adv_i, stress_t):
    """ADV in CNY bn/day after the liquidity spiral removed depth."""
    if pf[P.SPIRAL_ON] > 0.5:
        return adv_i * (1.0 - pf[P.DEPTH_DROP] * stress_t)
    return adv_i


@kernel
def effective_sigma_nb(pf, sigma_i, stress_t):
    """Daily volatility after the liquidity spiral raised it."""
    if pf[P.SPIRAL_ON] > 0.5:
        return sigma_i * (1.0 + pf[P.VOL_RISE] * stress_t)
    return sigma_i


@kernel
def clip_price_nb(pf, x, lo, hi):
    if pf[P.LIMITS_ON] > 0.5:
        if x < lo:
            return lo
        if x > hi:
            return hi
    return x


@kernel
def exogenous_nb(pf, u, s, e, z):
    """Step 1: factor + idiosyncratic returns move the fundamental log price; transient decays."""
    dt = pf[P.DT]
    sq = math.sqrt(dt)
    mkt = s.mkt_drift[e] * dt  # the episode's path (reset_nb.draw_path_nb)
    size = s.size_drift[e] * dt
    if s.day[e] + s.warmup[e] < s.trend_start[e]:  # the trend has not set in yet (year days)
        mkt = 0.0
        size = 0.0
    if s.day[e] == s.shock_day[e]:
        # a one-day factor shock is spread evenly over that day's steps
        mkt += s.shock_mkt[e] * dt
        size += s.shock_size[e] * dt
    zm = pf[P.MKT_VOL] * sq * z.market[0]
    zs = pf[P.SIZE_VOL] * sq * z.size[0]
    decay = pf[P.TRANS_DECAY]
    idio = pf[P.IDIO_SCALE]
    for t in range(s.tier_level.shape[1]):
        vm = 1.0
        if pf[P.SPIRAL_ON] > 0.5:
            vm = 1.0 + pf[P.VOL_RISE] * s.stress[e, t]
        for i in range(u.tier_start[t], u.tier_start[t + 1]):
            noise = u.beta[i] * zm + u.size_load[i] * zs + idio * u.sigma[i] * sq * z.idio[i]
            lf = s.log_fund[e, i] + (u.beta[i] * mkt + u.size_load[i] * size + vm * noise)
            tr = s.transient[e, i] * decay
            s.log_fund[e, i] = lf
            s.transient[e, i] = tr
            s.price[e, i] = clip_price_nb(pf, math.exp(lf + tr), s.lo[e, i], s.hi[e, i])


@kernel
def _power_nb(x, expo):
    """x**expo with an exact sqrt fast path for the square-root law (expo = 0.5)."""
    if expo == 0.5:
        return math.sqrt(x)
    return x ** expo


@kernel
def limit_capacity_nb(pf, p0, bound, v_sh, sig, sign):
    """Largest net quantity (shares) that clears before the price reaches ``bound``.

    Both the execution price p0*(1 -/+ Y*sig*(q/(V*dt))^delta) and the post-trade mark
    p0*exp(-/+ (perm+trans)*sig*q/V) must stay inside the band.
    """
    if pf[P.LIMITS_ON] < 0.5:
        return BIG
    dt = pf[P.DT]
    if sign < 0:
        room = 1.0 - bound / p0  # fractional room down to limit-down
    else:
        room = bound / p0 - 1.0
    if room <= TINY:
        return 0.0
    q_exec = BIG
    y = pf[P.IMPACT_Y] * sig
    if y > 0.0:
        r = room / y
        q_exec = v_sh * dt * (r * r if pf[P.IMPACT_EXP] == 0.5 else r ** (1.0 / pf[P.IMPACT_EXP]))
    q_mid = BIG
    lin = (pf[P.PERM] + pf[P.TRANS]) * sig
    if lin > 0.0:
        q_mid = v_sh * abs(math.log(bound / p0)) / lin
    return min(q_exec, q_mid)


@kernel
def impact_nb(pf, qabs, v_sh, sig):
    """Fractional temporary impact Y*sig*(|q|/(V*dt))^delta of a net quantity ``qabs`` (shares)
    against ``v_sh`` shares of daily volume."""
    return pf[P.IMPACT_Y] * sig * _power_nb(qabs / (v_sh * pf[P.DT]), pf[P.IMPACT_EXP])


@kernel
def clear_price_nb(pf, p0, lo, hi, v_sh, sig, buys, sells, h):
    """Step 5 for one stock: net the gross orders, apply impact and limits.

    The net imbalance q = buys - sells trades against outside liquidity. Below the limit capacity
    it fills in full at p0*(1 +/- h), h = ``impact_nb(pf, |q|, v_sh, sig)`` (square-root temporary
    impact, paid by the imbalance side; the caller computes it, for all stocks in one pass); past
    it the price locks at the limit and only the thin queue at the limit (``limit_depth`` x V x
    dt) trades there, the rest stays unfilled.

    Returns:
        (qf signed net quantity cleared, execution price, locked at a limit, fill ratio of buys,
        fill ratio of sells)
    """
    dt = pf[P.DT]
    q = buys - sells
    if q == 0.0:
        return 0.0, p0, False, 1.0, 1.0
    # the sign of the imbalance is a coin flip from stock to stock, so both sides are evaluated
    # and selected (no branch to mispredict); only the rare cases branch
    up = q > 0.0
    sign = 1.0 if up else -1.0
    bound = hi if up else lo
    qabs = abs(q)
    px = p0 * (1.0 + sign * h)
    # the band binds only if the execution price or the post-trade mark would cross it; only
    # then is the (costlier) capacity solved, and the comparison is the same as qabs <= capacity
    inside = True
    if pf[P.LIMITS_ON] > 0.5:
        in_up = (px <= bound) & (p0 < bound * (1.0 - TINY))
        in_dn = (px >= bound) & (p0 > bound * (1.0 + TINY))
        inside = in_up if up else in_dn
        lin = (pf[P.PERM] + pf[P.TRANS]) * sig
        if lin > 0.0:
            # post-trade mark p0*exp(x): exp(x) >= 1 + x, and exp(x) <= 1/(1 - x) for x < 1,
            # settle most cases without the exponential
            x = sign * lin * qabs / v_sh
            cheap_up = (x < 1.0) & (p0 <= bound * (1.0 - x))
            cheap_dn = p0 * (1.0 + x) >= bound
            cheap = cheap_up if up else cheap_dn
            if inside and not cheap:
                m = p0 * math.exp(x)
                inside = m <= bound if up else m >= bound
    locked = False
    qf = qabs
    if inside:
        if px <= 0.0:
            px = p0 * TINY
    else:
        qlim = limit_capacity_nb(pf, p0, bound, v_sh, sig, sign)
        if qabs <= qlim:
            if px <= 0.0:
                px = p0 * TINY
        else:
            # locked limit: the rest trades only against the thin queue at the limit price
            qf = min(qabs, qlim + pf[P.LIMIT_DEPTH] * v_sh * dt)
            px = bound
            locked = True
    fill_sells = (buys + qf) / sells  # the imbalance side's fill ratio; the other side fills
    fill_buys = (sells + qf) / buys
    return (qf if up else -qf), px, locked, (fill_buys if up else 1.0), (1.0 if up else fill_sells)


@kernel
def liquidity_nb(pf, u, s, e):
    """Step 9: stress per tier moves toward a target set by drawdown, net selling, limit-downs and
    liquidity-provider losses (Brunnermeier-Pedersen loss spiral; Khandani-Lo MM withdrawal)."""
    T = s.stress.shape[1]
    if pf[P.SPIRAL_ON] < 0.5:
        for t in range(T):
            s.stress[e, t] = 0.0
        return
    N = s.price.shape[1]
    lp_val = s.lp_cash[e]
    for i in range(N):
        lp_val += s.lp_inv[e, i] * s.price[e, i]
    mm_loss = max(0.0, -lp_val) / pf[P.LP_CAPITAL]
    a = pf[P.STRESS_ALPHA]
    for t in range(T):
        dd = 1.0 - s.tier_level[e, t] / s.tier_peak[e, t]
        target = (pf[P.W_DD] * dd + pf[P.W_FLOW] * s.tier_sell_flow[e, t]
                  + pf[P.W_LD] * s.tier_ld_share[e, t] + pf[P.W_MM] * mm_loss)
        target = min(1.0, max(0.0, target))
        s.stress[e, t] += a * (target - s.stress[e, t])


@kernel
def set_bands_nb(pf, u, s, e):
    """Closing prices become the reference for tomorrow's limit band."""
    N = s.price.shape[1]
    for i in range(N):
        s.prev_close[e, i] = s.price[e, i]
        if pf[P.LIMITS_ON] > 0.5:
            s.lo[e, i] = s.price[e, i] * (1.0 - u.limit[i])
            s.hi[e, i] = s.price[e, i] * (1.0 + u.limit[i])
        else:
            s.lo[e, i] = 0.0
            s.hi[e, i] = BIG


@kernel
def levels_and_flags_nb(pf, u, s, e):
    """Tier and index levels (float-cap weighted price relatives), their running peaks, the
    limit-up/down flags and the limit-down shares, in one pass over the stocks, tier by tier."""
    T = s.tier_level.shape[1]
    K = s.index_level.shape[1]
    N = s.price.shape[1]
    limits = pf[P.LIMITS_ON] > 0.5
    # the three index levels (IF, IC, IM: K = 3) are summed in locals, in stock order
    ix0 = 0.0
    ix1 = 0.0
    ix2 = 0.0
    n_ld = 0
    for t in range(T):
        level = 0.0
        n_t = 0
        lo_i = u.tier_start[t]
        hi_i = u.tier_start[t + 1]
        for i in range(lo_i, hi_i):
            p = s.price[e, i]
            rel = p / u.price0[i]
            level += u.tier_w[i] * rel
            ix0 += u.index_w[0, i] * rel
            ix1 += u.index_w[1, i] * rel
            ix2 += u.index_w[2, i] * rel
            ld = limits and p <= s.lo[e, i] * (1.0 + 1e-9)
            s.at_ld[e, i] = ld
            s.at_lu[e, i] = limits and p >= s.hi[e, i] * (1.0 - 1e-9)
            n_t += 1 if ld else 0
        s.tier_level[e, t] = level
        if level > s.tier_peak[e, t]:
            s.tier_peak[e, t] = level
        n_ld += n_t
        s.tier_ld_share[e, t] = n_t / (hi_i - lo_i) if hi_i > lo_i else 0.0
    s.index_level[e, 0] = ix0
    s.index_level[e, 1] = ix1
    s.index_level[e, 2] = ix2
    for k in range(K):
        if s.index_level[e, k] > s.index_peak[e, k]:
            s.index_peak[e, k] = s.index_level[e, k]
    s.ld_share[e] = n_ld / N
