"""Observations: normalised, bounded features of one manager's view of the market, batched."""
from dma_gym.core.futures_nb import basis_annualized_nb
from dma_gym.core.jit import kernel
from dma_gym.core.enums import O, P


@kernel
def _put(o, j, x, lo, hi):
    """``o[j]`` = ``x`` clipped into its box (NaN, impossible in a valid state, -> 0). Two
    signatures: ``j`` an ``O`` member or an int (``O.X + t``)."""
    if x != x:
        x = 0.0
    o[j] = min(max(x, lo[j]), hi[j])


@kernel
def observe_env_nb(pf, u, s, e, managers, lo, hi, out):
    """Fill ``out`` (M, N_OBS) for env ``e`` (``lo``/``hi``: the feature bounds): each feature
    clipped into its box and written at its offset in :class:`O`."""
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
        _put(o, O.NAV, s.equity[e, a] / eq0, lo, hi)
        _put(o, O.LEVERAGE, s.leverage[e, a] / 10.0, lo, hi)
        _put(o, O.MARGIN_RATIO, mr, lo, hi)
        _put(o, O.TO_WARNING, mr - pf[P.M_WARN], lo, hi)
        _put(o, O.TO_CALL, mr - pf[P.M_CALL], lo, hi)
        _put(o, O.TO_LIQUIDATION, mr - pf[P.M_LIQ], lo, hi)
        _put(o, O.MARGIN_CALL, 1.0 if s.call_active[e, a] else 0.0, lo, hi)
        left = 1.0
        if s.call_active[e, a]:
            left = (s.call_deadline[e, a] - s.step[e]) / max(pf[P.CALL_STEPS], 1.0)
        _put(o, O.CALL_TIME_LEFT, left, lo, hi)
        _put(o, O.WARNING, 1.0 if s.warning[e, a] else 0.0, lo, hi)
        _put(o, O.FORCED_LIQUIDATION, 1.0 if s.liquidated[e, a] else 0.0, lo, hi)
        locked = 0.0
        for t in range(T):
            expo = 0.0
            for i in range(u.tier_start[t], u.tier_start[t + 1]):
                expo += s.hold[e, a, i] * s.price[e, i]
                locked += s.locked[e, a, i] * s.price[e, i]
            _put(o, O.EXPOSURE_CSI300 + t, expo / eq0, lo, hi)
        for k in range(K):
            _put(o, O.FUTURES_IF + k, s.fut[e, a, k] * s.fut_price[e, k] / eq0, lo, hi)
        _put(o, O.CASH, s.cash[e, a] / eq0, lo, hi)
        for k in range(K):
            _put(o, O.BASIS_ANN_IF + k, basis_annualized_nb(s.basis[e, k], s.days_left[e, k]), lo, hi)
        for t in range(T):
            _put(o, O.RET_TODAY_CSI300 + t, 10.0 * (s.tier_level[e, t] / s.tier_prev_close[e, t] - 1.0), lo, hi)
            _put(o, O.DRAWDOWN_CSI300 + t, 1.0 - s.tier_level[e, t] / s.tier_peak[e, t], lo, hi)
            adv = 0.0
            for i in range(u.tier_start[t], u.tier_start[t + 1]):
                adv += u.adv[i]
            _put(o, O.VOLUME_CSI300 + t, s.tier_value_day[e, t] / adv, lo, hi)
            _put(o, O.LIMIT_DOWN_CSI300 + t, s.tier_ld_share[e, t], lo, hi)
            _put(o, O.STRESS_CSI300 + t, s.stress[e, t], lo, hi)
            _put(o, O.SELL_FLOW_CSI300 + t, s.tier_sell_flow[e, t], lo, hi)
        _put(o, O.LIMIT_DOWN_SHARE, s.ld_share[e], lo, hi)
        quota = 1.0
        if s.reg_active[e] and s.gross0[e, a] > 0.0:
            quota = (pf[P.NET_SELL_CAP] * s.gross0[e, a] - s.day_net_sold[e, a]) / s.gross0[e, a]
        _put(o, O.SELL_QUOTA, quota, lo, hi)
        _put(o, O.RESTRICTED, 1.0 if s.reg_active[e] else 0.0, lo, hi)
        _put(o, O.HALTED, 1.0 if s.halted[e] else 0.0, lo, hi)
        _put(o, O.TIME_OF_DAY, (s.step[e] % spd) / spd, lo, hi)
        _put(o, O.DAY, s.day[e] / horizon, lo, hi)
        own_liq = 1.0 if s.liquidated[e, a] else 0.0
        _put(o, O.PEERS_LIQUIDATED, (n_liq - own_liq) / max(A - 1, 1), lo, hi)
        g0_peers = peer_g0 - s.gross0[e, a]
        sold_peers = peer_sold - s.sold_step[e, a]
        _put(o, O.PEERS_SELLING, sold_peers / g0_peers if g0_peers > 0.0 else 0.0, lo, hi)
        g = s.gross[e, a]
        _put(o, O.LOCKED_SHARE, locked / g if g > 0.0 else 0.0, lo, hi)
