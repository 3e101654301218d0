"""DMA manager accounts: orders (actions, peer rules, broker liquidation), regulation masks,
fills, futures, financing, equity and the margin ladder."""
import math

from dma_gym.core.jit import kernel
from dma_gym.core.enums import P
from dma_gym.core.market_nb import effective_adv_nb, effective_sigma_nb, impact_nb

RULE_THRESHOLD = 0  # Cont-Schaanning: sell to 0.95*lambda_max once leverage exceeds lambda_max
RULE_TARGET = 1  # Greenwood-Landier-Thesmar: trade toward the initial leverage every step
RULE_MARGIN = 2  # the herd: sell only after a margin warning, back to 1.1x the warning line

LEV_REPORT_CAP = 1e6
CORR_TOL = 1e-9  # the correlation rule cuts orders that lower it by more than this (not roundoff)
MR_REPORT_CAP = 99.0


@kernel
def sellable_nb(hold, locked):
    """T+1: shares bought today cannot be sold today."""
    x = hold - locked
    return x if x > 0.0 else 0.0


@kernel
def _allocate_sell_nb(u, s, e, a, value):
    """Spread a sell value over sellable holdings pro rata, skipping names locked limit-down
    (the pecking order: what cannot be sold pushes selling into what can)."""
    N = s.price.shape[1]
    tot_free = 0.0
    tot_all = 0.0
    for i in range(N):
        v = sellable_nb(s.hold[e, a, i], s.locked[e, a, i]) * s.price[e, i]
        tot_all += v
        tot_free += 0.0 if s.at_ld[e, i] else v
    use_free = tot_free > 0.0
    tot = tot_free if use_free else tot_all
    if tot <= 0.0 or value <= 0.0:
        return 0.0
    frac = min(1.0, value / tot)
    for i in range(N):
        # limit-down names are skipped; which names are is random: a select, not a branch
        q = frac * sellable_nb(s.hold[e, a, i], s.locked[e, a, i])
        s.order[e, a, i] -= 0.0 if use_free and s.at_ld[e, i] else q
    return frac * tot


@kernel
def _allocate_buy_nb(s, e, a, value):
    """Spread a buy value over current holdings in proportion (keeps the book's shape)."""
    N = s.price.shape[1]
    g = s.gross[e, a]
    if g <= 0.0 or value <= 0.0:
        return
    for i in range(N):
        s.order[e, a, i] += value * s.hold[e, a, i] / g


