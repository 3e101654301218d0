"""Observations: normalised, bounded features of one manager's view of the market, batched."""
import numpy as np

from dma_gym.core.futures_nb import basis_annualized_nb
from dma_gym.core.jit import kernel
from dma_gym.core.layout import P

# (name, low, high): the single source of the observation layout and its bounds.
OBS_FEATURES = (
    ("nav", 0.0, 3.0),  # equity / initial equity
    ("leverage", 0.0, 2.0),  # gross long / equity / 10
    ("margin_ratio", 0.0, 5.0),  # equity / required margin
    ("to_warning", -5.0, 5.0),  # margin ratio minus the warning line
    ("to_call", -5.0, 5.0),  # margin ratio minus the call line
    ("to_liquidation", -5.0, 5.0),  # margin ratio minus the forced-liquidation line
    ("margin_call", 0.0, 1.0),  # a call is outstanding
    ("call_time_left", 0.0, 1.0),  # share of the cure period left (1 when no call)
    ("warning", 0.0, 1.0),  # below the warning line
    ("exposure_csi300", 0.0, 10.0),  # tier long value / initial equity
    ("exposure_csi500", 0.0, 10.0),
    ("exposure_csi1000", 0.0, 10.0),
    ("exposure_csi2000", 0.0, 10.0),
    ("exposure_micro", 0.0, 10.0),
    ("futures_if", -10.0, 10.0),  # futures notional / initial equity (negative: short)
    ("futures_ic", -10.0, 10.0),
    ("futures_im", -10.0, 10.0),
    ("cash", -10.0, 10.0),  # cash / initial equity (negative: financed)
    ("basis_ann_if", -5.0, 5.0),  # annualised basis
    ("basis_ann_ic", -5.0, 5.0),
    ("basis_ann_im", -5.0, 5.0),
    ("ret_today_csi300", -5.0, 5.0),  # tier return since the last close x 10
    ("ret_today_csi500", -5.0, 5.0),
    ("ret_today_csi1000", -5.0, 5.0),
    ("ret_today_csi2000", -5.0, 5.0),
    ("ret_today_micro", -5.0, 5.0),
    ("drawdown_csi300", 0.0, 1.0),  # tier drawdown from its running peak
    ("drawdown_csi500", 0.0, 1.0),
    ("drawdown_csi1000", 0.0, 1.0),
    ("drawdown_csi2000", 0.0, 1.0),
    ("drawdown_micro", 0.0, 1.0),
    ("volume_csi300", 0.0, 20.0),  # traded value today / normal tier ADV
    ("volume_csi500", 0.0, 20.0),
    ("volume_csi1000", 0.0, 20.0),
    ("volume_csi2000", 0.0, 20.0),
    ("volume_micro", 0.0, 20.0),
    ("limit_down_share", 0.0, 1.0),  # share of all names at limit-down now
    ("limit_down_csi300", 0.0, 1.0),
    ("limit_down_csi500", 0.0, 1.0),
    ("limit_down_csi1000", 0.0, 1.0),
    ("limit_down_csi2000", 0.0, 1.0),
    ("limit_down_micro", 0.0, 1.0),
    ("stress_csi300", 0.0, 1.0),  # liquidity stress per tier
    ("stress_csi500", 0.0, 1.0),
    ("stress_csi1000", 0.0, 1.0),
    ("stress_csi2000", 0.0, 1.0),
    ("stress_micro", 0.0, 1.0),
    ("sell_quota", 0.0, 1.0),  # net-sell room left today / initial gross (1 if unrestricted)
    ("restricted", 0.0, 1.0),  # regulation in force
    ("halted", 0.0, 1.0),  # circuit breaker: stocks halted for the day
    ("time_of_day", 0.0, 1.0),  # intraday step / steps per day
    ("day", 0.0, 1.0),  # day / horizon
    ("sell_flow_csi300", 0.0, 20.0),  # market-wide net selling this step, ADV per day
    ("sell_flow_csi500", 0.0, 20.0),
    ("sell_flow_csi1000", 0.0, 20.0),
    ("sell_flow_csi2000", 0.0, 20.0),
    ("sell_flow_micro", 0.0, 20.0),
    ("peers_liquidated", 0.0, 1.0),  # share of other managers taken over by brokers
    ("peers_selling", 0.0, 1.0),  # other managers' sales this step / their initial gross
    ("locked_share", 0.0, 1.0),  # T+1-locked value / own long value
)
N_OBS = len(OBS_FEATURES)
OBS_LOW = np.array([f[1] for f in OBS_FEATURES], np.float32)
OBS_HIGH = np.array([f[2] for f in OBS_FEATURES], np.float32)


