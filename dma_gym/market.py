"""Compiled market: a frozen config turned once into the core's flat parameter buffers, the seeded
universe and the template of every episode's start, which every engine of the scenario shares."""
from __future__ import annotations

import math
from typing import Union

import numba
import numpy as np

from dma_gym.config.params import TIER_NAMES, AlmgrenChrissConfig, MarketConfig
from dma_gym.core.futures_nb import snowball_delta_nb
from dma_gym.core.engine_nb import Model, Template
from dma_gym.core.enums import BP, D, OBS_HIGH, OBS_LOW, PARAMS, P, R
from dma_gym.core.layout import (
    Buffers, State, Universe, allocate_state, env_segments, n_actions, n_shocks, universe_sizes, universe_views,
)

Config = Union[MarketConfig, AlmgrenChrissConfig]
LN2 = math.log(2.0)
PARALLEL_MIN_ENVS = 8  # batches at least this large step envs on parallel threads
TRADING_DAYS = 242.0  # CFFEX annualisation convention (docs/model.md §7.1)


def parallel_chunks(n_envs: int) -> int:
    """How many contiguous chunks a threaded step splits ``n_envs`` envs into: four per numba
    thread (uneven episodes balance out), at most one per env."""
    return min(n_envs, 4 * numba.get_num_threads())


def _decay(dt: float, half_life: float) -> float:
    return math.exp(-LN2 * dt / half_life)