@kernel
def manager_orders_nb(pf, u, s, e, actions):
    """Steps 2-3: stock and futures orders of every manager (before regulation masks).

    Controlled managers: ``actions[e, a]`` = (tiers..., futures...) in [-1, 1]. Tier < 0 sells that
    share of ``max_trade_frac`` of the tier's holdings; > 0 buys that share of ``max_buy_frac`` x
    equity across the tier (float-cap weights). Futures > 0 covers that share of
    ``max_futures_frac`` of the short; < 0 adds a short of that share of ``max_futures_frac`` x
    equity. Peers follow their rule; liquidated managers are sold out by the broker.
    """
    A = s.cash.shape[1]
    N = s.price.shape[1]
    K = s.fut.shape[2]
    T = s.tier_level.shape[1]
    dt = pf[P.DT]
    for a in range(A):
        if s.active[e, a]:  # last step's orders and fills; other rows have stayed zero since
            for i in range(N):
                s.order[e, a, i] = 0.0
                s.fill[e, a, i] = 0.0
        for k in range(K):
            s.fut_order[e, a, k] = 0.0
    for a in range(A):
        eq = s.equity[e, a]
        if s.liquidated[e, a]:
            v = 0.0
            for i in range(N):
                q = sellable_nb(s.hold[e, a, i], s.locked[e, a, i]) * pf[P.BROKER_SPEED]
                s.order[e, a, i] = -q
                v += q * s.price[e, i]
            s.intended_cum[e, a] += v
            continue
        if s.controlled[e, a]:
            intended = 0.0
            for i in range(N):
                x = actions[e, a, u.tier[i]]
                if x > 1.0:
                    x = 1.0
                elif x < -1.0:
                    x = -1.0
                if x < 0.0:
                    q = -x * pf[P.MAX_TRADE] * s.hold[e, a, i]
                    s.order[e, a, i] = -q
                    intended += q * s.price[e, i]
                elif x > 0.0 and eq > 0.0:
                    s.order[e, a, i] = x * pf[P.MAX_BUY] * eq * u.tier_w[i] / s.price[e, i]
            s.intended_cum[e, a] += intended
            for k in range(K):
                x = actions[e, a, T + k]
                if x > 1.0:
                    x = 1.0
                elif x < -1.0:
                    x = -1.0
                if x > 0.0 and s.fut[e, a, k] < 0.0:
                    s.fut_order[e, a, k] = -x * pf[P.MAX_FUT] * s.fut[e, a, k]
                elif x < 0.0 and eq > 0.0:
                    s.fut_order[e, a, k] = x * pf[P.MAX_FUT] * eq / s.fut_price[e, k]
            continue
        # peers
        g = s.gross[e, a]
        if g <= 0.0 or eq <= 0.0:
            continue
        lev = g / eq
        speed = min(1.0, pf[P.PEER_SPEED] * dt)
        gap = 0.0
        r = s.rule[e, a]
        if r == RULE_THRESHOLD:
            if lev > s.lev_max[e, a]:
                gap = g - 0.95 * s.lev_max[e, a] * eq
        elif r == RULE_TARGET:
            gap = g - s.lev0[e, a] * eq
        else:
            if s.margin_ratio[e, a] < pf[P.M_WARN]:
                gap = g * (1.0 - s.margin_ratio[e, a] / (1.1 * pf[P.M_WARN]))
        if s.call_active[e, a]:
            # every rule must cure a margin call: back above the warning line
            mgap = g * (1.0 - s.margin_ratio[e, a] / (1.1 * pf[P.M_WARN]))
            if mgap > gap:
                gap = mgap
        if gap > 0.0:
            s.intended_cum[e, a] += _allocate_sell_nb(u, s, e, a, speed * gap)
        elif gap < 0.0:
            _allocate_buy_nb(s, e, a, -speed * gap)
    for a in range(A):
        act = False
        for i in range(N):
            if s.order[e, a, i] != 0.0:
                act = True
                break
        s.active[e, a] = act


@kernel
def _corr_ratio_nb(cov, vp, vh):
    if vp <= 0.0 or vh <= 0.0:
        return 1.0
    return cov / math.sqrt(vp * vh)


@kernel
def _hedge_mix_nb(s, e, a, orders):
    """Contract weights of manager ``a``'s futures shorts (IF, IC, IM: K = 3), after ``orders``
    (0.0 or 1.0: none or all) of this step's futures orders; all zero without a short."""
    w0 = w1 = w2 = 0.0
    q0 = s.fut[e, a, 0] + orders * s.fut_order[e, a, 0]
    q1 = s.fut[e, a, 1] + orders * s.fut_order[e, a, 1]
    q2 = s.fut[e, a, 2] + orders * s.fut_order[e, a, 2]
    hsum = max(-q0, 0.0) + max(-q1, 0.0) + max(-q2, 0.0)
    if hsum > 0.0:
        w0 = max(-q0, 0.0) / hsum
        w1 = max(-q1, 0.0) / hsum
        w2 = max(-q2, 0.0) / hsum
    return w0, w1, w2, hsum


