"""One market step of one env (A managers), in the order of docs/model.md §2.1; ``engine_nb``
runs it for every env of a batch."""
import math

from dma_gym.core.accounts_nb import (
    accounts_nb, apply_fills_nb, futures_fills_nb, futures_masks_nb, manager_orders_nb, margin_nb,
    masks_nb, peer_futures_nb, sequential_fills_nb, settle_futures_nb,
)
from dma_gym.core.background_nb import (
    background_fill_nb, background_orders_nb, fund_decisions_nb, neutral_cover_nb, overlay_flow_nb,
)
from dma_gym.core.futures_nb import basis_nb, dealer_flow_nb, knock_in_nb
from dma_gym.core.jit import kernel
from dma_gym.core.enums import P
from dma_gym.core.market_nb import (
    clear_price_nb, clip_price_nb, effective_adv_nb, effective_sigma_nb, exogenous_nb, impact_nb,
    levels_and_flags_nb, liquidity_nb, set_bands_nb,
)


@kernel
def begin_step_nb(s, e):
    A = s.cash.shape[1]
    K = s.fut.shape[2]
    for a in range(A):
        s.sold_step[e, a] = 0.0
        s.bought_step[e, a] = 0.0
        s.unfilled_step[e, a] = 0.0
        s.cut_step[e, a] = 0.0
    for k in range(K):
        s.fut_flow[e, k] = 0.0
    s.bg_sold_step[e] = 0.0


@kernel
def _priority_order_nb(s, e):
    """``prio_order[e]``: managers sorted by ``priority[e]``, ties by index (a stable insertion sort;
    A is small and this runs once per step)."""
    A = s.cash.shape[1]
    order = s.prio_order[e]
    pri = s.priority[e]
    for a in range(A):
        j = a
        while j > 0 and pri[order[j - 1]] > pri[a]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = a


@kernel
def _circuit_breaker_nb(pf, s, e):
    if pf[P.CB_ON] > 0.5 and not s.halted[e]:
        if s.tier_level[e, 0] / s.tier_prev_close[e, 0] - 1.0 <= -pf[P.CB_THRESHOLD]:
            s.halted[e] = True


@kernel
def _clear_all_nb(pf, u, s, e):
    """Step 5: gross orders per stock, clearing stock by stock (tier by tier) with the
    background's fills, then the managers' fills.

    Split into passes so that each loop is short: the clearing of one stock is a long chain of
    dependent divisions, a square root and an exponential, and in one loop body the CPU could
    hardly overlap consecutive stocks. Per tier: (a) effective volume, volatility and impact of
    every stock (independent iterations; parked in ``exec_price``, ``fill_buy`` and
    ``fill_sell``, which (b) reads back and overwrites with the results), (b) limits, fills,
    impact on the fundamental and the background's fills in stock order, (c) the new marks."""
    A = s.cash.shape[1]
    N = s.price.shape[1]
    T = s.tier_level.shape[1]
    sequential = pf[P.CLEARING_ORDER] > 0.5
    halted = s.halted[e]
    perm = pf[P.PERM]
    trans = pf[P.TRANS]
    # gross orders: the background first, then managers in index order (inactive rows are zero)
    for i in range(N):
        s.gross_buy[e, i] = s.bg_buy[e, i]
        s.gross_sell[e, i] = s.bg_sell[e, i]
    for a in range(A):
        if s.active[e, a]:
            for i in range(N):
                o = s.order[e, a, i]
                s.gross_buy[e, i] += max(o, 0.0)  # adding 0.0 changes nothing
                s.gross_sell[e, i] += max(-o, 0.0)
    for t in range(T):
        lo_i = u.tier_start[t]
        hi_i = u.tier_start[t + 1]
        adv_t = 0.0
        flow = 0.0
        value = s.tier_value_day[e, t]
        st = s.stress[e, t]
        if halted:
            for i in range(lo_i, hi_i):
                adv_t += u.adv[i]
                px = s.price[e, i]
                s.exec_price[e, i] = px
                s.fill_buy[e, i] = 0.0
                s.fill_sell[e, i] = 0.0
                s.volume_step[e, i] = 0.0
                s.limit_locked[e, i] = False
                background_fill_nb(s, e, i, 0.0, 0.0)
                value += 0.0 * px
                flow -= 0.0 * px
        else:
            for i in range(lo_i, hi_i):  # (a)
                v_sh = effective_adv_nb(pf, u.adv[i], st) / s.price[e, i]  # shares per day
                sig = effective_sigma_nb(pf, u.sigma[i], st)
                s.exec_price[e, i] = v_sh
                s.fill_buy[e, i] = sig
                s.fill_sell[e, i] = impact_nb(pf, abs(s.gross_buy[e, i] - s.gross_sell[e, i]), v_sh, sig)
            for i in range(lo_i, hi_i):  # (b)
                adv_t += u.adv[i]
                v_sh = s.exec_price[e, i]
                sig = s.fill_buy[e, i]
                buys = s.gross_buy[e, i]
                sells = s.gross_sell[e, i]
                qf, px, locked, fb, fs = clear_price_nb(pf, s.price[e, i], s.lo[e, i], s.hi[e, i], v_sh, sig,
                                                        buys, sells, s.fill_sell[e, i])
                dlog = sig * qf / v_sh
                s.log_fund[e, i] += perm * dlog
                s.transient[e, i] += trans * dlog
                s.exec_price[e, i] = px
                s.fill_buy[e, i] = fb
                s.fill_sell[e, i] = fs
                s.limit_locked[e, i] = locked
                vol = min(buys, sells) + abs(qf)
                s.volume_step[e, i] = vol
                bg_fb = fb
                bg_fs = fs
                if sequential:
                    for a in range(A):
                        if s.active[e, a]:
                            o = s.order[e, a, i]
                            s.fill[e, a, i] = o * (fb if o > 0.0 else fs)
                    if fs < 1.0:
                        bg_fs = sequential_fills_nb(s.order[e], s.fill[e], s.prio_order[e], i, fs * sells,
                                                    -1.0, s.bg_sell[e, i])
                    if fb < 1.0:
                        bg_fb = sequential_fills_nb(s.order[e], s.fill[e], s.prio_order[e], i, fb * buys,
                                                    1.0, s.bg_buy[e, i])
                background_fill_nb(s, e, i, bg_fb, bg_fs)
                s.volume_day[e, i] += vol
                value += vol * px
                flow -= qf * px
            for i in range(lo_i, hi_i):  # (c)
                if s.limit_locked[e, i]:
                    s.price[e, i] = s.exec_price[e, i]
                else:
                    s.price[e, i] = clip_price_nb(pf, math.exp(s.log_fund[e, i] + s.transient[e, i]),
                                                  s.lo[e, i], s.hi[e, i])
        s.tier_value_day[e, t] = value
        flow /= adv_t * pf[P.DT]
        s.tier_sell_flow[e, t] = flow if flow > 0.0 else 0.0
    # pro-rata fills (sequential ones were written stock by stock), applied to the accounts
    apply_fills_nb(pf, s, e, not sequential or halted)


