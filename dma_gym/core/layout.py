"""Memory layout of the core: dimensions, scalar-parameter indices, and named views of flat buffers.

The core keeps all state in three flat buffers (float64, int64, bool) and all parameters in two
(float64 scalars ``pf`` indexed by :class:`P`, and the universe buffers). A jitted call then takes
a handful of arrays (a few microseconds of dispatch) instead of dozens, while every function sees
named, shaped views. ``state_views_nb`` and ``universe_views_nb`` are the single source of truth
for the layouts: called on empty buffers they only count the sizes.
"""
from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


class D(IntEnum):
    """Indices into the int64 ``dims`` array."""

    E = 0  # envs in the batch
    A = 1  # managers per env (index 0: the learner in the single-agent env)
    N = 2  # stocks
    K = 3  # index futures (IF, IC, IM)
    T = 4  # size tiers (CSI300, CSI500, CSI1000, CSI2000, MICRO)
    B = 5  # snowball tranches per underlying
    C = 6  # threshold cohorts of neutral / enhanced funds
    SIZE = 7


class P(IntEnum):
    """Indices into the float64 scalar-parameter array ``pf`` (bools stored as 0/1)."""

    MODE = 0  # 0 market, 1 Almgren-Chriss benchmark
    DT = 1  # days per step
    STEPS_PER_DAY = 2
    STEPS = 3  # steps per episode
    MKT_DRIFT = 4
    MKT_VOL = 5
    SIZE_DRIFT = 6
    SIZE_VOL = 7
    IDIO_SCALE = 8
    SHOCK_DAY = 9
    SHOCK_MKT = 10
    SHOCK_SIZE = 11
    IMPACT_EXP = 12
    IMPACT_Y = 13
    PERM = 14
    TRANS = 15
    TRANS_DECAY = 16  # per-step multiplier exp(-ln2 dt / half-life)
    FEE = 17
    LIMIT_DEPTH = 18
    LIMITS_ON = 19
    CLEARING_ORDER = 20
    SPIRAL_ON = 21
    W_DD = 22
    W_FLOW = 23
    W_LD = 24
    W_MM = 25
    STRESS_ALPHA = 26  # per-step adjustment 1 - exp(-ln2 dt / half-life)
    DEPTH_DROP = 27
    VOL_RISE = 28
    MARGIN_VOL = 29
    FUT_ON = 30
    BASIS_ALPHA = 31
    BASIS_VOL = 32
    FUT_LIMIT = 33
    FUT_MARGIN = 34
    SB_ON = 35
    HEDGE_RATIO = 36
    FIN_RATE = 37  # per day
    M_WARN = 38
    M_CALL = 39
    M_LIQ = 40
    CALL_STEPS = 41  # margin-call deadline in steps
    LEV_CAP = 42
    SCALE_FREEZE = 43
    BROKER_SPEED = 44
    MAX_TRADE = 45
    MAX_BUY = 46
    MAX_FUT = 47
    PEER_SPEED = 48
    REG_ON = 49
    REG_TRIGGER = 50
    REG_FROM_DAY = 51
    NET_SELL_CAP = 52
    NO_REDUCTION = 53
    FUT_NO_NEW_SHORT = 54
    FUT_COVER_CAP = 55
    REG_BIND_BROKER = 56
    NT_ON = 57
    NT_DAILY = 58
    NT_TRIGGER = 59
    CB_ON = 60
    CB_THRESHOLD = 61
    CORR_ON = 62
    CORR_MIN = 63
    NOISE = 64
    LP_STRENGTH = 65
    LP_CAPITAL = 66
    NF_SPEED = 67
    IE_SPEED = 68
    BG_PART = 69
    AC_SIGMA = 70  # price units per sqrt(day)
    AC_EPS = 71
    AC_ETA = 72
    AC_GAMMA = 73
    AC_X0 = 74  # initial shares
    OVERLAY = 75  # share of funds' stuck (unfilled) sell value hedged with index-future shorts
    SIZE = 76


