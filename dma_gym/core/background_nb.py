"""Background populations: noise traders, liquidity providers, national team, neutral and
index-enhanced funds (their orders this step and what happens when they fill)."""
import math


from dma_gym.core.futures_nb import basis_annualized_nb
from dma_gym.core.jit import kernel
from dma_gym.core.enums import P
from dma_gym.core.market_nb import effective_adv_nb


@kernel
def fund_decisions_nb(pf, u, s, e):
    """Neutral funds exit when the hedge discount exceeds their alpha; enhanced funds face
    redemptions past a drawdown. Exits queue stock sales; neutral exits also queue the buy-back
    of their futures shorts, which ``neutral_cover_nb`` releases as the stock sales fill."""
    C = s.nf_frac.shape[1]
    K = s.index_level.shape[1]
    N = s.price.shape[1]
    dt = pf[P.DT]
    # neutral funds: the annualised discount of their own hedge mix
    hedge_tot = 0.0
    disc = 0.0
    for k in range(K):
        w = -u.nf_hedge[k]
        hedge_tot += w
        disc += w * (-basis_annualized_nb(s.basis[e, k], s.days_left[e, k]))
    if hedge_tot > 0.0:
        disc /= hedge_tot
    exit_pop = 0.0
    for c in range(C):
        if s.nf_frac[e, c] > 0.0 and disc > u.nf_thr[c]:
            d = min(s.nf_frac[e, c], pf[P.NF_SPEED] * dt)
            s.nf_frac[e, c] -= d
            exit_pop += d / C
    # enhanced funds: drawdown of their long book
    val = 0.0
    val0 = 0.0
    for i in range(N):
        val += u.ie_shares[i] * s.price[e, i]
        val0 += u.ie_shares[i] * u.price0[i]
    dd = 1.0 - val / val0 if val0 > 0.0 else 0.0
    red_pop = 0.0
    for c in range(C):
        thr = u.ie_thr[c]
        if s.ie_frac[e, c] > 0.0 and dd > thr:
            d = min(s.ie_frac[e, c], pf[P.IE_SPEED] * dt * (dd - thr) / max(thr, 1e-6))
            s.ie_frac[e, c] -= d
            red_pop += d / C
    if exit_pop > 0.0 or red_pop > 0.0:
        for i in range(N):
            s.bg_pending[e, i] += exit_pop * u.nf_shares[i] + red_pop * u.ie_shares[i]
    if exit_pop > 0.0:  # the hedge is bought back as the stocks are sold (neutral_cover_nb)
        for k in range(K):
            s.nf_cover[e, k] -= exit_pop * u.nf_hedge[k]


@kernel
def background_orders_nb(pf, u, s, e, z):
    """Step 2: this step's background stock orders (shares) per stock."""
    N = s.price.shape[1]
    K = s.index_level.shape[1]
    dt = pf[P.DT]
    sq = math.sqrt(dt)
    # national team: buys index constituents (never micro-caps) once an index draws down
    nt_spend = 0.0
    if pf[P.NT_ON] > 0.5 and s.nt_budget[e] > 0.0:
        trig = False
        for k in range(K):
            if 1.0 - s.index_level[e, k] / s.index_peak[e, k] > pf[P.NT_TRIGGER]:
                trig = True
        if trig:
            nt_spend = min(pf[P.NT_DAILY] * dt, pf[P.NT_DAILY] - s.nt_spent_today[e], s.nt_budget[e])
            nt_spend = max(nt_spend, 0.0)
    for i in range(N):
        p = s.price[e, i]
        t = u.tier[i]
        st = s.stress[e, t]
        v_sh = effective_adv_nb(pf, u.adv[i], st) / p
        noise = pf[P.NOISE] * v_sh * sq * z.noise[i]
        x = -s.transient[e, i] / u.sigma[i]
        if x > 3.0:
            x = 3.0
        elif x < -3.0:
            x = -3.0
        lp = pf[P.LP_STRENGTH] * (1.0 - st) * v_sh * dt * x
        nt = nt_spend * u.nt_w[i] / p
        # fire sellers size their orders on normal ADV, so in a liquidity drought their
        # selling becomes a larger share of what actually trades (Coval-Stafford fire sales)
        fund = min(s.bg_pending[e, i], pf[P.BG_PART] * (u.adv[i] / p) * dt)
        s.lp_order[e, i] = lp
        s.nt_order[e, i] = nt
        s.fund_order[e, i] = fund
        s.bg_buy[e, i] = max(noise, 0.0) + max(lp, 0.0) + nt
        s.bg_sell[e, i] = max(-noise, 0.0) + max(-lp, 0.0) + fund