@kernel
def _close_nb(pf, u, s, e):
    """Step 10: closing prices and new bands, T+1 unlock, knock-ins, settlement, regulation."""
    A = s.cash.shape[1]
    N = s.price.shape[1]
    K = s.fut.shape[2]
    T = s.tier_level.shape[1]
    set_bands_nb(pf, u, s, e)
    for a in range(A):
        for i in range(N):
            s.locked[e, a, i] = 0.0
        s.day_net_sold[e, a] = 0.0
        for k in range(K):
            s.fut_day_cover[e, a, k] = 0.0
    s.ld_share_close[e] = s.ld_share[e]
    if s.ld_share[e] > s.ld_share_peak[e]:
        s.ld_share_peak[e] = s.ld_share[e]
    if pf[P.SB_ON] > 0.5:
        knock_in_nb(u, s, e)
    settle_futures_nb(s, e)
    if pf[P.REG_ON] > 0.5:
        if s.ld_share[e] >= pf[P.REG_TRIGGER]:
            s.reg_active[e] = True
        if pf[P.REG_FROM_DAY] >= 0.0 and s.day[e] + 1 >= int(pf[P.REG_FROM_DAY]):
            s.reg_active[e] = True
    for t in range(T):
        s.tier_prev_close[e, t] = s.tier_level[e, t]
    for k in range(K):
        s.index_prev_close[e, k] = s.index_level[e, k]
        s.days_left[e, k] -= 1.0
    s.nt_spent_today[e] = 0.0
    s.halted[e] = False
    s.day[e] += 1


@kernel
def _new_day_nb(s, e):
    N = s.price.shape[1]
    T = s.tier_level.shape[1]
    for i in range(N):
        s.volume_day[e, i] = 0.0
    for t in range(T):
        s.tier_value_day[e, t] = 0.0


@kernel(inline=True)
def market_step_env_nb(pf, u, s, e, actions, z):
    """One step of env ``e`` (market mode)."""
    spd = int(pf[P.STEPS_PER_DAY])
    A = s.cash.shape[1]
    if s.step[e] % spd == 0:
        _new_day_nb(s, e)
    begin_step_nb(s, e)
    for a in range(A):
        s.priority[e, a] = int(z.priority[a] * 1e9)
    _priority_order_nb(s, e)
    # 1. exogenous moves
    exogenous_nb(pf, u, s, e, z)
    levels_and_flags_nb(pf, u, s, e)
    _circuit_breaker_nb(pf, s, e)
    # 2. background flows (funds decide on yesterday's basis; dealers re-hedge in step 6)
    fund_decisions_nb(pf, u, s, e)
    background_orders_nb(pf, u, s, e, z)
    # 3. managers: actions, peer rules, broker liquidation
    manager_orders_nb(pf, u, s, e, actions)
    # 4. regulation masks on stock orders
    masks_nb(pf, u, s, e)
    # 5. clearing per stock
    _clear_all_nb(pf, u, s, e)
    levels_and_flags_nb(pf, u, s, e)
    # 6. futures: dealer hedges, neutral funds' buy-backs, hedge adjustments, basis, fills
    dealer_flow_nb(pf, u, s, e)
    neutral_cover_nb(u, s, e)
    overlay_flow_nb(pf, u, s, e)
    peer_futures_nb(pf, s, e)
    futures_masks_nb(pf, u, s, e)
    K = s.fut.shape[2]
    for a in range(A):
        for k in range(K):
            s.fut_flow[e, k] += s.fut_order[e, a, k] * s.fut_price[e, k]
    basis_nb(pf, u, s, e, z)
    futures_fills_nb(pf, s, e)
    # 7-8. accounting and margin
    accounts_nb(pf, u, s, e)
    margin_nb(pf, s, e)
    # 9. liquidity state
    liquidity_nb(pf, u, s, e)
    # 10. the close
    if (s.step[e] + 1) % spd == 0:
        _close_nb(pf, u, s, e)
    s.step[e] += 1
    if s.step[e] >= int(pf[P.STEPS]):
        s.done[e] = True
