"""Memory layout of the core: the state, the universe and one env's shock row, declared once as
field tables (the indices of everything else are in ``enums``).

The core keeps all state in three flat buffers (float64, int64, bool) and the universe in two
(float64, int64); scalar parameters are the float64 array ``pf`` indexed by :class:`P`. A jitted
call then takes a handful of arrays instead of ~120, while every kernel sees named, shaped views.
``STATE_FIELDS``, ``UNIVERSE_FIELDS`` and ``SHOCK_FIELDS`` are the single source of truth: the ``State`` and
``Universe`` NamedTuples, the buffer sizes, the per-env segments, the Python views and the
jitted view builders (``state_views_nb``, ``universe_views_nb``, ``shock_views_nb``: numba intrinsics that emit a
pointer offset and strides per field straight into their caller) are all generated from them.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np import numpy_support
from numba.np.arrayobj import make_array, populate_array

from dma_gym.core.enums import D


class Field(NamedTuple):
    """One array of the state or the universe: its buffer, axes (letters of :class:`D`; ``T+1``
    is T + 1) and meaning (units: money CNY bn, shares bn, prices CNY)."""

    name: str
    buffer: int  # 0 float64, 1 int64, 2 bool
    axes: str  # space-separated axis names, e.g. "E A N"
    doc: str


F, I, B_ = 0, 1, 2
BUFFER_DTYPES = (np.float64, np.int64, np.bool_)
_F = Field

UNIVERSE_FIELDS: tuple[Field, ...] = (
    _F("price0", F, "N", "CNY per share at episode start"),
    _F("adv", F, "N", "CNY bn per day, normal times"),
    _F("sigma", F, "N", "daily volatility, fraction"),
    _F("margin_rate", F, "N", "swap margin per CNY held (swap_margin_share x tier haircut)"),
    _F("beta", F, "N", "market-factor loading"),
    _F("size_load", F, "N", "small-minus-big loading"),
    _F("limit", F, "N", "daily price limit, fraction (board)"),
    _F("tier_w", F, "N", "float-cap weight within its tier (sums to 1 per tier)"),
    _F("index_w", F, "K N", "index weights of IF/IC/IM (rows sum to 1)"),
    _F("nt_w", F, "N", "national-team CNY bn per CNY bn of budget (sums to 1 over CSI300-1000)"),
    _F("ie_shares", F, "N", "enhanced funds' shares (bn) per unit of AUM fraction"),
    _F("nf_shares", F, "N", "neutral funds' shares (bn) per unit of AUM fraction"),
    _F("nf_hedge", F, "K", "neutral funds' short qty (index units) per unit of AUM fraction"),
    _F("sb_notional", F, "K B", "snowball notional, CNY bn"),
    _F("sb_ki", F, "K B", "knock-in barrier, fraction of the starting index"),
    _F("sb_tenor", F, "K B", "remaining tenor, months"),
    _F("normal_basis", F, "K", "normal annualised basis (negative: discount)"),
    _F("fut_depth", F, "K", "CNY bn of net futures flow per 1% of basis"),
    _F("fut_margin", F, "K", "exchange margin per CNY of contract value"),
    _F("nf_thr", F, "C", "annualised discount at which a neutral cohort exits"),
    _F("ie_thr", F, "C", "drawdown at which an enhanced cohort faces redemptions"),
    _F("tier", I, "N", "int tier id 0..T-1"),
    _F("board", I, "N", "int board id 0 main, 1 ChiNext/STAR, 2 BSE"),
    _F("tier_start", I, "T+1", "int: tier t is stocks tier_start[t] .. tier_start[t + 1] - 1"),
)

STATE_FIELDS: tuple[Field, ...] = (
    # ---- stocks (E, N) -------------------------------------------------------------------
    _F("price", F, "E N", "official (limit-clipped) price, CNY"),
    _F("prev_close", F, "E N", "previous close, CNY"),
    _F("lo", F, "E N", "today's limit-down price"),
    _F("hi", F, "E N", "today's limit-up price"),
    _F("log_fund", F, "E N", "log of the fundamental price incl. permanent impact"),
    _F("transient", F, "E N", "decaying transient impact, log units"),
    _F("volume_step", F, "E N", "shares traded this step, bn"),
    _F("volume_day", F, "E N", "shares traded today, bn"),
    _F("lp_inv", F, "E N", "liquidity providers' inventory, shares bn"),
    _F("bg_pending", F, "E N", "funds' queued sell orders, shares bn"),
    _F("gross_buy", F, "E N", "scratch: gross buy orders this step, shares"),
    _F("gross_sell", F, "E N", "scratch: gross sell orders this step, shares"),
    _F("exec_price", F, "E N", "clearing price this step, CNY"),
    _F("fill_buy", F, "E N", "share of buy orders filled this step"),
    _F("fill_sell", F, "E N", "share of sell orders filled this step"),
    _F("bg_buy", F, "E N", "scratch: background buy orders, shares"),
    _F("bg_sell", F, "E N", "scratch: background sell orders, shares"),
    _F("nt_order", F, "E N", "scratch: national-team buy orders, shares"),
    _F("lp_order", F, "E N", "scratch: LP signed orders, shares"),
    _F("fund_order", F, "E N", "scratch: funds' sell orders this step, shares"),
    # ---- tiers (E, T) --------------------------------------------------------------------
    _F("tier_level", F, "E T", "float-cap weighted tier index, 1 at start"),
    _F("tier_peak", F, "E T", "running max of tier_level"),
    _F("tier_prev_close", F, "E T", "tier level at the previous close"),
    _F("stress", F, "E T", "liquidity stress in [0, 1]"),
    _F("tier_sell_flow", F, "E T", "net sell value this step / (ADV * dt)"),
    _F("tier_value_day", F, "E T", "traded value today, CNY bn"),
    _F("tier_ld_share", F, "E T", "share of the tier's names at limit-down now"),
    # ---- futures (E, K) ------------------------------------------------------------------
    _F("index_level", F, "E K", "index / index at start"),
    _F("index_prev_close", F, "E K", ""),
    _F("index_peak", F, "E K", "running max"),
    _F("basis", F, "E K", "F / S - 1"),
    _F("fut_price", F, "E K", "futures price, index-start units"),
    _F("fut_settle", F, "E K", "last daily settlement price"),
    _F("days_left", F, "E K", "trading days to expiry"),
    _F("dealer_qty", F, "E K", "snowball dealers' long futures, index units (CNY bn at start)"),
    _F("fut_flow", F, "E K", "net futures flow this step, CNY bn (+ buying)"),
    _F("nf_qty", F, "E K", "neutral funds' futures, index units (negative: short)"),
    _F("ov_qty", F, "E K", "funds' overlay shorts against stuck sell orders, index units"),
    _F("nf_cover", F, "E K", "exiting neutral funds' shorts still to buy back, index units"),
    # ---- funds and env scalars -----------------------------------------------------------
    _F("nf_frac", F, "E C", "neutral cohorts' remaining AUM share"),
    _F("ie_frac", F, "E C", "enhanced cohorts' remaining AUM share"),
    _F("nt_budget", F, "E", "national-team budget left, CNY bn"),
    _F("nt_spent_today", F, "E", "CNY bn"),
    _F("bg_sold_step", F, "E", "funds' queued sales filled this step, CNY bn"),
    _F("lp_cash", F, "E", "LP cash, CNY bn (starts at 0; P&L = cash + inventory value)"),
    _F("ld_share", F, "E", "share of names at limit-down now"),
    _F("ld_share_close", F, "E", "share of names closing limit-down at the last close"),
    _F("ld_share_peak", F, "E", "max over closes of ld_share_close"),
    _F("mkt_drift", F, "E", "this episode's market-factor drift per day"),
    _F("size_drift", F, "E", "this episode's small-minus-big drift per day"),
    _F("shock_mkt", F, "E", "this episode's market-factor move on its shock day"),
    _F("shock_size", F, "E", "this episode's size-factor move on its shock day"),
    # ---- managers (E, A) -----------------------------------------------------------------
    _F("cash", F, "E A", "CNY bn (negative: financed by the broker)"),
    _F("equity", F, "E A", "cash + stock value + unsettled futures P&L"),
    _F("equity0", F, "E A", "equity at episode start"),
    _F("gross", F, "E A", "long stock value"),
    _F("gross0", F, "E A", "long stock value at start (scale-freeze and net-sell caps)"),
    _F("leverage", F, "E A", "gross / equity (capped for reporting when equity <= 0)"),
    _F("margin_ratio", F, "E A", "equity / required margin"),
    _F("required", F, "E A", "required margin, CNY bn"),
    _F("lev0", F, "E A", "initial leverage = target of the leverage-targeting rule"),
    _F("lev_max", F, "E A", "threshold rule trigger"),
    _F("day_net_sold", F, "E A", "net stock sales today, CNY bn"),
    _F("sold_step", F, "E A", "stock sold this step, CNY bn"),
    _F("bought_step", F, "E A", "stock bought this step, CNY bn"),
    _F("unfilled_step", F, "E A", "sell orders left unfilled this step, CNY bn"),
    _F("cut_step", F, "E A", "orders cut by regulation this step, CNY bn"),
    _F("intended_cum", F, "E A", "intended sells (before cuts), CNY bn, cumulative"),
    _F("sold_cum", F, "E A", "sells filled, CNY bn, cumulative"),
    _F("cum_buy", F, "E A", "cash paid for stock, cumulative"),
    _F("cum_sell", F, "E A", "cash received for stock, cumulative"),
    _F("cum_fut", F, "E A", "settled futures P&L, cumulative"),
    _F("cum_fin", F, "E A", "financing paid, cumulative"),
    _F("cum_fee", F, "E A", "fees paid, cumulative"),
    _F("cash0", F, "E A", "cash at start"),
    _F("hold", F, "E A N", "long shares, bn"),
    _F("locked", F, "E A N", "shares bought today (T+1: not sellable today)"),
    _F("order", F, "E A N", "scratch: signed share orders after masks"),
    _F("fill", F, "E A N", "signed shares filled this step"),
    _F("fut", F, "E A K", "futures qty, index units (negative: short)"),
    _F("fut_order", F, "E A K", "scratch: futures qty orders after masks"),
    _F("fut_day_cover", F, "E A K", "qty covered today (cover cap)"),
    # ---- int64 ---------------------------------------------------------------------------
    _F("step", I, "E", "steps taken this episode"),
    _F("day", I, "E", "trading day index"),
    _F("shock_day", I, "E", "this episode's shock day (-1: none)"),
    _F("warmup", I, "E", "sessions the market ran before this episode's first step"),
    _F("trend_start", I, "E", "session of the year (warm-up included) the drifts start"),
    _F("rule", I, "E A", "peer rule: 0 threshold, 1 target, 2 margin_trigger"),
    _F("call_deadline", I, "E A", "step by which a margin call must be cured"),
    _F("priority", I, "E A", "clearing priority this step (0 first; sequential mode)"),
    _F("prio_order", I, "E A", "managers by priority this step (stable argsort of priority)"),
    # ---- bool ----------------------------------------------------------------------------
    _F("reg_active", B_, "E", "restrictions in force"),
    _F("halted", B_, "E", "circuit breaker: stocks halted for the rest of the day"),
    _F("done", B_, "E", "episode over (horizon reached)"),
    _F("at_ld", B_, "E N", "at limit-down after this step"),
    _F("at_lu", B_, "E N", "at limit-up after this step"),
    _F("limit_locked", B_, "E N", "this step's clearing locked at a price limit (the rest unfilled)"),
    _F("controlled", B_, "E A", "orders come from actions (else the peer rule)"),
    _F("active", B_, "E A", "the manager placed stock orders this step (before masks)"),
    _F("call_active", B_, "E A", "margin call outstanding"),
    _F("liquidated", B_, "E A", "broker has taken over (forced liquidation)"),
    _F("warning", B_, "E A", "margin ratio below the warning line"),
    _F("knocked", B_, "E K B", "snowball tranche knocked in"),
)


SHOCK_FIELDS: tuple[Field, ...] = (  # one env's row of shocks for one step, drawn in this order
    _F("market", F, "1", "market-factor standard normal"),
    _F("size", F, "1", "size-factor standard normal"),
    _F("idio", F, "N", "idiosyncratic standard normals"),
    _F("noise", F, "N", "noise-trader flow standard normals"),
    _F("basis", F, "K", "basis standard normals"),
    _F("priority", F, "A", "clearing-priority uniforms in [0, 1)"),
)


def _namedtuple(name: str, fields: tuple[Field, ...], what: str) -> type:
    cls = NamedTuple(name, [(f.name, np.ndarray) for f in fields])
    rows = "\n".join(f"    {f.name}: ({', '.join(f.axes.split())}) {BUFFER_DTYPES[f.buffer].__name__}, {f.doc}"
                     for f in fields)
    cls.__doc__ = f"{what}\n\nFields (axes, dtype, meaning):\n\n{rows}\n"
    cls.__module__ = __name__
    return cls


Universe = _namedtuple("Universe", UNIVERSE_FIELDS, "Static per-stock and per-contract arrays (from the universe seed).")
State = _namedtuple("State", STATE_FIELDS, "All mutable state; every field's leading axis is E (envs).")
Shocks = _namedtuple("Shocks", SHOCK_FIELDS, "One env's shocks for one step (normals, then the priority uniforms).")


def _dim(dims: np.ndarray, axis: str) -> int:
    if axis == "1":
        return 1
    return int(dims[D.T]) + 1 if axis == "T+1" else int(dims[D[axis]])


def field_shapes(fields: tuple[Field, ...], dims: np.ndarray) -> list[tuple[int, ...]]:
    """The shape of every field for ``dims``."""
    return [tuple(_dim(dims, a) for a in f.axes.split()) for f in fields]


def _offsets(fields: tuple[Field, ...], dims: np.ndarray) -> tuple[list[int], list[int]]:
    """Each field's offset in its buffer, and each buffer's size."""
    size = [0, 0, 0]
    offs = []
    for f, shape in zip(fields, field_shapes(fields, dims)):
        offs.append(size[f.buffer])
        size[f.buffer] += int(np.prod(shape, dtype=np.int64))
    return offs, size


def _views(fields: tuple[Field, ...], cls: type, bufs: tuple[np.ndarray, ...], dims: np.ndarray):
    offs, size = _offsets(fields, dims)
    for b, buf in enumerate(bufs):
        if buf.size != size[b] or buf.dtype != BUFFER_DTYPES[b] or not buf.flags.c_contiguous:
            raise ValueError(f"{cls.__name__} buffer {b}: expected {size[b]} contiguous "
                             f"{BUFFER_DTYPES[b].__name__}, got {buf.size} {buf.dtype}")
    return cls(*(bufs[f.buffer][o: o + int(np.prod(shape, dtype=np.int64))].reshape(shape)
                 for f, o, shape in zip(fields, offs, field_shapes(fields, dims))))


def universe_sizes(dims: np.ndarray) -> tuple[int, int]:
    """(float64, int64) sizes of the universe buffers."""
    return tuple(_offsets(UNIVERSE_FIELDS, dims)[1][:2])


def universe_views(uf: np.ndarray, ui: np.ndarray, dims: np.ndarray):
    """Named numpy views of the universe buffers."""
    return _views(UNIVERSE_FIELDS, Universe, (uf, ui), dims)


def _views_sig(fields: tuple[Field, ...], cls: type, buf_types: tuple, dims_type):
    """(signature, codegen) of a jitted view builder over ``fields``: for each field, a
    C-contiguous view of its buffer at the running offset (a pointer offset and strides; no
    reshape algorithm, no reference counting beyond what the caller's NRT mode does)."""
    for b, t in enumerate(buf_types):
        if not (isinstance(t, types.Array) and t.ndim == 1 and t.dtype == numpy_support.from_dtype(np.dtype(BUFFER_DTYPES[b]))):
            return None
    if not (isinstance(dims_type, types.Array) and dims_type.dtype == types.int64 and dims_type.ndim == 1):
        return None
    field_types = [types.Array(buf_types[f.buffer].dtype, len(f.axes.split()), "C") for f in fields]
    ret = types.NamedTuple(field_types, cls)
    nb = len(buf_types)

    def codegen(context, builder, sig, args):
        bufs = [make_array(sig.args[b])(context, builder, args[b]) for b in range(nb)]
        darr = make_array(sig.args[nb])(context, builder, args[nb])
        i64 = context.get_value_type(types.int64)
        cache: dict[str, object] = {}

        def dim(axis: str):
            if axis not in cache:
                if axis == "1":
                    cache[axis] = i64(1)
                elif axis == "T+1":
                    cache[axis] = builder.add(dim("T"), i64(1))
                else:
                    cache[axis] = builder.load(builder.gep(darr.data, [i64(int(D[axis]))]))
            return cache[axis]

        offs = [i64(0)] * nb
        values = []
        for f, aty in zip(fields, field_types):
            src = bufs[f.buffer]
            shape = [dim(a) for a in f.axes.split()]
            strides = [src.itemsize] * len(shape)
            for d in range(len(shape) - 2, -1, -1):
                strides[d] = builder.mul(strides[d + 1], shape[d + 1])
            dst = make_array(aty)(context, builder)
            populate_array(dst, data=builder.gep(src.data, [offs[f.buffer]]), shape=shape, strides=strides,
                           itemsize=src.itemsize, meminfo=src.meminfo, parent=src.parent)
            values.append(dst._getvalue())
            n = shape[0]
            for x in shape[1:]:
                n = builder.mul(n, x)
            offs[f.buffer] = builder.add(offs[f.buffer], n)
        tup = context.make_tuple(builder, ret, values)
        return impl_ret_borrowed(context, builder, ret, tup)

    return ret(*buf_types, dims_type), codegen


@intrinsic
def universe_views_nb(typingctx, uf, ui, dims):
    """Jitted: the named ``Universe`` views of ``uf`` (float64) and ``ui`` (int64) for ``dims``
    (buffers sized by ``universe_sizes``)."""
    return _views_sig(UNIVERSE_FIELDS, Universe, (uf, ui), dims)


@intrinsic
def shock_views_nb(typingctx, z, dims):
    """Jitted: the named ``Shocks`` views of one env's shock row ``z`` (float64) for ``dims``."""
    return _views_sig(SHOCK_FIELDS, Shocks, (z,), dims)


def shock_views(z: np.ndarray, dims: np.ndarray):
    """Named numpy views of one env's shock row."""
    return _views(SHOCK_FIELDS, Shocks, (z,), dims)


@intrinsic
def state_views_nb(typingctx, sf, si, sb, dims):
    """Jitted: the named ``State`` views of the buffers ``sf``, ``si``, ``sb`` for ``dims``
    (buffers from ``allocate_state``)."""
    return _views_sig(STATE_FIELDS, State, (sf, si, sb), dims)


def n_actions(dims: np.ndarray) -> int:
    """Action width per manager: one per tier, then one per futures contract."""
    return int(dims[D.T] + dims[D.K])


def n_shocks(dims: np.ndarray) -> int:
    """Shock width per env (``SHOCK_FIELDS``: market, size, N idiosyncratic, N noise-flow, K
    basis, A priority)."""
    return _offsets(SHOCK_FIELDS, dims)[1][0]


class Buffers(NamedTuple):
    """The flat buffers behind a State (what envs own, copy and pickle)."""

    sf: np.ndarray  # float64
    si: np.ndarray  # int64
    sb: np.ndarray  # bool


def allocate_state(dims: np.ndarray) -> tuple[Buffers, State]:
    """Zeroed buffers for ``dims`` and their named views."""
    size = _offsets(STATE_FIELDS, dims)[1]
    buf = Buffers(*(np.zeros(n, dt) for n, dt in zip(size, BUFFER_DTYPES)))
    return buf, views(buf, dims)


def env_segments(dims: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each env's part of every field lies in the flat buffers for ``dims``: per buffer
    (sf, si, sb), an (F, 2) int64 array of (offset of the field, elements per env); env e's part
    of field f is ``buf[off + e * n: off + (e + 1) * n]`` (every field's leading axis is E)."""
    offs, _ = _offsets(STATE_FIELDS, dims)
    E = int(dims[D.E])
    rows: list[list[tuple[int, int]]] = [[], [], []]
    for f, o, shape in zip(STATE_FIELDS, offs, field_shapes(STATE_FIELDS, dims)):
        n = int(np.prod(shape, dtype=np.int64)) // E
        if n:
            rows[f.buffer].append((o, n))
    return tuple(np.array(r, np.int64).reshape(-1, 2) for r in rows)


def views(buf: Buffers, dims: np.ndarray) -> State:
    """Named numpy views of existing state buffers."""
    return _views(STATE_FIELDS, State, tuple(buf), dims)
