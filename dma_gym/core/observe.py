"""Observations: normalised, bounded features of one manager's view of the market, batched."""
from dma_gym.core.futures_nb import basis_annualized_nb
from dma_gym.core.jit import kernel
from dma_gym.core.enums import O, P


@kernel
def _clip_row_nb(o, lo, hi):
    """Clip a written observation row into its box (NaN, impossible in a valid state, -> 0)."""
    for j in range(o.shape[0]):
        x = o[j]
        if x != x:
            x = 0.0
        o[j] = min(max(x, lo[j]), hi[j])


@kernel
def observe_env_nb(pf, u, s, e, managers, lo, hi, out):
    """Fill ``out`` (M, N_OBS) for env ``e`` (``lo``/``hi``: the feature bounds): each feature
    written at its offset in :class:`O`, then the row clipped into its box."""
    A = s.cash.shape[1]
    K = s.fut.shape[2]
    T = s.tier_level.shape[1]
    M = managers.shape[0]
    spd = int(pf[P.STEPS_PER_DAY])
    horizon = pf[P.STEPS] / spd
    n_liq = 0.0
    peer_sold = 0.0
    peer_g0 = 0.0
    for b in range(A):
        if s.liquidated[e, b]:
            n_liq += 1.0
        peer_sold += s.sold_step[e, b]
        peer_g0 += s.gross0[e, b]
    for m in range(M):
        a = managers[m]
        o = out[m]
        eq0 = s.equity0[e, a]
        mr = s.margin_ratio[e, a]
        o[O.NAV] = s.equity[e, a] / eq0
        o[O.LEVERAGE] = s.leverage[e, a] / 10.0
        o[O.MARGIN_RATIO] = mr
        o[O.TO_WARNING] = mr - pf[P.M_WARN]
        o[O.TO_CALL] = mr - pf[P.M_CALL]
        o[O.TO_LIQUIDATION] = mr - pf[P.M_LIQ]
        o[O.MARGIN_CALL] = 1.0 if s.call_active[e, a] else 0.0
        left = 1.0
        if s.call_active[e, a]:
            left = (s.call_deadline[e, a] - s.step[e]) / max(pf[P.CALL_STEPS], 1.0)
        o[O.CALL_TIME_LEFT] = left
        o[O.WARNING] = 1.0 if s.warning[e, a] else 0.0
        locked = 0.0
        for t in range(T):
            expo = 0.0
            for i in range(u.tier_start[t], u.tier_start[t + 1]):
                expo += s.hold[e, a, i] * s.price[e, i]
                locked += s.locked[e, a, i] * s.price[e, i]
            o[O.EXPOSURE_CSI300 + t] = expo / eq0
        for k in range(K):
            o[O.FUTURES_IF + k] = s.fut[e, a, k] * s.fut_price[e, k] / eq0
        o[O.CASH] = s.cash[e, a] / eq0
        for k in range(K):
            o[O.BASIS_ANN_IF + k] = basis_annualized_nb(s.basis[e, k], s.days_left[e, k])
        for t in range(T):
            o[O.RET_TODAY_CSI300 + t] = 10.0 * (s.tier_level[e, t] / s.tier_prev_close[e, t] - 1.0)
            o[O.DRAWDOWN_CSI300 + t] = 1.0 - s.tier_level[e, t] / s.tier_peak[e, t]
            adv = 0.0
            for i in range(u.tier_start[t], u.tier_start[t + 1]):
                adv += u.adv[i]
            o[O.VOLUME_CSI300 + t] = s.tier_value_day[e, t] / adv
            o[O.LIMIT_DOWN_CSI300 + t] = s.tier_ld_share[e, t]
            o[O.STRESS_CSI300 + t] = s.stress[e, t]
            o[O.SELL_FLOW_CSI300 + t] = s.tier_sell_flow[e, t]
        o[O.LIMIT_DOWN_SHARE] = s.ld_share[e]
        quota = 1.0
        if s.reg_active[e] and s.gross0[e, a] > 0.0:
            quota = (pf[P.NET_SELL_CAP] * s.gross0[e, a] - s.day_net_sold[e, a]) / s.gross0[e, a]
        o[O.SELL_QUOTA] = quota
        o[O.RESTRICTED] = 1.0 if s.reg_active[e] else 0.0
        o[O.HALTED] = 1.0 if s.halted[e] else 0.0
        o[O.TIME_OF_DAY] = (s.step[e] % spd) / spd
        o[O.DAY] = s.day[e] / horizon
        own_liq = 1.0 if s.liquidated[e, a] else 0.0
        o[O.PEERS_LIQUIDATED] = (n_liq - own_liq) / max(A - 1, 1)
        g0_peers = peer_g0 - s.gross0[e, a]
        sold_peers = peer_sold - s.sold_step[e, a]
        o[O.PEERS_SELLING] = sold_peers / g0_peers if g0_peers > 0.0 else 0.0
        g = s.gross[e, a]
        o[O.LOCKED_SHARE] = locked / g if g > 0.0 else 0.0
        _clip_row_nb(o, lo, hi)
