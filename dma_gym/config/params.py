"""Frozen, validated configuration of the dma_gym market (MarketConfig) and the AC benchmark."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

TIER_NAMES = ("CSI300", "CSI500", "CSI1000", "CSI2000", "MICRO")
FUTURES_NAMES = ("IF", "IC", "IM")
BOARD_NAMES = ("main", "chinext_star", "bse")
PEER_RULE_NAMES = ("threshold", "target", "margin_trigger")
CLEARING_ORDERS = ("pro_rata", "sequential")


def _p(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    """A config field with an allowed closed range [lo, hi] applied to the value or each element."""
    kw: dict[str, Any] = {"metadata": {"lo": lo, "hi": hi, "doc": doc}}
    if isinstance(default, (tuple, list)):
        return field(default_factory=lambda d=tuple(default): d, **kw)
    return field(default=default, **kw)


def _check_ranges(cfg: Any) -> None:
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
        items = _flatten(value)
        if isinstance(f.default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{type(cfg).__name__}.{f.name}={value!r}: must be True or False")
            continue
        for v in items:
            if isinstance(v, bool):
                raise ValueError(f"{type(cfg).__name__}.{f.name}={value!r}: expected numbers, got bool")
            if not isinstance(v, (int, float)):
                raise ValueError(f"{type(cfg).__name__}.{f.name}={value!r}: expected numbers, got {type(v).__name__}")
            if not math.isfinite(v) and not (v == math.inf and hi is None):
                raise ValueError(f"{type(cfg).__name__}.{f.name}={value!r}: must be finite")
            if lo is not None and v < lo or hi is not None and v > hi:
                raise ValueError(
                    f"{type(cfg).__name__}.{f.name}={value!r}: each value must lie in [{lo}, {hi}]"
                )


def _flatten(value: Any) -> list:
    if isinstance(value, (tuple, list)):
        out: list = []
        for v in value:
            out.extend(_flatten(v))
        return out
    return [value]


def _need_len(cfg: Any, name: str, n: int) -> None:
    value = getattr(cfg, name)
    if not isinstance(value, tuple) or len(value) != n:
        raise ValueError(f"{type(cfg).__name__}.{name}={value!r}: expected a tuple of {n} values")


@dataclass(frozen=True)
class MarketConfig:
    """Every parameter of the DMA market. Units: money in CNY bn, time in trading days.

    Tier order everywhere: CSI300, CSI500, CSI1000, CSI2000, MICRO. Futures order: IF, IC, IM
    (IF hedges CSI300, IC CSI500, IM CSI1000). Sources are cited per field; [M] marks
    order-of-magnitude defaults (see docs/model.md §1.1).
    """

    # ---- clock -------------------------------------------------------------------------
    steps_per_day: int = _p(4, 1, 48, "intraday steps per trading day")
    horizon_days: int = _p(25, 1, 250, "episode length in trading days (Jan 2 - Feb 7 2024 is 25)")

    # ---- universe (docs/model.md §3.1 [M]: orders of magnitude) ----------------------------------
    universe_seed: int = _p(2024, 0, 2**31 - 1, "seed of the synthetic stock universe")
    n_stocks_per_tier: tuple = _p((30, 40, 60, 70, 60), 1, 2000, "synthetic stocks per tier")
    # aggregate free-float cap per tier, CNY bn (CSI300 ~18tn ... micro-caps ~1.5tn) [M]
    tier_float_cap: tuple = _p((18000.0, 6000.0, 5000.0, 4000.0, 1500.0), 1.0, 1e6, "CNY bn")
    # aggregate ADV per tier, CNY bn/day; micro-cap ADV < CNY 20m per name over ~1,000 names
    # (docs/model.md §3.1) [M]
    tier_adv: tuple = _p((300.0, 150.0, 160.0, 100.0, 20.0), 0.1, 1e5, "CNY bn/day")
    # daily volatility: CSI300 1-2%, micro-caps 3-5% (docs/model.md §3.1) [M]
    tier_sigma: tuple = _p((0.012, 0.016, 0.019, 0.023, 0.030), 1e-4, 0.2, "daily vol")
    # the swap's margin on the long leg is swap_margin_share x the tier's collateral haircut.
    # Haircuts = 1 - the exchanges' maximum collateral conversion rates for margin trading:
    # CSI 300 constituents 70%, other A-shares 65% (SSE/SZSE margin-trading rules, docs/model.md
    # §8.3 [M]); micro-caps 50%, a broker's discretionary cut [M]. With the futures' exchange
    # margin (futures_margin) the default book posts ~23% of its long notional: the 20% margin
    # for 4x of seed reports (docs/model.md §8.3 [V]). Rotating to large caps lowers it.
    tier_haircut: tuple = _p((0.30, 0.35, 0.35, 0.35, 0.50), 0.0, 1.0, "collateral haircut per tier")
    swap_margin_share: float = _p(0.21, 0.0, 5.0, "long-leg margin per CNY held / haircut")
    tier_beta: tuple = _p((1.0, 1.05, 1.1, 1.1, 1.05), 0.0, 3.0, "market-factor loading")
    tier_size_loading: tuple = _p((-0.4, 0.0, 0.4, 0.7, 1.0), -3.0, 3.0, "small-minus-big loading")
    # board shares per tier (main +-10%, ChiNext/STAR +-20%, BSE +-30%; docs/model.md §3.2 [V])
    tier_board_probs: tuple = _p(
        ((0.75, 0.25, 0.0), (0.7, 0.3, 0.0), (0.7, 0.28, 0.02), (0.68, 0.27, 0.05), (0.65, 0.25, 0.10)),
        0.0, 1.0, "P(main, ChiNext/STAR, BSE) per tier",
    )
    board_limits: tuple = _p((0.10, 0.20, 0.30), 0.01, 1.0, "daily price limit per board")
    universe_dispersion: float = _p(0.3, 0.0, 2.0, "log-normal spread of per-stock cap/ADV/vol")
    index_base: tuple = _p((3386.0, 5328.0, 5677.0), 1.0, 1e6, "IF/IC/IM index points at start")

    # ---- exogenous factor returns (daily units) --------------------------------------------------
    market_drift: float = _p(0.0, -0.1, 0.1, "market factor drift per day")
    market_vol: float = _p(0.010, 0.0, 0.2, "market factor vol per sqrt(day)")
    size_drift: float = _p(0.0, -0.1, 0.1, "small-minus-big drift per day (style reversal < 0)")
    size_vol: float = _p(0.006, 0.0, 0.2, "small-minus-big vol per sqrt(day)")
    idio_scale: float = _p(0.8, 0.0, 5.0, "idiosyncratic vol as a multiple of the stock's sigma")
    shock_day: int = _p(-1, -1, 10000, "day of a one-off factor shock (-1: none, whatever the range)")
    shock_market: float = _p(0.0, -0.5, 0.5, "market factor move on shock_day")
    shock_size: float = _p(0.0, -0.5, 0.5, "size factor move on shock_day")
    # a stochastic stress: each episode draws its own path around the values above (docs/model.md
    # §4.2): normal drifts and shock sizes, and a shock day uniform over shock_day_range
    market_drift_sd: float = _p(0.0, 0.0, 0.1, "per-episode spread of market_drift")
    size_drift_sd: float = _p(0.0, 0.0, 0.1, "per-episode spread of size_drift")
    shock_day_range: tuple = _p((-1, -1), -1, 10000, "shock day drawn from [lo, hi] (-1: shock_day)")
    trend_start_range: tuple = _p((-1, -1), -1, 10000, "drifts start on a session drawn from [lo, hi] (-1: 0)")
    warmup_days_range: tuple = _p((-1, -1), -1, 10000, "sessions run before the episode, from [lo, hi] (-1: 0)")
    shock_market_sd: float = _p(0.0, 0.0, 0.5, "per-episode spread of shock_market")
    shock_size_sd: float = _p(0.0, 0.0, 0.5, "per-episode spread of shock_size")

    # ---- impact and clearing (docs/model.md §5.1–5.3) --------------------------------------------
    impact_exponent: float = _p(0.5, 0.3, 1.0, "square-root law exponent delta (China ~0.7)")
    impact_prefactor: float = _p(0.7, 0.0, 5.0, "Y in Y*sigma*(Q/V)^delta (0.5-1, [M])")
    # the permanent part is ~2/3 of the peak impact after a metaorder (docs/model.md §5.2 [M])
    permanent_impact: float = _p(0.4, 0.0, 5.0, "linear permanent impact, sigma per ADV")
    transient_impact: float = _p(0.2, 0.0, 5.0, "linear transient impact, sigma per ADV")
    transient_half_life: float = _p(0.7, 0.01, 100.0, "transient impact half-life, days")
    fee_rate: float = _p(0.0005, 0.0, 0.05, "fees + half-spread per CNY traded")
    limit_depth: float = _p(0.03, 0.0, 1.0, "ADV share/day that trades at a locked limit")
    price_limits: bool = _p(True, doc="daily price limits on/off")
    clearing_order: int = _p(0, 0, 1, "0 pro rata, 1 sequential (random priority) rationing")

    # ---- liquidity spiral (docs/model.md §6; Brunnermeier & Pedersen 2009, Khandani & Lo 2011) ------
    liquidity_spiral: bool = _p(True, doc="depth falls / vol rises with stress")
    stress_drawdown_weight: float = _p(3.0, 0.0, 100.0, "stress per unit tier drawdown")
    stress_flow_weight: float = _p(0.5, 0.0, 100.0, "stress per ADV of net selling (per day)")
    stress_limit_weight: float = _p(1.0, 0.0, 100.0, "stress per share of names at limit-down")
    stress_mm_weight: float = _p(2.0, 0.0, 100.0, "stress per unit liquidity-provider loss")
    stress_half_life: float = _p(0.5, 0.01, 100.0, "stress adjustment half-life, days")
    depth_drop: float = _p(0.8, 0.0, 0.99, "ADV multiplier is 1 - depth_drop*stress")
    vol_rise: float = _p(1.0, 0.0, 10.0, "vol multiplier is 1 + vol_rise*stress")
    # brokers raise DMA margins with volatility (Brunnermeier & Pedersen 2009; docs/model.md §6.2, §8.3); private terms
    margin_vol_sensitivity: float = _p(0.2, 0.0, 10.0, "margin multiplier 1 + this*stress")

    # ---- futures and basis (docs/model.md §7.1–7.2) ----------------------------------------------
    futures_on: bool = _p(True, doc="basis dynamics on/off (off: futures = index)")
    # normal annualised basis: IC/IM -10% to -15% (FangQuant 2020-21 [V]); IF ~0
    normal_basis_ann: tuple = _p((-0.02, -0.12, -0.13), -1.0, 1.0, "IF/IC/IM, annualised")
    basis_half_life: float = _p(1.0, 0.01, 100.0, "mean reversion half-life, days (5->8 Feb ~0.7)")
    basis_vol: float = _p(0.001, 0.0, 0.1, "basis noise per sqrt(day), fraction")
    # IM (listed Jul 2022, docs/model.md §7.2) is the thinnest contract; 5 Feb: IM2403 fell 9.1% vs the
    # index's 5.9% under short pressure (docs/model.md §13.1) [M]
    futures_depth: tuple = _p((60.0, 17.0, 9.0), 0.1, 1e5, "CNY bn of net flow per 1% basis")
    days_to_expiry: tuple = _p((52.0, 52.0, 52.0), 1.0, 500.0, "front quarter days left")
    futures_limit: float = _p(0.10, 0.01, 1.0, "futures daily limit (docs/model.md §7.2 [V])")
    # cash-and-carry arbitrage caps the premium near the carry; the discount side needs stock
    # borrow, curbed since Oct 2023, so discounts can run (docs/model.md §7.1 [M])
    basis_premium_cap: float = _p(0.05, -1.0, 5.0, "largest annualised futures premium")
    # CFFEX trading margin on gross contract value, charged on the larger side across contracts:
    # IF 12%, IC 14%, IM 15% (IM at listing; docs/model.md §7.2, §8.3)
    futures_margin: tuple = _p((0.12, 0.14, 0.15), 0.0, 1.0, "IF/IC/IM margin per CNY of contract value")

    # ---- snowball dealers (docs/model.md §7.3) ---------------------------------------------------
    snowballs_on: bool = _p(True, doc="dealer hedges and knock-in cliffs on/off")
    snowball_notional: tuple = _p((0.0, 80.0, 130.0), 0.0, 1e4, "CNY bn per IF/IC/IM (~216bn [V])")
    snowball_tranches: int = _p(8, 1, 64, "tranches per underlying")
    # CICC avg KI: CSI500 4,865 / CSI1000 4,997 vs Jan-2024 levels 5,300 / 5,700 => ~88-91%
    snowball_ki_range: tuple = _p((0.80, 0.96), 0.3, 1.0, "KI barrier range, fraction of start")
    snowball_tenor_range: tuple = _p((3.0, 24.0), 0.5, 60.0, "remaining tenor range, months")

    # ---- DMA managers (docs/model.md §8; sources §14.3) ----------------------------------------------
    n_managers: int = _p(9, 1, 256, "managers in one market: index 0 is the learner")
    # peak DMA notional CNY 250-260bn (market talk reported in Chinese media; docs/model.md §8.1) at ~4x => ~60bn equity
    dma_equity: float = _p(60.0, 0.01, 1e5, "total DMA equity, CNY bn")
    leverage: float = _p(4.0, 1.0, 10.0, "initial gross long / equity (~4x [V])")
    leverage_dispersion: float = _p(0.1, 0.0, 0.5, "relative spread of initial leverage")
    hedge_ratio: float = _p(1.0, 0.0, 2.0, "futures short notional / long notional")
    # quants' <5bn-cap holdings rose to 34% in H2-2023 (docs/model.md §8.1 [V]); DMA books tilt further
    dma_tier_weights: tuple = _p((0.05, 0.10, 0.20, 0.25, 0.40), 0.0, 1.0, "long book by tier")
    dma_hedge_weights: tuple = _p((0.0, 0.4, 0.6), 0.0, 1.0, "short book by IF/IC/IM")
    dma_concentration: float = _p(0.6, 0.05, 1.0, "share of a tier's names each book holds")
    financing_rate: float = _p(0.045, 0.0, 0.5, "annual broker financing on borrowed cash")
    # DMA swap margin ladders are private broker terms (docs/model.md §8.4 [M]); books start ~8%
    # above the required margin, the warning line 10% below it, close-out at half of it
    # new exposure (stock buys, added futures shorts) only while the requirement after it stays
    # within equity / margin_initial: the initial margin above the maintenance ladder [M]
    margin_initial: float = _p(1.0, 0.01, 10.0, "margin ratio that new exposure must keep")
    margin_warning: float = _p(0.9, 0.0, 10.0, "margin ratio warning line")
    margin_call: float = _p(0.75, 0.0, 10.0, "margin ratio call line")
    margin_liquidation: float = _p(0.5, 0.0, 10.0, "margin ratio forced-liquidation line")
    # a call is cured by topping up or selling within three sessions (private broker terms [M];
    # with one session 60-70% of the Feb-2024 managers end liquidated, against the roughly halved
    # DMA notional, docs/model.md §13.1)
    call_deadline_days: float = _p(3.0, 0.0, 20.0, "days to cure a call before liquidation")
    leverage_cap: float = _p(6.0, 1.0, 20.0, "gross leverage cap on new buying")
    scale_freeze: bool = _p(False, doc="no new gross exposure (Nov-2023 DMA notional cap)")
    broker_speed: float = _p(1.0, 0.01, 1.0, "share of a liquidated book the broker dumps/step")
    # a mandate that ends with stock still held pays the expected cost of selling it: square-root
    # temporary plus half the linear permanent impact of §5 at the closing stress, over this many
    # days (docs/model.md §8.6)
    mandate_unwind_days: float = _p(1.0, 0.05, 20.0, "days over which a book open at the horizon is sold")
    max_trade_frac: float = _p(0.25, 0.0, 1.0, "action -1 sells this share of a tier per step")
    max_buy_frac: float = _p(0.25, 0.0, 5.0, "action +1 buys this multiple of equity per step")
    max_futures_frac: float = _p(0.25, 0.0, 5.0, "futures action scale, share / x equity")
    # a market-neutral mandate: a learner's futures shorts stay within this multiple of its long
    # book; what its sales or orders leave above it is bought back (docs/model.md §8.5) [M]
    max_hedge_ratio: float = _p(1.2, 0.0, 10.0, "futures shorts / long book, at most")
    peer_rule_mix: tuple = _p((0.4, 0.3, 0.3), 0.0, 1.0, "threshold / target / margin_trigger")
    peer_lev_trigger: tuple = _p((1.15, 1.4), 1.0, 5.0, "threshold rule: lambda_max / own start lev")
    peer_speed: float = _p(0.5, 0.0, 10.0, "peers deleverage this share of the gap per day")

    # ---- regulation (docs/model.md §9) -----------------------------------------------------------
    regulation_on: bool = _p(True, doc="state-triggered restrictions on/off")
    reg_trigger_limit_share: float = _p(0.15, 0.0, 1.0, "close limit-down share that triggers")
    reg_from_day: int = _p(-1, -1, 10000, "force restrictions from this day (-1: only trigger)")
    net_sell_cap: float = _p(0.05, 0.0, 1.0, "max net sell per day, share of initial gross")
    no_reduction: bool = _p(False, doc="when restricted: no stock sales at all")
    futures_no_new_shorts: bool = _p(True, doc="when restricted: no new futures shorts")
    futures_cover_cap: float = _p(1.0, 0.0, 1.0, "when restricted: max cover share per day")
    restrictions_bind_broker: bool = _p(False, doc="sell caps also bind broker liquidation")
    national_team_on: bool = _p(True, doc="national-team ETF buying")
    # Central Huijin stepped up broad-based ETF buying once the sell-off deepened (6 Feb 2024),
    # in CSI 300 and then CSI 500/1000 ETFs, never micro-caps; >CNY 100bn in the first weeks
    # (docs/model.md §9.6 [M])
    nt_budget: float = _p(200.0, 0.0, 1e5, "CNY bn over the episode")
    nt_daily_max: float = _p(30.0, 0.0, 1e5, "CNY bn per day")
    nt_trigger_drawdown: float = _p(0.12, 0.0, 1.0, "index drawdown that starts buying")
    nt_index_weights: tuple = _p((0.5, 0.3, 0.2), 0.0, 1.0, "CSI300/500/1000 ETF split")
    circuit_breaker: bool = _p(False, doc="halt stocks for the day when CSI300 falls cb_threshold")
    cb_threshold: float = _p(0.07, 0.01, 0.5, "CSI300 intraday fall that halts trading")
    correlation_rule: bool = _p(True, doc="DMA long leg must correlate >= corr_min with its hedge")
    corr_min: float = _p(0.8, 0.0, 1.0, "eligibility correlation, docs/model.md §9.5")

    # ---- background populations ----------------------------------------------------------
    noise_flow: float = _p(0.05, 0.0, 10.0, "noise flow, ADV share per sqrt(day)")
    lp_strength: float = _p(0.4, 0.0, 10.0, "liquidity-provider buying per sigma of transient")
    lp_capital: float = _p(200.0, 0.01, 1e6, "LP capital, CNY bn (losses feed stress)")
    # neutral ("平层中性") products ~CNY 200bn at the start of 2024 (Chinese investor commentary "How did quant funds' DMA blow up small caps?" (6–8 Feb 2024)); they quit as the
    # hedge's annualised discount passes 24-45%: they "could not bear" the 40-50% (Wind data quoted in Chinese broker commentary on the DMA unwind (Feb 2024); docs/model.md §13.1)
    neutral_aum: float = _p(200.0, 0.0, 1e5, "unlevered neutral funds, CNY bn")
    neutral_threshold: tuple = _p((0.24, 0.45), 0.0, 5.0, "annualised discount that makes exit")
    neutral_speed: float = _p(0.2, 0.0, 10.0, "exit share per day when over threshold")
    # quant long-only ("量化多头") CNY 1.5-2tn (Chinese investor commentary "How did quant funds' DMA blow up small caps?" (6–8 Feb 2024)); CSI500-enhanced products lagged their
    # index by 12 pp in two weeks and FOFs redeemed (Huatai Securities; Chinese investor commentary, Feb 2024; docs/model.md §10.3): cohorts start
    # redeeming at a 5-11% loss of their book [M]
    enhanced_aum: float = _p(1800.0, 0.0, 1e5, "index-enhanced long-only funds, CNY bn")
    enhanced_threshold: tuple = _p((0.05, 0.11), 0.0, 1.0, "drawdown range that makes redemptions")
    enhanced_speed: float = _p(0.25, 0.0, 10.0, "redemption share per day per unit excess loss")
    neutral_tier_weights: tuple = _p((0.05, 0.2, 0.3, 0.25, 0.2), 0.0, 1.0, "neutral long book")
    # quant long-only books moved down from CSI500 to CSI1000/2000 and micro-caps (Chinese financial press report on quant crowding in micro-caps (reporter Zhu Han, Nov 2023);
    # docs/model.md §8.1: <CNY 5bn stocks 34% of quant holdings)
    enhanced_tier_weights: tuple = _p((0.05, 0.35, 0.35, 0.17, 0.08), 0.0, 1.0, "enhanced book")
    # "could not sell micro-caps, sold CSI 2000, then CSI 1000, then shorted IM" (Chinese investor commentary "How did quant funds' DMA blow up small caps?" (6–8 Feb 2024))
    enhanced_overlay: float = _p(0.9, 0.0, 2.0, "share of funds' stuck sells hedged with futures shorts")
    # fire sellers work orders on normal ADV whatever the day's depth (Coval-Stafford) [M]
    background_participation: float = _p(0.2, 0.0, 10.0, "funds' max sell, share of normal ADV/day")
    cohorts: int = _p(5, 1, 64, "threshold cohorts for neutral and enhanced funds")

    # ---- termination ---------------------------------------------------------------------
    # the episode goes on without control while the broker sells the book through the market, so
    # its rewards carry the fire sale; True ends it once the sale is done, False at the horizon
    terminate_on_liquidation: bool = _p(True, doc="end the learner's episode when the broker's sale is done")
    # rewards are the increments of the manager's utility of NAV, u(x) = log x (reward_crra = 1,
    # the default: the Kelly manager) or (x^(1-g) - 1)/(1 - g), taken at max(x, reward_nav_floor):
    # a mandate that fears ruin more than log utility does (Merton's CRRA manager)
    reward_crra: float = _p(1.0, 0.0, 10.0, "relative risk aversion of the reward's utility of NAV")
    reward_nav_floor: float = _p(0.05, 1e-6, 0.5, "NAV floor of the utility when reward_crra != 1")

    def __post_init__(self) -> None:
        _check_ranges(self)
        for name in ("n_stocks_per_tier", "tier_float_cap", "tier_adv", "tier_sigma",
                     "tier_haircut", "tier_beta", "tier_size_loading", "tier_board_probs",
                     "dma_tier_weights"):
            _need_len(self, name, 5)
        for name in ("futures_margin", "index_base", "normal_basis_ann", "futures_depth", "days_to_expiry",
                     "snowball_notional", "dma_hedge_weights", "nt_index_weights", "board_limits",
                     "peer_rule_mix"):
            _need_len(self, name, 3)
        for name in ("snowball_ki_range", "snowball_tenor_range", "peer_lev_trigger",
                     "neutral_threshold", "enhanced_threshold", "shock_day_range",
                     "warmup_days_range", "trend_start_range"):
            _need_len(self, name, 2)
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"MarketConfig.{name}={getattr(self, name)!r}: low end exceeds high end")
        for i, row in enumerate(self.tier_board_probs):
            if len(row) != 3 or abs(sum(row) - 1.0) > 1e-9:
                raise ValueError(f"MarketConfig.tier_board_probs[{i}]={row!r}: need 3 probabilities summing to 1")
        for name in ("neutral_tier_weights", "enhanced_tier_weights"):
            _need_len(self, name, 5)
        for name in ("dma_tier_weights", "neutral_tier_weights", "enhanced_tier_weights", "dma_hedge_weights", "nt_index_weights", "peer_rule_mix"):
            if abs(sum(getattr(self, name)) - 1.0) > 1e-9:
                raise ValueError(f"MarketConfig.{name}={getattr(self, name)!r}: must sum to 1")
        for name in ("steps_per_day", "horizon_days", "n_managers", "snowball_tranches", "cohorts",
                     "universe_seed", "shock_day", "reg_from_day", "clearing_order"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise ValueError(f"MarketConfig.{name}={getattr(self, name)!r}: must be an int")
        for name in ("shock_day_range", "warmup_days_range", "trend_start_range"):
            lo, hi = getattr(self, name)
            if not all(isinstance(d, int) and not isinstance(d, bool) for d in (lo, hi)):
                raise ValueError(f"MarketConfig.{name}={(lo, hi)!r}: must be two ints")
            if (lo < 0) != (hi < 0) or hi >= self.horizon_days:
                raise ValueError(
                    f"MarketConfig.{name}={(lo, hi)!r}: need -1 for both (fixed)"
                    f" or 0 <= lo <= hi < horizon_days={self.horizon_days}"
                )
        if not (self.margin_liquidation < self.margin_call <= self.margin_warning <= self.margin_initial):
            raise ValueError(
                f"MarketConfig margin lines inconsistent: need margin_liquidation ({self.margin_liquidation})"
                f" < margin_call ({self.margin_call}) <= margin_warning ({self.margin_warning})"
                f" <= margin_initial ({self.margin_initial})"
            )
        warm = max(self.warmup_days_range[1], 0)
        if self.horizon_days + warm >= min(self.days_to_expiry):
            raise ValueError(
                f"MarketConfig.horizon_days={self.horizon_days} plus the longest warm-up ({warm} sessions,"
                f" warmup_days_range) must be shorter than days_to_expiry {self.days_to_expiry}"
                " (contracts are not rolled)"
            )
        if self.leverage > self.leverage_cap:
            raise ValueError(f"MarketConfig.leverage={self.leverage}: exceeds leverage_cap={self.leverage_cap}")
        if self.leverage * (1 + self.leverage_dispersion) > self.leverage_cap:
            raise ValueError(
                f"MarketConfig.leverage_dispersion={self.leverage_dispersion}: the highest initial leverage "
                f"{self.leverage * (1 + self.leverage_dispersion):.3f} exceeds leverage_cap={self.leverage_cap}"
            )

    # ---- derived values (never stored) -----------------------------------------------------------
    @property
    def n_stocks(self) -> int:
        return int(sum(self.n_stocks_per_tier))

    @property
    def steps(self) -> int:
        return self.horizon_days * self.steps_per_day

    @property
    def dt(self) -> float:
        return 1.0 / self.steps_per_day

    @property
    def model_id(self) -> int:
        """The core's model for this config: 0, the DMA market."""
        return 0

    def replace(self, **overrides: Any) -> "MarketConfig":
        return replace_validated(self, overrides)