class Universe(NamedTuple):
    """Static per-stock and per-contract arrays (from the universe seed)."""

    price0: np.ndarray  # (N,) CNY per share at episode start
    adv: np.ndarray  # (N,) CNY bn per day, normal times
    sigma: np.ndarray  # (N,) daily volatility, fraction
    margin_rate: np.ndarray  # (N,) broker margin per CNY held (tier haircut)
    beta: np.ndarray  # (N,) market-factor loading
    size_load: np.ndarray  # (N,) small-minus-big loading
    limit: np.ndarray  # (N,) daily price limit, fraction (board)
    tier_w: np.ndarray  # (N,) float-cap weight within its tier (sums to 1 per tier)
    index_w: np.ndarray  # (K, N) index weights of IF/IC/IM (rows sum to 1)
    nt_w: np.ndarray  # (N,) national-team CNY bn per CNY bn of budget (sums to 1 over CSI300-1000)
    ie_shares: np.ndarray  # (N,) enhanced funds' shares (bn) per unit of AUM fraction
    nf_shares: np.ndarray  # (N,) neutral funds' shares (bn) per unit of AUM fraction
    nf_hedge: np.ndarray  # (K,) neutral funds' short qty (index units) per unit of AUM fraction
    sb_notional: np.ndarray  # (K, B) snowball notional, CNY bn
    sb_ki: np.ndarray  # (K, B) knock-in barrier, fraction of the starting index
    sb_tenor: np.ndarray  # (K, B) remaining tenor, months
    normal_basis: np.ndarray  # (K,) normal annualised basis (negative: discount)
    fut_depth: np.ndarray  # (K,) CNY bn of net futures flow per 1% of basis
    nf_thr: np.ndarray  # (C,) annualised discount at which a neutral cohort exits
    ie_thr: np.ndarray  # (C,) drawdown at which an enhanced cohort faces redemptions
    tier: np.ndarray  # (N,) int tier id 0..T-1
    board: np.ndarray  # (N,) int board id 0 main, 1 ChiNext/STAR, 2 BSE
    tier_start: np.ndarray  # (T + 1,) int: tier t is stocks tier_start[t] .. tier_start[t + 1] - 1