@kernel
def corr_with_hedge_nb(pf, u, s, e, a):
    """Ex-ante correlations (factor model) of manager ``a``'s whole long book with its futures
    hedge: (now, after this step's stock and futures orders), in one pass over the stocks
    (value-weighted sums, normalised once at the end); 1 without a hedge."""
    N = s.price.shape[1]
    v0, v1, v2, h0 = _hedge_mix_nb(s, e, a, 0.0)
    x0, x1, x2, h1 = _hedge_mix_nb(s, e, a, 1.0)
    vm = pf[P.MKT_VOL] ** 2
    vs = pf[P.SIZE_VOL] ** 2
    idio = pf[P.IDIO_SCALE]
    hm0 = hs0 = hid0 = hm1 = hs1 = hid1 = 0.0
    tot0 = pm0 = ps0 = pid0 = cid0 = 0.0
    tot1 = pm1 = ps1 = pid1 = cid1 = 0.0
    for i in range(N):
        y0 = v0 * u.index_w[0, i] + v1 * u.index_w[1, i] + v2 * u.index_w[2, i]
        y1 = x0 * u.index_w[0, i] + x1 * u.index_w[1, i] + x2 * u.index_w[2, i]
        iv = (idio * u.sigma[i]) ** 2
        b = u.beta[i]
        z = u.size_load[i]
        hm0 += y0 * b
        hs0 += y0 * z
        hid0 += y0 * y0 * iv
        hm1 += y1 * b
        hs1 += y1 * z
        hid1 += y1 * y1 * iv
        h = s.hold[e, a, i]
        w = max(h, 0.0) * s.price[e, i]
        w1 = max(h + s.order[e, a, i], 0.0) * s.price[e, i]
        tot0 += w
        pm0 += w * b
        ps0 += w * z
        pid0 += w * w * iv
        cid0 += w * y0 * iv
        tot1 += w1
        pm1 += w1 * b
        ps1 += w1 * z
        pid1 += w1 * w1 * iv
        cid1 += w1 * y1 * iv
    pre = 1.0
    post = 1.0
    if tot0 > 0.0 and h0 > 0.0:
        pm0 /= tot0
        ps0 /= tot0
        pre = _corr_ratio_nb(pm0 * hm0 * vm + ps0 * hs0 * vs + cid0 / tot0,
                             pm0 * pm0 * vm + ps0 * ps0 * vs + pid0 / (tot0 * tot0),
                             hm0 * hm0 * vm + hs0 * hs0 * vs + hid0)
    if tot1 > 0.0 and h1 > 0.0:
        pm1 /= tot1
        ps1 /= tot1
        post = _corr_ratio_nb(pm1 * hm1 * vm + ps1 * hs1 * vs + cid1 / tot1,
                              pm1 * pm1 * vm + ps1 * ps1 * vs + pid1 / (tot1 * tot1),
                              hm1 * hm1 * vm + hs1 * hs1 * vs + hid1)
    return pre, post


@kernel
def _initial_margin_nb(pf, u, s, e, a, buys):
    """Scale manager ``a``'s buy orders (worth ``buys``) so that the requirement after the step's
    orders, at the last mark's rates, stays within equity / ``margin_initial``: brokers open new
    exposure only above the initial line, so a book cannot buy its way into a margin call.
    Returns the value cut."""
    N = s.price.shape[1]
    spiral = pf[P.SPIRAL_ON] > 0.5
    add = 0.0
    free = 0.0
    for i in range(N):
        o = s.order[e, a, i]
        m = u.margin_rate[i] * (1.0 + pf[P.MARGIN_VOL] * s.stress[e, u.tier[i]]) if spiral else u.margin_rate[i]
        v = o * s.price[e, i] * m
        add += v if o > 0.0 else 0.0
        free -= v if o < 0.0 else 0.0
    room = max(s.equity[e, a], 0.0) / pf[P.M_INIT] - s.required[e, a] + free
    if room >= add:
        return 0.0
    scale = max(room, 0.0) / add
    for i in range(N):
        if s.order[e, a, i] > 0.0:
            s.order[e, a, i] *= scale
    return buys * (1.0 - scale)