@kernel
def _put(out, j, x, lo, hi):
    if x != x:  # NaN cannot occur in a valid state; keep the box contract regardless
        x = 0.0
    out[j] = min(max(x, lo[j]), hi[j])


@kernel
def observe_env_nb(pf, u, s, e, managers, lo, hi, out):
    """Fill ``out`` (M, N_OBS) for env ``e`` (``lo``/``hi``: the feature bounds)."""
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
        _put(o, 0, s.equity[e, a] / eq0, lo, hi)
        _put(o, 1, s.leverage[e, a] / 10.0, lo, hi)
        _put(o, 2, mr, lo, hi)
        _put(o, 3, mr - pf[P.M_WARN], lo, hi)
        _put(o, 4, mr - pf[P.M_CALL], lo, hi)
        _put(o, 5, mr - pf[P.M_LIQ], lo, hi)
        _put(o, 6, 1.0 if s.call_active[e, a] else 0.0, lo, hi)
        left = 1.0
        if s.call_active[e, a]:
            left = (s.call_deadline[e, a] - s.step[e]) / max(pf[P.CALL_STEPS], 1.0)
        _put(o, 7, left, lo, hi)
        _put(o, 8, 1.0 if s.warning[e, a] else 0.0, lo, hi)
        locked = 0.0
        for t in range(T):
            expo = 0.0
            for i in range(u.tier_start[t], u.tier_start[t + 1]):
                expo += s.hold[e, a, i] * s.price[e, i]
                locked += s.locked[e, a, i] * s.price[e, i]
            _put(o, 9 + t, expo / eq0, lo, hi)
        for k in range(K):
            _put(o, 14 + k, s.fut[e, a, k] * s.fut_price[e, k] / eq0, lo, hi)
        _put(o, 17, s.cash[e, a] / eq0, lo, hi)
        for k in range(K):
            _put(o, 18 + k, basis_annualized_nb(s.basis[e, k], s.days_left[e, k]), lo, hi)
        for t in range(T):
            _put(o, 21 + t, 10.0 * (s.tier_level[e, t] / s.tier_prev_close[e, t] - 1.0), lo, hi)
            _put(o, 26 + t, 1.0 - s.tier_level[e, t] / s.tier_peak[e, t], lo, hi)
            adv = 0.0
            for i in range(u.tier_start[t], u.tier_start[t + 1]):
                adv += u.adv[i]
            _put(o, 31 + t, s.tier_value_day[e, t] / adv, lo, hi)
            _put(o, 37 + t, s.tier_ld_share[e, t], lo, hi)
            _put(o, 42 + t, s.stress[e, t], lo, hi)
            _put(o, 52 + t, s.tier_sell_flow[e, t], lo, hi)
        _put(o, 36, s.ld_share[e], lo, hi)
        quota = 1.0
        if s.reg_active[e] and s.gross0[e, a] > 0.0:
            quota = (pf[P.NET_SELL_CAP] * s.gross0[e, a] - s.day_net_sold[e, a]) / s.gross0[e, a]
        _put(o, 47, quota, lo, hi)
        _put(o, 48, 1.0 if s.reg_active[e] else 0.0, lo, hi)
        _put(o, 49, 1.0 if s.halted[e] else 0.0, lo, hi)
        _put(o, 50, (s.step[e] % spd) / spd, lo, hi)
        _put(o, 51, s.day[e] / horizon, lo, hi)
        own_liq = 1.0 if s.liquidated[e, a] else 0.0
        _put(o, 57, (n_liq - own_liq) / max(A - 1, 1), lo, hi)
        g0_peers = peer_g0 - s.gross0[e, a]
        sold_peers = peer_sold - s.sold_step[e, a]
        _put(o, 58, sold_peers / g0_peers if g0_peers > 0.0 else 0.0, lo, hi)
        g = s.gross[e, a]
        _put(o, 59, locked / g if g > 0.0 else 0.0, lo, hi)