class State(NamedTuple):
    """All mutable state. Leading axes (E,) or (E, A); money CNY bn, shares bn, prices CNY."""

    # ---- stocks (E, N) -------------------------------------------------------------------
    price: np.ndarray  # (E, N) official (limit-clipped) price, CNY
    prev_close: np.ndarray  # (E, N) previous close, CNY
    lo: np.ndarray  # (E, N) today's limit-down price
    hi: np.ndarray  # (E, N) today's limit-up price
    log_fund: np.ndarray  # (E, N) log of the fundamental price incl. permanent impact
    transient: np.ndarray  # (E, N) decaying transient impact, log units
    volume_step: np.ndarray  # (E, N) shares traded this step, bn
    volume_day: np.ndarray  # (E, N) shares traded today, bn
    lp_inv: np.ndarray  # (E, N) liquidity providers' inventory, shares bn
    bg_pending: np.ndarray  # (E, N) funds' queued sell orders, shares bn
    gross_buy: np.ndarray  # (E, N) scratch: gross buy orders this step, shares
    gross_sell: np.ndarray  # (E, N) scratch: gross sell orders this step, shares
    exec_price: np.ndarray  # (E, N) clearing price this step, CNY
    fill_buy: np.ndarray  # (E, N) share of buy orders filled this step
    fill_sell: np.ndarray  # (E, N) share of sell orders filled this step
    bg_buy: np.ndarray  # (E, N) scratch: background buy orders, shares
    bg_sell: np.ndarray  # (E, N) scratch: background sell orders, shares
    nt_order: np.ndarray  # (E, N) scratch: national-team buy orders, shares
    lp_order: np.ndarray  # (E, N) scratch: LP signed orders, shares
    fund_order: np.ndarray  # (E, N) scratch: funds' sell orders this step, shares
    # ---- tiers (E, T) --------------------------------------------------------------------
    tier_level: np.ndarray  # (E, T) float-cap weighted tier index, 1 at start
    tier_peak: np.ndarray  # (E, T) running max of tier_level
    tier_prev_close: np.ndarray  # (E, T) tier level at the previous close
    stress: np.ndarray  # (E, T) liquidity stress in [0, 1]
    tier_sell_flow: np.ndarray  # (E, T) net sell value this step / (ADV * dt)
    tier_value_day: np.ndarray  # (E, T) traded value today, CNY bn
    tier_ld_share: np.ndarray  # (E, T) share of the tier's names at limit-down now
    # ---- futures (E, K) ------------------------------------------------------------------
    index_level: np.ndarray  # (E, K) index / index at start
    index_prev_close: np.ndarray  # (E, K)
    index_peak: np.ndarray  # (E, K) running max
    basis: np.ndarray  # (E, K) F / S - 1
    fut_price: np.ndarray  # (E, K) futures price, index-start units
    fut_settle: np.ndarray  # (E, K) last daily settlement price
    days_left: np.ndarray  # (E, K) trading days to expiry
    dealer_qty: np.ndarray  # (E, K) snowball dealers' long futures, index units (CNY bn at start)
    fut_flow: np.ndarray  # (E, K) net futures flow this step, CNY bn (+ buying)
    nf_qty: np.ndarray  # (E, K) neutral funds' futures, index units (negative: short)
    ov_qty: np.ndarray  # (E, K) funds' overlay shorts against stuck sell orders, index units
    # ---- funds and env scalars -----------------------------------------------------------
    nf_frac: np.ndarray  # (E, C) neutral cohorts' remaining AUM share
    ie_frac: np.ndarray  # (E, C) enhanced cohorts' remaining AUM share
    nt_budget: np.ndarray  # (E,) national-team budget left, CNY bn
    nt_spent_today: np.ndarray  # (E,) CNY bn
    lp_cash: np.ndarray  # (E,) LP cash, CNY bn (starts at 0; P&L = cash + inventory value)
    ld_share: np.ndarray  # (E,) share of names at limit-down now
    ld_share_close: np.ndarray  # (E,) share of names closing limit-down at the last close
    ld_share_peak: np.ndarray  # (E,) max over closes of ld_share_close
    # ---- managers (E, A) -----------------------------------------------------------------
    cash: np.ndarray  # (E, A) CNY bn (negative: financed by the broker)
    equity: np.ndarray  # (E, A) cash + stock value + unsettled futures P&L
    equity0: np.ndarray  # (E, A) equity at episode start
    gross: np.ndarray  # (E, A) long stock value
    gross0: np.ndarray  # (E, A) long stock value at start (scale-freeze and net-sell caps)
    leverage: np.ndarray  # (E, A) gross / equity (capped for reporting when equity <= 0)
    margin_ratio: np.ndarray  # (E, A) equity / required margin
    required: np.ndarray  # (E, A) required margin, CNY bn
    lev0: np.ndarray  # (E, A) initial leverage = target of the leverage-targeting rule
    lev_max: np.ndarray  # (E, A) threshold rule trigger
    day_net_sold: np.ndarray  # (E, A) net stock sales today, CNY bn
    sold_step: np.ndarray  # (E, A) stock sold this step, CNY bn
    bought_step: np.ndarray  # (E, A) stock bought this step, CNY bn
    unfilled_step: np.ndarray  # (E, A) sell orders left unfilled this step, CNY bn
    cut_step: np.ndarray  # (E, A) orders cut by regulation this step, CNY bn
    intended_cum: np.ndarray  # (E, A) intended sells (before cuts), CNY bn, cumulative
    sold_cum: np.ndarray  # (E, A) sells filled, CNY bn, cumulative
    cum_buy: np.ndarray  # (E, A) cash paid for stock, cumulative
    cum_sell: np.ndarray  # (E, A) cash received for stock, cumulative
    cum_fut: np.ndarray  # (E, A) settled futures P&L, cumulative
    cum_fin: np.ndarray  # (E, A) financing paid, cumulative
    cum_fee: np.ndarray  # (E, A) fees paid, cumulative
    cash0: np.ndarray  # (E, A) cash at start
    hold: np.ndarray  # (E, A, N) long shares, bn
    locked: np.ndarray  # (E, A, N) shares bought today (T+1: not sellable today)
    order: np.ndarray  # (E, A, N) scratch: signed share orders after masks
    fill: np.ndarray  # (E, A, N) signed shares filled this step
    fut: np.ndarray  # (E, A, K) futures qty, index units (negative: short)
    fut_order: np.ndarray  # (E, A, K) scratch: futures qty orders after masks
    fut_day_cover: np.ndarray  # (E, A, K) qty covered today (cover cap)
    # ---- int64 ---------------------------------------------------------------------------
    step: np.ndarray  # (E,) steps taken this episode
    day: np.ndarray  # (E,) trading day index
    rule: np.ndarray  # (E, A) peer rule: 0 threshold, 1 target, 2 margin_trigger
    call_deadline: np.ndarray  # (E, A) step by which a margin call must be cured
    priority: np.ndarray  # (E, A) clearing priority this step (0 first; sequential mode)
    prio_order: np.ndarray  # (E, A) managers by priority this step (stable argsort of priority)
    # ---- bool ----------------------------------------------------------------------------
    reg_active: np.ndarray  # (E,) restrictions in force
    halted: np.ndarray  # (E,) circuit breaker: stocks halted for the rest of the day
    done: np.ndarray  # (E,) episode over (horizon reached)
    at_ld: np.ndarray  # (E, N) at limit-down after this step
    at_lu: np.ndarray  # (E, N) at limit-up after this step
    limit_locked: np.ndarray  # (E, N) this step's clearing locked at a price limit (the rest unfilled)
    controlled: np.ndarray  # (E, A) orders come from actions (else the peer rule)
    active: np.ndarray  # (E, A) the manager placed stock orders this step (before masks)
    call_active: np.ndarray  # (E, A) margin call outstanding
    liquidated: np.ndarray  # (E, A) broker has taken over (forced liquidation)
    warning: np.ndarray  # (E, A) margin ratio below the warning line
    knocked: np.ndarray  # (E, K, B) snowball tranche knocked in