@kernel
def masks_nb(pf, u, s, e):
    """Step 4: T+1, halts, sell restrictions, leverage cap / scale freeze, the correlation rule
    and futures restrictions cut orders; cut value is reported in ``cut_step``."""
    A = s.cash.shape[1]
    N = s.price.shape[1]
    restricted = s.reg_active[e]
    for a in range(A):
        if not s.active[e, a]:  # no stock orders: nothing to cut
            s.cut_step[e, a] = 0.0
            continue
        cut = 0.0
        broker = s.liquidated[e, a]
        binds = restricted and (not broker or pf[P.REG_BIND_BROKER] > 0.5)
        sells = 0.0
        buys = 0.0
        halted = s.halted[e]
        no_reduction = binds and pf[P.NO_REDUCTION] > 0.5
        for i in range(N):
            o = s.order[e, a, i]
            p = s.price[e, i]
            if halted:
                if o != 0.0:
                    cut += abs(o) * p
                    s.order[e, a, i] = 0.0
                continue
            # whether a name is held (and so sold) is random from name to name: selects, not
            # branches (adding 0.0 changes nothing)
            m = sellable_nb(s.hold[e, a, i], s.locked[e, a, i])
            over = (o < 0.0) & (-o > m)
            cut += (-o - m) * p if over else 0.0
            o = -m if over else o
            if no_reduction and o < 0.0:
                cut += -o * p
                o = 0.0
            sells += -o * p if o < 0.0 else 0.0
            buys += o * p if o > 0.0 else 0.0
            s.order[e, a, i] = o
        # daily net-sell cap
        if binds and sells > 0.0:
            allowed = pf[P.NET_SELL_CAP] * s.gross0[e, a] - s.day_net_sold[e, a] + buys
            if allowed < sells:
                scale = max(allowed, 0.0) / sells
                for i in range(N):
                    if s.order[e, a, i] < 0.0:
                        s.order[e, a, i] *= scale
                cut += sells * (1.0 - scale)
                sells *= scale
        # the correlation rule, on the whole book after the orders (docs/model.md §9.5): orders
        # that leave it below corr_min and lower than now (beyond roundoff: a pro-rata sale keeps
        # it) are cut, buys first, then sells
        if pf[P.CORR_ON] > 0.5 and not broker and (buys > 0.0 or sells > 0.0):
            pre, post = corr_with_hedge_nb(pf, u, s, e, a)
            if post < pf[P.CORR_MIN] and post < pre - CORR_TOL:
                if buys > 0.0:
                    for i in range(N):
                        if s.order[e, a, i] > 0.0:
                            s.order[e, a, i] = 0.0
                    cut += buys
                    buys = 0.0
                    if sells > 0.0:
                        pre, post = corr_with_hedge_nb(pf, u, s, e, a)
                if sells > 0.0 and post < pf[P.CORR_MIN] and post < pre - CORR_TOL:
                    for i in range(N):
                        s.order[e, a, i] = 0.0
                    cut += sells
                    sells = 0.0
        # leverage cap and scale freeze bound new gross exposure
        if buys > 0.0:
            eq = s.equity[e, a]
            room = pf[P.LEV_CAP] * max(eq, 0.0) - (s.gross[e, a] - sells)
            if pf[P.SCALE_FREEZE] > 0.5:
                room = min(room, s.gross0[e, a] - (s.gross[e, a] - sells))
            if room < buys:
                scale = max(room, 0.0) / buys
                for i in range(N):
                    if s.order[e, a, i] > 0.0:
                        s.order[e, a, i] *= scale
                cut += buys * (1.0 - scale)
                buys *= scale
        # initial margin: new buying may not take the requirement past equity / margin_initial
        if buys > 0.0:
            cut += _initial_margin_nb(pf, u, s, e, a, buys)
        s.cut_step[e, a] = cut