class Market:
    """Everything static about one scenario of the DMA market: dimensions, parameters, universe
    and the start of every episode. ``Market(config)`` builds the model the config belongs to: a
    :class:`MarketConfig` gives this class, an :class:`AlmgrenChrissConfig` its benchmark
    sibling ``almgren_chriss.ACMarket`` (the one place the two part ways in Python).

    Args:
        config: a :class:`MarketConfig` or :class:`AlmgrenChrissConfig`.
    """

    # what one learner acts on and sees; info keys beyond the common ones (valid once an
    # episode is over)
    obs_low: np.ndarray = OBS_LOW
    obs_high: np.ndarray = OBS_HIGH
    extra_info: tuple[str, ...] = ()

    @property
    def entries(self) -> tuple:
        """The core's (serial, threaded) entries for this model (``engine_nb``)."""
        from dma_gym.core import engine_nb
        return engine_nb.engine_step_nb, engine_nb.engine_step_parallel_nb

    def __new__(cls, config: Config):
        if cls is Market and isinstance(config, AlmgrenChrissConfig):
            from dma_gym.almgren_chriss import ACMarket
            cls = ACMarket
        return super().__new__(cls)

    def __getnewargs__(self):
        return (self.config,)

    def __init__(self, config: Config):
        if not isinstance(config, (MarketConfig, AlmgrenChrissConfig)):
            raise ValueError(f"config must be a MarketConfig or AlmgrenChrissConfig, got {type(config).__name__}")
        self.config = config
        self.base_dims = self._dims()
        self.pf = self._scalars()
        self.uf, self.ui = self._universe()
        self.universe: Universe = universe_views(self.uf, self.ui, self.base_dims)
        self.n_actions = n_actions(self.base_dims)
        self.n_shocks = n_shocks(self.base_dims)
        u = self.universe
        if np.any(np.diff(u.tier) < 0):
            raise RuntimeError("universe must be stored tier by tier")
        # dealers' hedge at the start (index = 1, nothing knocked in): the same for every episode
        self._dealer_qty0 = np.array([
            sum(u.sb_notional[k, b] * snowball_delta_nb(1.0, u.sb_ki[k, b], u.sb_tenor[k, b], False)
                for b in range(u.sb_ki.shape[1]))
            for k in range(int(self.base_dims[D.K]))
        ])
        self._bp = self._book_params()
        self._rp = self._facade_params()
        self.act_dim = self._act_dim()
        self.obs_dim = self.obs_low.size
        self._seg_cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._template = self._build_template()

    # ---- shapes --------------------------------------------------------------------------
    @property
    def n_managers(self) -> int:
        return int(self.base_dims[D.A])

    @property
    def n_stocks(self) -> int:
        return int(self.base_dims[D.N])

    @property
    def steps(self) -> int:
        return int(self.pf[P.STEPS])

    @property
    def steps_per_day(self) -> int:
        return int(self.pf[P.STEPS_PER_DAY])

    def dims(self, n_envs: int) -> np.ndarray:
        d = self.base_dims.copy()
        d[D.E] = n_envs
        return d

    def _act_dim(self) -> int:
        return self.n_actions

    def _counts(self) -> tuple[int, int, int, int]:
        """(managers, stocks, snowball tranches, fund cohorts) of this model."""
        c = self.config
        return c.n_managers, c.n_stocks, c.snowball_tranches, c.cohorts

    def _dims(self) -> np.ndarray:
        d = np.zeros(D.SIZE, np.int64)
        d[D.E], d[D.K], d[D.T] = 1, 3, 5  # one env; IF/IC/IM; five size tiers
        d[D.A], d[D.N], d[D.B], d[D.C] = self._counts()
        return d

    # ---- scalar parameters ---------------------------------------------------------------
    def _scalars(self) -> np.ndarray:
        c = self.config
        pf = np.full(P.SIZE, np.nan)
        dt = c.dt
        for name, field, _ in PARAMS:  # read straight from the config
            if field is not None:
                pf[P[name]] = float(getattr(c, field))
        derived = {  # the parameters PARAMS leaves to this builder
            P.TRANS_DECAY: _decay(dt, c.transient_half_life),
            P.STRESS_ALPHA: 1.0 - _decay(dt, c.stress_half_life),
            P.BASIS_ALPHA: 1.0 - _decay(dt, c.basis_half_life),
            P.FIN_RATE: c.financing_rate / TRADING_DAYS,
            P.CALL_STEPS: max(1, round(c.call_deadline_days * c.steps_per_day)),
            P.AC_SIGMA: 0.0, P.AC_EPS: 0.0, P.AC_ETA: 0.0, P.AC_GAMMA: 0.0, P.AC_X0: 0.0,
        }
        for k, v in derived.items():
            pf[k] = float(v)
        missing = [p.name for p in P if p is not P.SIZE and np.isnan(pf[p])]
        if missing:
            raise RuntimeError(f"scalar parameters not set: {missing}")
        return pf

    # ---- universe ------------------------------------------------------------------------
    def _new_universe(self) -> tuple[np.ndarray, np.ndarray, Universe]:
        """Zeroed universe buffers for ``base_dims`` and their named views."""
        nf, ni = universe_sizes(self.base_dims)
        uf, ui = np.zeros(nf), np.zeros(ni, np.int64)
        return uf, ui, universe_views(uf, ui, self.base_dims)

    def _universe(self) -> tuple[np.ndarray, np.ndarray]:
        uf, ui, u = self._new_universe()
        c = self.config
        rng = np.random.default_rng(c.universe_seed)
        disp = c.universe_dispersion
        start = 0
        for t, n in enumerate(c.n_stocks_per_tier):
            sl = slice(start, start + n)
            start += n
            u.tier[sl] = t
            cap = np.exp(disp * 2.0 * rng.standard_normal(n))  # skewed cap distribution
            cap /= cap.sum()
            u.tier_w[sl] = cap
            liq = cap * np.exp(disp * rng.standard_normal(n))
            u.adv[sl] = c.tier_adv[t] * liq / liq.sum()
            u.sigma[sl] = c.tier_sigma[t] * np.exp(0.5 * disp * rng.standard_normal(n))
            u.margin_rate[sl] = c.swap_margin_share * c.tier_haircut[t]
            u.beta[sl] = c.tier_beta[t] * (1.0 + 0.1 * rng.standard_normal(n))
            u.size_load[sl] = c.tier_size_loading[t] + 0.1 * rng.standard_normal(n)
            u.board[sl] = rng.choice(3, size=n, p=np.asarray(c.tier_board_probs[t]))
            u.price0[sl] = np.exp(rng.uniform(math.log(4.0), math.log(60.0), n))
        u.tier_start[1:] = np.cumsum(c.n_stocks_per_tier)
        u.limit[:] = np.asarray(c.board_limits)[u.board]
        for k in range(3):  # IF on CSI300, IC on CSI500, IM on CSI1000
            u.index_w[k] = np.where(u.tier == k, u.tier_w, 0.0)
        u.nt_w[:] = np.asarray(c.nt_index_weights) @ u.index_w
        tw_ie = np.asarray(c.enhanced_tier_weights)[u.tier]
        tw_nf = np.asarray(c.neutral_tier_weights)[u.tier]
        u.ie_shares[:] = c.enhanced_aum * tw_ie * u.tier_w / u.price0
        u.nf_shares[:] = c.neutral_aum * tw_nf * u.tier_w / u.price0
        u.nf_hedge[:] = -c.neutral_aum * np.asarray(c.dma_hedge_weights)
        B = c.snowball_tranches
        for k in range(3):
            u.sb_notional[k] = c.snowball_notional[k] / B
            u.sb_ki[k] = np.linspace(*c.snowball_ki_range, B)
            u.sb_tenor[k] = rng.permutation(np.linspace(*c.snowball_tenor_range, B))
        u.normal_basis[:] = c.normal_basis_ann
        u.fut_depth[:] = c.futures_depth
        u.fut_margin[:] = c.futures_margin
        u.nf_thr[:] = np.linspace(*c.neutral_threshold, c.cohorts)
        u.ie_thr[:] = np.linspace(*c.enhanced_threshold, c.cohorts)
        return uf, ui

    # ---- state ---------------------------------------------------------------------------
    def allocate(self, n_envs: int) -> tuple[Buffers, State, np.ndarray]:
        """Zeroed state buffers for ``n_envs`` envs, their views and the dims array."""
        dims = self.dims(n_envs)
        buf, state = allocate_state(dims)
        return buf, state, dims

    def model(self) -> Model:
        """The core's fixed inputs for this scenario."""
        return Model(self.pf, self._rp, self._bp, self.uf, self.ui, self.obs_low, self.obs_high)

    def template(self, dims: np.ndarray) -> Template:
        """Episode start for a batch of ``dims``: its env segments and the template env."""
        t, tseg = self._template
        return Template(dims, *self._segments(dims), t.sf, t.si, t.sb, *tseg)

    def _facade_params(self) -> np.ndarray:
        rp = np.zeros(R.SIZE)
        rp[R.TERM_ON_LIQ] = float(bool(self.config.terminate_on_liquidation))
        rp[R.CRRA] = self.config.reward_crra
        rp[R.CRRA_FLOOR] = self.config.reward_nav_floor
        return rp

    def _segments(self, dims: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        E = int(dims[D.E])
        seg = self._seg_cache.get(E)
        if seg is None:
            seg = self._seg_cache[E] = env_segments(dims)
        return seg

    def _book_params(self) -> np.ndarray:
        c = self.config
        T, K = int(self.base_dims[D.T]), int(self.base_dims[D.K])
        bp = np.zeros(BP.SIZE + T + K)
        cdf = np.cumsum(c.peer_rule_mix)
        bp[BP.EQUITY] = c.dma_equity
        bp[BP.LEVERAGE] = c.leverage
        bp[BP.LEV_DISPERSION] = c.leverage_dispersion
        bp[BP.CONCENTRATION] = c.dma_concentration
        bp[BP.HEDGE_RATIO] = c.hedge_ratio
        bp[BP.TRIGGER_LO], bp[BP.TRIGGER_HI] = c.peer_lev_trigger
        bp[BP.RULE_CDF0], bp[BP.RULE_CDF1] = cdf[:2] / cdf[-1]
        bp[BP.MKT_DRIFT_SD] = c.market_drift_sd
        bp[BP.SIZE_DRIFT_SD] = c.size_drift_sd
        bp[BP.SHOCK_DAY_LO], bp[BP.SHOCK_DAY_HI] = c.shock_day_range
        bp[BP.SHOCK_MKT_SD] = c.shock_market_sd
        bp[BP.SHOCK_SIZE_SD] = c.shock_size_sd
        bp[BP.WARMUP_LO], bp[BP.WARMUP_HI] = c.warmup_days_range
        bp[BP.TREND_LO], bp[BP.TREND_HI] = c.trend_start_range
        bp[BP.SIZE: BP.SIZE + T] = c.dma_tier_weights
        bp[BP.SIZE + T:] = c.dma_hedge_weights
        return bp

    def _build_template(self) -> tuple[Buffers, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """One env holding everything of a fresh episode that does not depend on the seed."""
        dims = self.dims(1)
        buf, s = allocate_state(dims)
        u = self.universe
        c = self.config
        s.price[0] = u.price0
        s.prev_close[0] = u.price0
        if c.price_limits:
            s.lo[0] = u.price0 * (1.0 - u.limit)
            s.hi[0] = u.price0 * (1.0 + u.limit)
        else:
            s.lo[0] = 0.0
            s.hi[0] = 1e300
        s.log_fund[0] = np.log(u.price0)
        s.tier_level[0] = s.tier_peak[0] = s.tier_prev_close[0] = 1.0
        s.index_level[0] = s.index_peak[0] = s.index_prev_close[0] = 1.0
        s.days_left[0] = c.days_to_expiry
        s.basis[0] = u.normal_basis * s.days_left[0] / TRADING_DAYS if c.futures_on else 0.0
        s.fut_price[0] = s.fut_settle[0] = 1.0 + s.basis[0]
        if c.snowballs_on:
            s.dealer_qty[0] = self._dealer_qty0
        s.nf_qty[0] = u.nf_hedge
        s.nf_frac[0] = 1.0
        s.ie_frac[0] = 1.0
        s.nt_budget[0] = c.nt_budget
        s.mkt_drift[0], s.size_drift[0] = c.market_drift, c.size_drift  # the path's centre
        s.shock_day[0], s.shock_mkt[0], s.shock_size[0] = c.shock_day, c.shock_market, c.shock_size
        # restrictions forced from day 0 are in force from the first step (later days: at the close)
        s.reg_active[0] = bool(c.regulation_on and c.reg_from_day == 0)
        return buf, env_segments(dims)

    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d.pop("universe")  # views into uf/ui: rebuilt on unpickling so they share memory again
        return d

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)
        self.universe = universe_views(self.uf, self.ui, self.base_dims)

    # ---- what a person sees (render.py draws it) -------------------------------------------
    def snapshot(self, s: State, e: int, a: int) -> dict[str, np.ndarray]:
        """What the dashboard plots for manager ``a`` of env ``e`` of state ``s``, now."""
        tier_value = np.bincount(self.universe.tier, weights=s.hold[e, a] * s.price[e], minlength=5)
        return {
            "step": np.array(s.step[e]),
            "tier_level": s.tier_level[e].copy(),
            "basis": s.basis[e] * TRADING_DAYS / np.maximum(s.days_left[e], 1.0),
            "margin_ratio": np.array([s.margin_ratio[e, a]]),
            "exposure": tier_value / s.equity0[e, a],
            "futures": s.fut[e, a] * s.fut_price[e] / s.equity0[e, a],
        }

    def status_line(self, s: State, e: int, a: int) -> str:
        """One line: NAV, leverage, margin, flags, tier moves since the start, IC/IM basis, limit-downs."""
        dd = 1.0 - s.tier_level[e]
        ann = s.basis[e] * TRADING_DAYS / np.maximum(s.days_left[e], 1.0)
        flags = (" CALL" if s.call_active[e, a] else "") + (" LIQUIDATED" if s.liquidated[e, a] else "") \
            + (" RESTRICTED" if s.reg_active[e] else "")
        return (f"day {int(s.day[e]):>2} step {int(s.step[e]):>3} | NAV {s.equity[e, a] / s.equity0[e, a]:.3f} "
                f"lev {s.leverage[e, a]:.2f} margin {s.margin_ratio[e, a]:.2f}{flags} | "
                + " ".join(f"{t} {-d:+.1%}" for t, d in zip(TIER_NAMES, dd))
                + f" | IC {ann[1]:+.0%} IM {ann[2]:+.0%} | LD {s.ld_share[e]:.1%}")