@intrinsic
def _view(typingctx, buf, o, shape):
    """C-contiguous view of ``buf`` (1-d, C) starting at element ``o`` with ``shape`` (a tuple of
    int64): a pointer offset and the strides, nothing else (numpy's reshape algorithm, which
    ``buf[o:o + n].reshape(shape)`` runs, costs tens of nanoseconds per view). The view shares
    ``buf``'s memory owner, so it counts as a borrowed reference where NRT is on and costs no
    reference counting where it is off (the ``kernel``/``entry`` functions)."""
    nd = len(shape)
    ret = types.Array(buf.dtype, nd, "C")

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        dst = make_array(ret)(context, builder)
        dims = cgutils.unpack_tuple(builder, args[2], nd)
        strides = [src.itemsize] * nd
        for d in range(nd - 2, -1, -1):
            strides[d] = builder.mul(strides[d + 1], dims[d + 1])
        populate_array(dst, data=builder.gep(src.data, [args[1]]), shape=dims, strides=strides,
                       itemsize=src.itemsize, meminfo=src.meminfo, parent=src.parent)
        return impl_ret_borrowed(context, builder, ret, dst._getvalue())

    return ret(buf, o, shape), codegen


# The helpers and the two view builders are inlined into their jitted callers (numba IR
# inlining), so the views are built with the caller's reference-counting mode. In sizing mode
# (empty buffer) the views are empty and only the returned offsets matter; offsets start as
# np.int64(0) so that no helper is typed for a literal 0.
@njit(cache=True, inline="always")
def _f1(buf, o, n0):
    if buf.size == 0:
        return _view(buf, o - o, (o - o,)), o + n0
    return _view(buf, o, (n0,)), o + n0