@dataclass(frozen=True)
class AlmgrenChrissConfig:
    """The textbook single-stock liquidation (docs/model.md §12.2), exact closed-form benchmark.

    Arithmetic random walk S_k = S_{k-1} + sigma*sqrt(tau)*xi_k - gamma*n_k; execution at
    S_{k-1} - epsilon*sgn(n_k) - eta*n_k/tau; tau = horizon_days/steps. Defaults: AC-2000 example.
    With ``n_sellers`` = N > 1 each seller holds X and n_k is the sellers' aggregate trade: the
    discrete game of ``agents.closed_form.nash_discrete`` (docs/model.md §12.3).
    """

    initial_shares: float = _p(1e6, 1.0, 1e12, "shares each seller liquidates, X")
    # N > 1: the multi-seller game of docs/model.md §12.3 (all filled at the aggregate impact)
    n_sellers: int = _p(1, 1, 256, "sellers of the one stock, N")
    initial_price: float = _p(50.0, 1e-6, 1e9, "S_0, price units per share")
    sigma: float = _p(0.95, 0.0, 1e6, "price units per share per sqrt(day)")
    horizon_days: float = _p(5.0, 1e-3, 1e4, "T, days")
    steps: int = _p(5, 1, 100000, "N, number of trading intervals")
    epsilon: float = _p(0.0625, 0.0, 1e6, "fixed cost per share (half spread + fees)")
    eta: float = _p(2.5e-6, 0.0, 1e6, "temporary impact, price per (share/day)")
    gamma: float = _p(2.5e-7, 0.0, 1e6, "permanent impact, price per share")
    risk_aversion: float = _p(1e-6, 0.0, 1e3, "lambda in E + lambda*Var, 1/price unit")
    terminate_on_liquidation: bool = _p(True, doc="unused in this scenario (no margin)")

    def __post_init__(self) -> None:
        _check_ranges(self)
        for name in ("steps", "n_sellers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"AlmgrenChrissConfig.{name}={v!r}: must be an int")
        if self.eta_tilde <= 0:
            raise ValueError(
                f"AlmgrenChrissConfig: eta={self.eta} must exceed gamma*tau/2={0.5 * self.gamma * self.tau}"
                " (eta_tilde > 0) for the closed form to exist"
            )

    @property
    def tau(self) -> float:
        return self.horizon_days / self.steps

    @property
    def eta_tilde(self) -> float:
        return self.eta - 0.5 * self.gamma * self.tau

    @property
    def dt(self) -> float:
        return self.tau

    @property
    def model_id(self) -> int:
        """The core's model for this config: 1, the Almgren-Chriss benchmark."""
        return 1

    def replace(self, **overrides: Any) -> "AlmgrenChrissConfig":
        return replace_validated(self, overrides)


def replace_validated(cfg: Any, overrides: dict[str, Any]) -> Any:
    """Return a copy of ``cfg`` with ``overrides``; unknown names raise ValueError listing the fields."""
    names = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(
            f"unknown {type(cfg).__name__} field(s) {unknown}; allowed: {', '.join(sorted(names))}"
        )
    fixed = {}
    for k, v in overrides.items():
        # lists from JSON/CLI become tuples so configs stay hashable and frozen
        fixed[k] = _to_tuple(v) if isinstance(v, list) else v
    return dataclasses.replace(cfg, **fixed)


def _to_tuple(v: Any) -> Any:
    return tuple(_to_tuple(x) for x in v) if isinstance(v, (list, tuple)) else v


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> one-line doc with the allowed range."""
    out = {}
    for f in dataclasses.fields(cls):
        m = f.metadata
        rng = "" if m.get("lo") is None and m.get("hi") is None else f" [{m.get('lo')}, {m.get('hi')}]"
        out[f.name] = f"{m.get('doc', '')}{rng}"
    return out