@kernel
def futures_masks_nb(pf, u, s, e):
    """Futures orders of a controlled manager: the neutral mandate first (shorts after the orders
    above ``max_hedge_ratio`` x the long book after this step's fills are bought back, pro rata
    over the contracts), then new shorts within the initial margin (exchange margin on the added
    contract value, against equity / ``margin_initial`` less the last requirement). When
    restricted, for every manager: no new shorts and capped covering per day. Cut value is added
    to ``cut_step``."""
    A = s.cash.shape[1]
    K = s.fut.shape[2]
    N = s.price.shape[1]
    restricted = s.reg_active[e]
    for a in range(A):
        liq = s.liquidated[e, a]
        cut = 0.0
        if s.controlled[e, a] and not liq:
            long = 0.0
            for i in range(N):
                long += s.hold[e, a, i] * s.price[e, i]
            short = 0.0
            for k in range(K):
                short += max(-(s.fut[e, a, k] + s.fut_order[e, a, k]), 0.0) * s.fut_price[e, k]
            excess = short - pf[P.MAX_HEDGE] * long
            if excess > 0.0:
                for k in range(K):
                    q = s.fut[e, a, k] + s.fut_order[e, a, k]
                    if q < 0.0:
                        s.fut_order[e, a, k] -= q * excess / short
            room = max(s.equity[e, a], 0.0) / pf[P.M_INIT] - s.required[e, a]
            for k in range(K):
                f = s.fut_order[e, a, k]
                if f < 0.0:
                    fp = s.fut_price[e, k]
                    need = -f * fp * u.fut_margin[k]
                    if need > room:
                        g = f * max(room, 0.0) / need
                        cut += (g - f) * fp
                        f = g
                        s.fut_order[e, a, k] = f
                    room -= -f * fp * u.fut_margin[k]
        if restricted and (not liq or pf[P.REG_BIND_BROKER] > 0.5):
            for k in range(K):
                f = s.fut_order[e, a, k]
                if f == 0.0:
                    continue
                pos = s.fut[e, a, k]
                fp = s.fut_price[e, k]
                if f < 0.0 and pf[P.FUT_NO_NEW_SHORT] > 0.5:
                    cut += -f * fp
                    f = 0.0
                elif f > 0.0 and pos < 0.0:
                    cap = pf[P.FUT_COVER_CAP] * (-pos + s.fut_day_cover[e, a, k]) - s.fut_day_cover[e, a, k]
                    cap = max(cap, 0.0)
                    if f > cap:
                        cut += (f - cap) * fp
                        f = cap
                s.fut_order[e, a, k] = f
        s.cut_step[e, a] += cut


@kernel
def sequential_fills_nb(order, fill, order_idx, i, capacity, side, bg):
    """Sequential clearing of the rationed side of stock ``i``: managers in the priority order
    ``order_idx`` (A,), then the background (``bg`` shares) pro rata. ``order``/``fill`` are one
    env's (A, N) arrays. Returns the background's fill ratio on that side."""
    A = order.shape[0]
    left = capacity
    for r in range(A):
        a = order_idx[r]
        o = order[a, i]
        if o * side > 0.0:
            f = min(abs(o), left)
            left -= f
            fill[a, i] = side * f
    if bg <= 0.0:
        return 1.0
    return min(1.0, max(left, 0.0) / bg)


@kernel
def apply_fills_nb(pf, s, e, pro_rata):
    """Cash, holdings, T+1 locks, fees and reports once fills are known; with ``pro_rata`` the
    fills are first set to each order times its stock's fill ratio (``fill_buy``/``fill_sell``),
    in the same pass. Per-manager totals are accumulated in locals (stores to the state arrays
    would otherwise be re-done per stock) in stock order and without branches (a zero fill adds
    exactly 0.0), so the result equals the stock-by-stock sums bit for bit."""
    A = s.cash.shape[1]
    N = s.price.shape[1]
    fee = pf[P.FEE]
    for a in range(A):
        if not s.active[e, a]:  # no orders, no fills: every total would add 0.0
            continue
        cash = s.cash[e, a]
        cum_fee = s.cum_fee[e, a]
        cum_buy = s.cum_buy[e, a]
        bought = s.bought_step[e, a]
        net_sold = s.day_net_sold[e, a]
        cum_sell = s.cum_sell[e, a]
        sold = s.sold_step[e, a]
        sold_cum = s.sold_cum[e, a]
        unfilled = s.unfilled_step[e, a]
        for i in range(N):
            o = s.order[e, a, i]
            px = s.exec_price[e, i]
            if pro_rata:
                f = o * (s.fill_buy[e, i] if o > 0.0 else s.fill_sell[e, i])
                s.fill[e, a, i] = f
            else:
                f = s.fill[e, a, i]
            val = abs(f) * px
            cash -= f * px + fee * val
            cum_fee += fee * val
            h = s.hold[e, a, i] + f
            s.hold[e, a, i] = h if h > 0.0 else 0.0
            s.locked[e, a, i] += max(f, 0.0)
            buy = val if f > 0.0 else 0.0
            sell = val if f < 0.0 else 0.0
            cum_buy += buy
            bought += buy
            net_sold += sell - buy
            cum_sell += sell
            sold += sell
            sold_cum += sell
            unfilled += (f - o) * px if o < 0.0 else 0.0
        s.cash[e, a] = cash
        s.cum_fee[e, a] = cum_fee
        s.cum_buy[e, a] = cum_buy
        s.bought_step[e, a] = bought
        s.day_net_sold[e, a] = net_sold
        s.cum_sell[e, a] = cum_sell
        s.sold_step[e, a] = sold
        s.sold_cum[e, a] = sold_cum
        s.unfilled_step[e, a] = unfilled