@njit(cache=True, inline="always")
def _f2(buf, o, n0, n1):
    n = n0 * n1
    if buf.size == 0:
        return _view(buf, o - o, (o - o, n1)), o + n
    return _view(buf, o, (n0, n1)), o + n


@njit(cache=True, inline="always")
def _f3(buf, o, n0, n1, n2):
    n = n0 * n1 * n2
    if buf.size == 0:
        return _view(buf, o - o, (o - o, n1, n2)), o + n
    return _view(buf, o, (n0, n1, n2)), o + n


@njit(cache=True, inline="always")
def universe_views_nb(uf, ui, dims):
    """Named views of the universe buffers; with empty buffers, only the sizes are meaningful.

    Returns:
        (Universe, n_float, n_int)
    """
    N, K, T, B, C = dims[D.N], dims[D.K], dims[D.T], dims[D.B], dims[D.C]
    o = np.int64(0)
    price0, o = _f1(uf, o, N)
    adv, o = _f1(uf, o, N)
    sigma, o = _f1(uf, o, N)
    margin_rate, o = _f1(uf, o, N)
    beta, o = _f1(uf, o, N)
    size_load, o = _f1(uf, o, N)
    limit, o = _f1(uf, o, N)
    tier_w, o = _f1(uf, o, N)
    index_w, o = _f2(uf, o, K, N)
    nt_w, o = _f1(uf, o, N)
    ie_shares, o = _f1(uf, o, N)
    nf_shares, o = _f1(uf, o, N)
    nf_hedge, o = _f1(uf, o, K)
    sb_notional, o = _f2(uf, o, K, B)
    sb_ki, o = _f2(uf, o, K, B)
    sb_tenor, o = _f2(uf, o, K, B)
    normal_basis, o = _f1(uf, o, K)
    fut_depth, o = _f1(uf, o, K)
    nf_thr, o = _f1(uf, o, C)
    ie_thr, o = _f1(uf, o, C)
    oi = np.int64(0)
    tier, oi = _f1(ui, oi, N)
    board, oi = _f1(ui, oi, N)
    tier_start, oi = _f1(ui, oi, T + 1)
    u = Universe(price0, adv, sigma, margin_rate, beta, size_load, limit, tier_w, index_w, nt_w,
                 ie_shares, nf_shares, nf_hedge, sb_notional, sb_ki, sb_tenor, normal_basis, fut_depth,
                 nf_thr, ie_thr,
                 tier, board, tier_start)
    return u, o, oi