@kernel
def background_fill_nb(s, e, i, fb, fs):
    """Apply stock ``i``'s buy/sell fill ratios ``fb``/``fs`` to the background's orders."""
    px = s.exec_price[e, i]
    lp = s.lp_order[e, i]
    lp_fill = lp * (fb if lp > 0.0 else fs)
    s.lp_inv[e, i] += lp_fill
    s.lp_cash[e] -= lp_fill * px
    nt_fill = s.nt_order[e, i] * fb
    s.nt_budget[e] = max(0.0, s.nt_budget[e] - nt_fill * px)
    s.nt_spent_today[e] += nt_fill * px
    s.bg_sold_step[e] += s.fund_order[e, i] * fs * px
    pend = s.bg_pending[e, i] - s.fund_order[e, i] * fs
    s.bg_pending[e, i] = 0.0 if pend < 0.0 else pend


@kernel
def neutral_cover_nb(u, s, e):
    """Exiting neutral funds unwind both legs together: they buy back the share of their queued
    futures cover that matches the share of the funds' stock queue filled this step (the queue
    is sold pro rata across funds), all of it once the queue is empty."""
    K = s.index_level.shape[1]
    N = s.price.shape[1]
    owed = 0.0
    for k in range(K):
        owed += s.nf_cover[e, k]
    if owed <= 0.0:
        return
    stuck = 0.0
    for i in range(N):
        stuck += s.bg_pending[e, i] * s.price[e, i]
    sold = s.bg_sold_step[e]
    frac = 1.0 if stuck <= 0.0 else sold / (sold + stuck)
    for k in range(K):
        c = frac * s.nf_cover[e, k]
        s.nf_cover[e, k] -= c
        s.nf_qty[e, k] += c
        s.fut_flow[e, k] += c * s.fut_price[e, k]


@kernel
def overlay_flow_nb(pf, u, s, e):
    """Funds that cannot get their stock sales filled (limit-down queues, participation caps)
    short index futures against the stuck value instead and cover as it clears (Chinese investor commentary "How did quant funds' DMA blow up small caps?" (6–8 Feb 2024): "sold
    CSI 2000, then CSI 1000, then shorted IM"). Each stuck name is hedged with the future of the
    nearest index: IF for CSI300 names, IC for CSI500, IM for CSI1000 and everything smaller.
    These are hedges of long books, not the speculative shorts that futures restrictions target."""
    K = s.index_level.shape[1]
    if pf[P.OVERLAY] <= 0.0:
        return
    T = s.tier_level.shape[1]
    t = 0
    for k in range(K):
        # stuck value of the tiers hedged with contract k (tier k; the last contract also takes
        # every smaller tier), summed in stock order
        stuck = 0.0
        last = T if k == K - 1 else k + 1
        while t < last:
            for i in range(u.tier_start[t], u.tier_start[t + 1]):
                stuck += s.bg_pending[e, i] * s.price[e, i]
            t += 1
        target = -(pf[P.OVERLAY] * stuck / s.fut_price[e, k])
        s.fut_flow[e, k] += (target - s.ov_qty[e, k]) * s.fut_price[e, k]
        s.ov_qty[e, k] = target