@kernel
def peer_futures_nb(pf, s, e):
    """Peers and the broker keep the hedge proportional to the long book after stock fills
    (both valued at the post-trade prices, so price moves alone never re-size the hedge)."""
    A = s.cash.shape[1]
    K = s.fut.shape[2]
    N = s.price.shape[1]
    for a in range(A):
        if s.controlled[e, a] and not s.liquidated[e, a]:
            continue
        if s.sold_step[e, a] == 0.0 and s.bought_step[e, a] == 0.0 and s.gross[e, a] > 0.0:
            # nothing filled (a fill has value > 0), so the book's value ratio is exactly 1
            for k in range(K):
                s.fut_order[e, a, k] = 0.0
            continue
        g = 0.0
        g0 = 0.0
        for i in range(N):
            g += s.hold[e, a, i] * s.price[e, i]
            g0 += (s.hold[e, a, i] - s.fill[e, a, i]) * s.price[e, i]
        ratio = g / g0 if g0 > 0.0 else 0.0
        for k in range(K):
            target = s.fut[e, a, k] * ratio
            s.fut_order[e, a, k] = target - s.fut[e, a, k]


@kernel
def futures_fills_nb(pf, s, e):
    """Futures orders fill at the new futures price; a trade's P&L against the last settlement is
    booked to cash so that equity is unchanged by the trade itself."""
    A = s.cash.shape[1]
    K = s.fut.shape[2]
    for a in range(A):
        for k in range(K):
            f = s.fut_order[e, a, k]
            if f == 0.0:
                continue
            adj = -f * (s.fut_price[e, k] - s.fut_settle[e, k])
            s.cash[e, a] += adj
            s.cum_fut[e, a] += adj
            if f > 0.0 and s.fut[e, a, k] < 0.0:
                s.fut_day_cover[e, a, k] += min(f, -s.fut[e, a, k])
            s.fut[e, a, k] += f


@kernel
def accounts_nb(pf, u, s, e):
    """Step 7: financing accrual, equity, gross, leverage, required margin and margin ratio.

    Required margin: the swap's margin on the long leg (per-name rate x stress multiplier
    ``1 + margin_vol_sensitivity x stress`` with the spiral on) plus the futures' exchange margin
    on gross contract value, the larger of the long and short sides (docs/model.md §8.3)."""
    A = s.cash.shape[1]
    K = s.fut.shape[2]
    T = s.tier_level.shape[1]
    dt = pf[P.DT]
    spiral = pf[P.SPIRAL_ON] > 0.5
    for a in range(A):
        if s.cash[e, a] < 0.0:
            fin = -s.cash[e, a] * pf[P.FIN_RATE] * dt
            s.cash[e, a] -= fin
            s.cum_fin[e, a] += fin
        g = 0.0
        req = 0.0
        for t in range(T):
            mv = 1.0 + pf[P.MARGIN_VOL] * s.stress[e, t]
            for i in range(u.tier_start[t], u.tier_start[t + 1]):
                v = s.hold[e, a, i] * s.price[e, i]
                g += v
                m = u.margin_rate[i] * mv if spiral else u.margin_rate[i]
                req += m * v
        fpnl = 0.0
        f_long = 0.0
        f_short = 0.0
        for k in range(K):
            fp = s.fut_price[e, k]
            q = s.fut[e, a, k]
            fpnl += q * (fp - s.fut_settle[e, k])
            if q > 0.0:
                f_long += u.fut_margin[k] * q * fp
            else:
                f_short -= u.fut_margin[k] * q * fp
        req += max(f_long, f_short)  # CFFEX: gross contract value, the larger side only
        eq = s.cash[e, a] + g + fpnl
        s.gross[e, a] = g
        s.equity[e, a] = eq
        s.required[e, a] = req
        s.leverage[e, a] = g / eq if eq > 0.0 and g / eq < LEV_REPORT_CAP else (LEV_REPORT_CAP if g > 0.0 else 0.0)
        if req > 0.0 and eq / req < MR_REPORT_CAP:
            s.margin_ratio[e, a] = eq / req
        else:
            s.margin_ratio[e, a] = MR_REPORT_CAP if eq > 0.0 or req <= 0.0 else eq / req