@njit(cache=True, inline="always")
def state_views_nb(sf, si, sb, dims):
    """Named views of the state buffers; with empty buffers, only the sizes are meaningful.

    Returns:
        (State, n_float, n_int, n_bool)
    """
    E, A, N, K, T, B, C = dims[D.E], dims[D.A], dims[D.N], dims[D.K], dims[D.T], dims[D.B], dims[D.C]
    o = np.int64(0)
    price, o = _f2(sf, o, E, N)
    prev_close, o = _f2(sf, o, E, N)
    lo, o = _f2(sf, o, E, N)
    hi, o = _f2(sf, o, E, N)
    log_fund, o = _f2(sf, o, E, N)
    transient, o = _f2(sf, o, E, N)
    volume_step, o = _f2(sf, o, E, N)
    volume_day, o = _f2(sf, o, E, N)
    lp_inv, o = _f2(sf, o, E, N)
    bg_pending, o = _f2(sf, o, E, N)
    gross_buy, o = _f2(sf, o, E, N)
    gross_sell, o = _f2(sf, o, E, N)
    exec_price, o = _f2(sf, o, E, N)
    fill_buy, o = _f2(sf, o, E, N)
    fill_sell, o = _f2(sf, o, E, N)
    bg_buy, o = _f2(sf, o, E, N)
    bg_sell, o = _f2(sf, o, E, N)
    nt_order, o = _f2(sf, o, E, N)
    lp_order, o = _f2(sf, o, E, N)
    fund_order, o = _f2(sf, o, E, N)
    tier_level, o = _f2(sf, o, E, T)
    tier_peak, o = _f2(sf, o, E, T)
    tier_prev_close, o = _f2(sf, o, E, T)
    stress, o = _f2(sf, o, E, T)
    tier_sell_flow, o = _f2(sf, o, E, T)
    tier_value_day, o = _f2(sf, o, E, T)
    tier_ld_share, o = _f2(sf, o, E, T)
    index_level, o = _f2(sf, o, E, K)
    index_prev_close, o = _f2(sf, o, E, K)
    index_peak, o = _f2(sf, o, E, K)
    basis, o = _f2(sf, o, E, K)
    fut_price, o = _f2(sf, o, E, K)
    fut_settle, o = _f2(sf, o, E, K)
    days_left, o = _f2(sf, o, E, K)
    dealer_qty, o = _f2(sf, o, E, K)
    fut_flow, o = _f2(sf, o, E, K)
    nf_qty, o = _f2(sf, o, E, K)
    ov_qty, o = _f2(sf, o, E, K)
    nf_frac, o = _f2(sf, o, E, C)
    ie_frac, o = _f2(sf, o, E, C)
    nt_budget, o = _f1(sf, o, E)
    nt_spent_today, o = _f1(sf, o, E)
    lp_cash, o = _f1(sf, o, E)
    ld_share, o = _f1(sf, o, E)
    ld_share_close, o = _f1(sf, o, E)
    ld_share_peak, o = _f1(sf, o, E)
    cash, o = _f2(sf, o, E, A)
    equity, o = _f2(sf, o, E, A)
    equity0, o = _f2(sf, o, E, A)
    gross, o = _f2(sf, o, E, A)
    gross0, o = _f2(sf, o, E, A)
    leverage, o = _f2(sf, o, E, A)
    margin_ratio, o = _f2(sf, o, E, A)
    required, o = _f2(sf, o, E, A)
    lev0, o = _f2(sf, o, E, A)
    lev_max, o = _f2(sf, o, E, A)
    day_net_sold, o = _f2(sf, o, E, A)
    sold_step, o = _f2(sf, o, E, A)
    bought_step, o = _f2(sf, o, E, A)
    unfilled_step, o = _f2(sf, o, E, A)
    cut_step, o = _f2(sf, o, E, A)
    intended_cum, o = _f2(sf, o, E, A)
    sold_cum, o = _f2(sf, o, E, A)
    cum_buy, o = _f2(sf, o, E, A)
    cum_sell, o = _f2(sf, o, E, A)
    cum_fut, o = _f2(sf, o, E, A)
    cum_fin, o = _f2(sf, o, E, A)
    cum_fee, o = _f2(sf, o, E, A)
    cash0, o = _f2(sf, o, E, A)
    hold, o = _f3(sf, o, E, A, N)
    locked, o = _f3(sf, o, E, A, N)
    order, o = _f3(sf, o, E, A, N)
    fill, o = _f3(sf, o, E, A, N)
    fut, o = _f3(sf, o, E, A, K)
    fut_order, o = _f3(sf, o, E, A, K)
    fut_day_cover, o = _f3(sf, o, E, A, K)
    oi = np.int64(0)
    step, oi = _f1(si, oi, E)
    day, oi = _f1(si, oi, E)
    rule, oi = _f2(si, oi, E, A)
    call_deadline, oi = _f2(si, oi, E, A)
    priority, oi = _f2(si, oi, E, A)
    prio_order, oi = _f2(si, oi, E, A)
    ob = np.int64(0)
    reg_active, ob = _f1(sb, ob, E)
    halted, ob = _f1(sb, ob, E)
    done, ob = _f1(sb, ob, E)
    at_ld, ob = _f2(sb, ob, E, N)
    at_lu, ob = _f2(sb, ob, E, N)
    limit_locked, ob = _f2(sb, ob, E, N)
    controlled, ob = _f2(sb, ob, E, A)
    active, ob = _f2(sb, ob, E, A)
    call_active, ob = _f2(sb, ob, E, A)
    liquidated, ob = _f2(sb, ob, E, A)
    warning, ob = _f2(sb, ob, E, A)
    knocked, ob = _f3(sb, ob, E, K, B)
    s = State(price, prev_close, lo, hi, log_fund, transient, volume_step, volume_day, lp_inv,
              bg_pending, gross_buy, gross_sell, exec_price, fill_buy, fill_sell, bg_buy, bg_sell,
              nt_order, lp_order, fund_order,
              tier_level, tier_peak, tier_prev_close, stress, tier_sell_flow, tier_value_day,
              tier_ld_share,
              index_level, index_prev_close, index_peak, basis, fut_price, fut_settle, days_left,
              dealer_qty, fut_flow, nf_qty, ov_qty,
              nf_frac, ie_frac, nt_budget, nt_spent_today, lp_cash, ld_share, ld_share_close,
              ld_share_peak,
              cash, equity, equity0, gross, gross0, leverage, margin_ratio, required, lev0, lev_max,
              day_net_sold, sold_step, bought_step, unfilled_step, cut_step, intended_cum,
              sold_cum, cum_buy, cum_sell, cum_fut, cum_fin, cum_fee, cash0,
              hold, locked, order, fill, fut, fut_order, fut_day_cover,
              step, day, rule, call_deadline, priority, prio_order,
              reg_active, halted, done, at_ld, at_lu, limit_locked, controlled, active, call_active, liquidated, warning,
              knocked)
    return s, o, oi, ob


def n_actions(dims: np.ndarray) -> int:
    """Action width per manager: one per tier, then one per futures contract."""
    return int(dims[D.T] + dims[D.K])


def n_shocks(dims: np.ndarray) -> int:
    """Shock width per env: market, size, N idiosyncratic, N noise-flow, K basis, A priority."""
    return int(2 + 2 * dims[D.N] + dims[D.K] + dims[D.A])


class Shock(IntEnum):
    """Offsets into one env's shock row (the idio and noise blocks have length N)."""

    MKT = 0
    SIZE = 1
    IDIO = 2  # then N values; noise at IDIO + N; basis at IDIO + 2N; priority at IDIO + 2N + K


class Buffers(NamedTuple):
    """The flat buffers behind a State (what envs own, copy and pickle)."""

    sf: np.ndarray  # float64
    si: np.ndarray  # int64
    sb: np.ndarray  # bool


def allocate_state(dims: np.ndarray) -> tuple[Buffers, State]:
    """Zeroed buffers for ``dims`` and their named views."""
    e0, e1, e2 = np.empty(0), np.empty(0, np.int64), np.empty(0, np.bool_)
    _, nf, ni, nb = state_views_nb(e0, e1, e2, dims)
    buf = Buffers(np.zeros(nf), np.zeros(ni, np.int64), np.zeros(nb, np.bool_))
    return buf, views(buf, dims)


def env_segments(dims: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each env's part of every field lies in the flat buffers for ``dims``: per buffer
    (sf, si, sb), an (F, 2) int64 array of (offset of the field, elements per env); env e's part
    of field f is ``buf[off + e * n: off + (e + 1) * n]`` (every field's leading axis is E)."""
    buf, s = allocate_state(dims)
    out = []
    for b in buf:
        base = b.__array_interface__["data"][0]
        rows = [((v.__array_interface__["data"][0] - base) // b.itemsize, v[0].size)
                for v in s if v.dtype == b.dtype and v.size]
        out.append(np.array(sorted(rows), np.int64).reshape(-1, 2))
    E = int(dims[D.E])
    for b, seg in zip(buf, out):  # the segments tile the buffer exactly
        if int((seg[:, 1] * E).sum()) != b.size:
            raise RuntimeError("state layout: fields do not tile their buffer")
    return out[0], out[1], out[2]


def views(buf: Buffers, dims: np.ndarray) -> State:
    """Named views of existing buffers."""
    return state_views_nb(buf.sf, buf.si, buf.sb, dims)[0]