@kernel
def margin_nb(pf, s, e):
    """Step 8: warning, margin call with a deadline, forced liquidation (broker takes over)."""
    A = s.cash.shape[1]
    step = s.step[e]
    for a in range(A):
        if s.liquidated[e, a]:
            continue
        mr = s.margin_ratio[e, a]
        s.warning[e, a] = mr < pf[P.M_WARN]
        if s.equity[e, a] <= 0.0 or mr < pf[P.M_LIQ]:
            s.liquidated[e, a] = True
            s.call_active[e, a] = False
        elif s.call_active[e, a]:
            if mr >= pf[P.M_WARN]:
                s.call_active[e, a] = False
            elif step >= s.call_deadline[e, a]:
                s.liquidated[e, a] = True
                s.call_active[e, a] = False
        elif mr < pf[P.M_CALL]:
            s.call_active[e, a] = True
            s.call_deadline[e, a] = step + int(pf[P.CALL_STEPS])


@kernel
def settle_futures_nb(s, e):
    """Daily mark-to-market of futures into cash at the settlement price."""
    A = s.cash.shape[1]
    K = s.fut.shape[2]
    for a in range(A):
        for k in range(K):
            pnl = s.fut[e, a, k] * (s.fut_price[e, k] - s.fut_settle[e, k])
            s.cash[e, a] += pnl
            s.cum_fut[e, a] += pnl
    for k in range(K):
        s.fut_settle[e, k] = s.fut_price[e, k]


SALE_DONE = 1e-6  # the broker's sale is over once less than this share of the initial book is left


@kernel
def sale_done_nb(s, e, a):
    """The broker has sold manager ``a``'s book: less than ``SALE_DONE`` of its initial long value
    is left (the hedge is bought back in step with it, ``peer_futures_nb``)."""
    return s.gross[e, a] <= SALE_DONE * s.gross0[e, a]


@kernel
def unwind_cost_nb(pf, u, s, e, a):
    """Expected cost (CNY bn) of selling manager ``a``'s remaining stock after the horizon: each
    name sold evenly over ``mandate_unwind_days`` D at the closing stress, paying fees, the
    square-root temporary impact on a D-day metaorder and half the linear permanent impact it
    causes (the price drifts down under the sale):
    ``v * min(1, fee + Y sig_eff (q / (V_eff D))^delta + perm sig_eff q / (2 V_eff))``, q shares
    held, V_eff shares per day (docs/model.md §8.6). Futures close at their marked price."""
    N = s.price.shape[1]
    days = pf[P.UNWIND_DAYS]
    dt = pf[P.DT]
    cost = 0.0
    for i in range(N):
        h = s.hold[e, a, i]
        if h <= 0.0:
            continue
        p = s.price[e, i]
        st = s.stress[e, u.tier[i]]
        v_sh = effective_adv_nb(pf, u.adv[i], st) / p
        sig = effective_sigma_nb(pf, u.sigma[i], st)
        # impact_nb prices a quantity against v_sh * dt: a D-day metaorder is q / (D / dt)
        c = pf[P.FEE] + impact_nb(pf, h * dt / days, v_sh, sig) + 0.5 * pf[P.PERM] * sig * h / v_sh
        cost += h * p * min(c, 1.0)
    return cost
