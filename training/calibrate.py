"""Calibration report: a scenario's heuristic market over many seeds against the Feb-2024 figures.

    python -m training.calibrate --scenario feb2024 [--seeds 64] [--json] [--no-ablations]

No learner: every DMA manager follows its peer rule (threshold, leverage target or margin
trigger), the broker liquidates accounts past the margin ladder, and the background populations,
dealers, regulators and national team act as configured. Seeds 0..N-1 run in one
:class:`dma_gym.Engine` (``reset(seed=0)``: env i seeded with i, as in ``training.demo``; its
books, peers and every exogenous shock come from that env's own random stream in the core), so
every row below and every ablation sees the same books and exogenous shocks per seed. Each figure
is printed as the mean over seeds with its spread (standard deviation and 5-95% range) next to the
reference value and its source (press or research report, or docs/model.md section).

Definitions (per episode unless stated):

* tier drawdown: 1 - tier level at the last close (from the episode start, as ``info
  ["tier_drawdown"]``); the episode is the 25 sessions to 7 Feb 2024. ``trough`` rows take the
  lowest close instead.
* micro/CSI1000 ratio and amplification: ratios of the means over seeds (per-seed ratios blow up
  when a denominator is near zero); their spread is a bootstrap over seeds.
* worst-day limit-down share: the largest share of all names closing limit-down on one day.
* peak discount: the largest annualised futures discount at a daily close, -basis x 242 / days
  to expiry (the ``info["basis_annualized"]`` convention, docs/model.md §7.1).
* forced selling: broker-liquidation sales (accounts the broker has taken over) plus
  margin-call sales (accounts with a call outstanding at the start of the step). A day is a
  forced-selling day when these sales exceed 0.1% of the DMA managers' initial gross long book;
  forced selling stops at the close of the last such day.
* days to converge: sessions from the close at which forced selling stops to the first close
  with the annualised discount back under 15% (0 if it already is). An episode still above 15%
  at the end counts as not converged, with the sessions observed as a lower bound, when at
  least 5 sessions were observed; with fewer it is undetermined and left out, as are episodes
  without forced selling (the ``n`` column says how many episodes a row averages).
* forced-liquidation share: share of managers liquidated by the broker by the end.
* amplification: micro-cap drawdown / drawdown in the same-shock counterfactual in which no DMA
  manager trades (books frozen, margin ladder off; docs/model.md §13.4).
* correlation spike: average pairwise correlation of micro-cap step log returns during the
  forced-selling days (first to last) minus the same before the first one.

Ablations re-run the same seeds with one mechanism switched off through config overrides:

* no DMA leverage: ``leverage=1`` with ``dma_equity`` x the old leverage: the same gross books
  owned outright, so there is no debt, no margin spiral and no forced liquidation, while the
  books' size and micro-cap tilt (the crowding) stay as they are.
* no crowding: ``dma_tier_weights`` set to the universe's float-cap tier weights: the books stop
  piling into small and micro caps (the quant "抱团" of Chinese financial press report on quant crowding in micro-caps (reporter Zhu Han, Nov 2023); docs/model.md §8.1: <¥5bn stocks
  rose to 34% of quant holdings), with the same leverage, size and per-tier name overlap.
* no book overlap: ``dma_concentration=1/n_managers``: each book holds 1/A of each tier's
  names, so a name has one DMA holder on average (pairwise overlap c^2 falls from 36% to about
  1% of names); the tier tilt and aggregate DMA ownership are unchanged.
* no price limits (``price_limits=False``), no sell restrictions (``regulation_on=False``: no
  net-sell caps, no-reduction flag or futures restrictions), no national team
  (``national_team_on=False``), no snowball knock-ins (``snowballs_on=False``: no dealer hedges,
  hence no knock-in cliffs), no liquidity spiral (``liquidity_spiral=False``), no fund overlay
  (``enhanced_overlay=0``: funds do not short futures against sales they cannot get filled).

The importable core is :func:`calibrate`; :func:`format_report` renders its result.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import dma_gym
from dma_gym import Engine
from dma_gym.config import MarketConfig
from dma_gym.core.layout import State
from dma_gym.market import Market
from training.cli import run

CSI300, CSI500, CSI1000, CSI2000, MICRO = range(5)
IF, IC, IM = range(3)
TRADING_DAYS = 242.0
CONVERGED_ANN = 0.15  # back under 15% annualised: the top of the normal IC/IM range (docs/model.md §13.1)
CONVERGE_WITHIN = 5  # sessions (calibration bar)
FORCED_MIN_SHARE = 1e-3  # a forced-selling day sells > 0.1% of the DMA's initial gross long book
BOOTSTRAP = 1000


@dataclass
class Args:
    scenario: str = "feb2024"
    """scenario name (dma_gym.scenarios.names())"""
    seeds: int = 64
    """episodes (seeds 0..seeds-1), run in one batch"""
    json: bool = False
    """print the result as JSON instead of tables"""
    ablations: bool = True
    """also run the one-mechanism-off ablations"""


# ---- batched runs -------------------------------------------------------------------------------
@dataclass
class Run:
    """Daily closes of one batched run of E episodes over D sessions."""

    tier: np.ndarray  # (E, D, T) tier level at each close, 1 at the start
    ld: np.ndarray  # (E, D) share of names closing limit-down
    basis_ann: np.ndarray  # (E, D, K) annualised basis at each close (negative: discount)
    forced: np.ndarray  # (E, D) broker-liquidation + margin-call sales, CNY bn
    micro_ret: np.ndarray  # (E, S, n_micro) step log returns of the micro-cap names
    liquidated: np.ndarray  # (E, A) taken over by the broker by the end
    gross0: np.ndarray  # (E,) the managers' initial gross long book, CNY bn
    steps_per_day: int
    tier0: np.ndarray  # (E, T) tier levels when the episode starts (after any warm-up)
    gross_year: np.ndarray  # (E,) the DMA books' gross long at the year's start (before any warm-up)
    gross_end: np.ndarray  # (E,) ... at the end
    max_premium: np.ndarray  # (E, K) the largest annualised basis at any step (a premium if > 0)


def run_batch(market: Market | MarketConfig, n: int, passive_dma: bool = False) -> Run:
    """Seeds 0..n-1 (env i seeded with i) in one :class:`dma_gym.Engine` with the heuristic
    population (no learner).

    Args:
        market: the scenario's config (or a Market built from it).
        passive_dma: every DMA book is controlled with zero actions (frozen): with the margin
            ladder switched off in the config this is the same-shock counterfactual.
    """
    cfg = market.config if isinstance(market, Market) else market
    A = int(cfg.n_managers)
    eng = Engine(cfg, n, learners=range(A) if passive_dma else ())
    m, s = eng.market, eng.state
    eng.reset(seed=0)
    gross0 = s.gross.sum(1)
    gross_year = s.gross0.sum(1)  # heuristic books were drawn at the year's start
    tier0 = s.tier_level.copy()
    max_prem = np.full(s.basis.shape, -np.inf)
    act = np.zeros((n, A, eng.act_dim)) if passive_dma else None
    micro = np.flatnonzero(m.universe.tier == MICRO)
    spd = int(m.config.steps_per_day)
    days = int(m.config.horizon_days)
    tier = np.zeros((n, days, s.tier_level.shape[1]))
    ld = np.zeros((n, days))
    basis = np.zeros((n, days, s.basis.shape[1]))
    forced = np.zeros((n, days))
    logp = np.zeros((n, m.steps + 1, micro.size))
    logp[:, 0] = np.log(s.price[:, micro])
    for k in range(m.steps):
        under = s.liquidated | s.call_active  # the broker's and margin calls' sales this step
        eng.step(act)
        d = k // spd
        forced[:, d] += (s.sold_step * under).sum(1)
        logp[:, k + 1] = np.log(s.price[:, micro])
        np.maximum(max_prem, s.basis * TRADING_DAYS / np.maximum(s.days_left, 1.0), out=max_prem)
        if (k + 1) % spd == 0:
            _record_close(s, d, tier, ld, basis)
    return Run(tier, ld, basis, forced, np.diff(logp, axis=1), s.liquidated.copy(), gross0, spd, tier0,
               gross_year, s.gross.sum(1), max_prem)


def _record_close(s: State, d: int, tier: np.ndarray, ld: np.ndarray, basis: np.ndarray) -> None:
    tier[:, d] = s.tier_level
    ld[:, d] = s.ld_share_close
    basis[:, d] = s.basis * TRADING_DAYS / np.maximum(s.days_left, 1.0)


def passive_config(cfg: MarketConfig) -> MarketConfig:
    """The counterfactual's config: no margin warnings, calls or liquidations (books frozen)."""
    return cfg.replace(margin_liquidation=0.0, margin_call=1e-6, margin_warning=1e-6)


def all_passive_config(cfg: MarketConfig) -> MarketConfig:
    """Every endogenous population passive (run with ``passive_dma=True``): DMA books frozen,
    neutral funds never exit, enhanced funds never redeem or hedge stuck sales, no snowball
    dealers, no national team. Noise traders and liquidity providers (the market itself) and the
    exogenous path remain."""
    return passive_config(cfg).replace(neutral_threshold=(5.0, 5.0), enhanced_threshold=(1.0, 1.0),
                                       enhanced_overlay=0.0, snowballs_on=False, national_team_on=False)


def calendar_stats(run: Run) -> tuple[float, float, int]:
    """Daily micro-cap tier returns over the episodes: the share of their variance the calendar
    day explains (R^2 of day dummies), and the worst day's mean return across episodes and that
    day (0-based)."""
    lv = np.concatenate([run.tier0[:, None, MICRO], run.tier[:, :, MICRO]], axis=1)
    ret = lv[:, 1:] / lv[:, :-1] - 1.0
    day_mean = ret.mean(0)
    total = ((ret - ret.mean()) ** 2).sum()
    r2 = float(ret.shape[0] * ((day_mean - ret.mean()) ** 2).sum() / total) if total > 0 else math.nan
    return r2, float(day_mean.min()), int(day_mean.argmin())


# ---- per-episode metrics ------------------------------------------------------------------------
def _avg_pair_corr(r: np.ndarray) -> float:
    """Average pairwise correlation of the columns of ``r`` (steps, names); NaN when too short."""
    if r.shape[0] < 4:
        return math.nan
    live = r.std(0) > 0.0
    if live.sum() < 2:
        return math.nan
    c = np.corrcoef(r[:, live].T)
    n = c.shape[0]
    return float((c.sum() - n) / (n * (n - 1)))


def episode_metrics(run: Run) -> dict[str, np.ndarray]:
    """Per-episode metrics, each an (E,) float array (NaN where not applicable)."""
    E, D, _ = run.tier.shape
    final = 1.0 - run.tier[:, -1]
    trough = 1.0 - run.tier.min(1)
    disc = -run.basis_ann
    out = {
        "micro_dd": final[:, MICRO], "csi2000_dd": final[:, CSI2000], "csi1000_dd": final[:, CSI1000],
        "csi500_dd": final[:, CSI500], "csi300_dd": final[:, CSI300],
        "micro_trough": trough[:, MICRO], "csi1000_trough": trough[:, CSI1000],
        "ld_worst": run.ld.max(1),
        "im_peak": disc[:, :, IM].max(1), "ic_peak": disc[:, :, IC].max(1),
        "if_peak": disc[:, :, IF].max(1),
        "liquidated": run.liquidated.mean(1).astype(float),
        "gross_fall": np.where(run.gross_year > 0, 1.0 - run.gross_end / np.where(run.gross_year > 0, run.gross_year, 1.0),
                               np.nan),
        "im_max_premium": run.max_premium[:, IM],
    }
    forced_day = run.forced > FORCED_MIN_SHARE * run.gross0[:, None]
    first = np.full(E, -1)
    last = np.full(E, -1)
    for e in range(E):
        idx = np.flatnonzero(forced_day[e])
        if idx.size:
            first[e], last[e] = idx[0], idx[-1]
    out["forced_days"] = forced_day.sum(1).astype(float)
    out["forced_stop_day"] = np.where(last >= 0, last + 1.0, np.nan)  # sessions, 1-based
    for k, name in ((IM, "im"), (IC, "ic")):
        days = np.full(E, np.nan)
        within = np.full(E, np.nan)
        for e in range(E):
            if last[e] < 0:
                continue
            below = np.flatnonzero(disc[e, last[e]:, k] < CONVERGED_ANN)
            if below.size:
                days[e] = below[0]
                within[e] = float(below[0] <= CONVERGE_WITHIN)
            elif D - 1 - last[e] >= CONVERGE_WITHIN:  # watched long enough: not converged in time
                days[e] = D - last[e]  # a lower bound
                within[e] = 0.0
        out[f"{name}_converge_days"] = days
        out[f"{name}_converged_{CONVERGE_WITHIN}"] = within
    spd = run.steps_per_day
    pre = np.full(E, np.nan)
    stress = np.full(E, np.nan)
    for e in range(E):
        if first[e] < 0:
            continue
        a, b = first[e] * spd, (last[e] + 1) * spd
        pre[e] = _avg_pair_corr(run.micro_ret[e, :a])
        stress[e] = _avg_pair_corr(run.micro_ret[e, a:b])
    out["corr_pre"] = pre
    out["corr_stress"] = stress
    out["corr_spike"] = stress - pre
    return out


# ---- summary statistics -------------------------------------------------------------------------
def _stats(x: np.ndarray) -> dict[str, float]:
    f = np.asarray(x, float)
    f = f[np.isfinite(f)]
    if f.size == 0:
        return {"mean": math.nan, "sd": math.nan, "p5": math.nan, "p95": math.nan, "n": 0}
    return {"mean": float(f.mean()), "sd": float(f.std()), "p5": float(np.quantile(f, 0.05)),
            "p95": float(np.quantile(f, 0.95)), "n": int(f.size)}


def _ratio_stats(num: np.ndarray, den: np.ndarray) -> dict[str, float]:
    """Ratio of means with a bootstrap over episodes for its spread."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    ok = np.isfinite(num) & np.isfinite(den)
    num, den = num[ok], den[ok]
    if num.size == 0 or den.mean() <= 0.0:
        return {"mean": math.nan, "sd": math.nan, "p5": math.nan, "p95": math.nan, "n": int(num.size)}
    idx = np.random.default_rng(0).integers(0, num.size, (BOOTSTRAP, num.size))
    dm = den[idx].mean(1)
    boot = num[idx].mean(1) / np.where(dm > 0.0, dm, np.nan)
    boot = boot[np.isfinite(boot)]
    return {"mean": float(num.mean() / den.mean()), "sd": float(boot.std()),
            "p5": float(np.quantile(boot, 0.05)), "p95": float(np.quantile(boot, 0.95)), "n": int(num.size)}


# (key, label, unit, reference value or None, reference text, source)
ROWS: tuple[tuple[str, str, str, float | None, str, str], ...] = (
    ("micro_dd", "micro-cap tier drawdown", "%", 0.458,
     "-45.8% YTD by 7 Feb (400 smallest: -48%)", "Wind micro-cap index quoted in Chinese broker commentary, Feb 2024; docs/model.md §13.1"),
    ("micro_trough", "micro-cap trough drawdown", "%", 0.50,
     "max drawdown ~50% Jan-Feb 2024", "Changjiang Securities research; docs/model.md §13.1"),
    ("csi2000_dd", "CSI 2000 tier drawdown", "%", 0.333, "-33.3% YTD by 7 Feb", "Wind data quoted in Chinese broker commentary on the DMA unwind (Feb 2024); docs/model.md §13.1"),
    ("csi1000_dd", "CSI 1000 tier drawdown", "%", 0.27,
     "-27% YTD at the 5 Feb low; ~-19% at the 7 Feb close", "Chinese investor commentary citing Wind, Feb 2024; daily index levels; docs/model.md §13.1"),
    ("csi1000_trough", "CSI 1000 trough drawdown", "%", 0.27,
     "-27% at 5 Feb (lowest since 2018)", "docs/model.md §13.1"),
    ("micro_csi1000_ratio", "micro / CSI 1000 drawdown", "x", 1.4,
     "5 Feb: 37.8 / 27.1; 7 Feb: 45.8 / ~19 = 2.4", "Wind figures quoted in Chinese investor and broker commentary, Feb 2024; docs/model.md §13.1"),
    ("csi300_dd", "CSI 300 tier drawdown", "%", None,
     "roughly flat; +0.7% on 5 Feb", "docs/model.md §13.1"),
    ("csi1000_csi300_gap", "CSI 1000 - CSI 300 drawdown", "pts", None,
     ">= 10 pts (calibration bar)", "docs/model.md §13.1"),
    ("ld_worst", "worst-day limit-down share of names", "%", 0.20,
     ">1,000 of ~5,300 names on 5 Feb", "docs/model.md §13.1"),
    ("im_peak", "IM peak annualised discount", "%", 0.58,
     "IM2403 -6.0% = -58% ann. on 5 Feb (40-60%)", "docs/model.md §13.1 (Multin Capital daily index-futures basis tables)"),
    ("ic_peak", "IC peak annualised discount", "%", 0.406,
     "IC2403 -4.19% = -40.6% ann. on 5 Feb", "docs/model.md §13.1 (Multin Capital daily index-futures basis tables)"),
    ("im_converge_days", "IM sessions to <15% after forced selling", "d", 3.0,
     "-58% (5 Feb) -> -2.8% (8 Feb): 3 sessions", "docs/model.md §13.1"),
    (f"im_converged_{CONVERGE_WITHIN}", f"IM back under 15% within {CONVERGE_WITHIN} sessions", "%", 1.0,
     "converged by 8 Feb", "docs/model.md §13.1"),
    ("ic_converge_days", "IC sessions to <15% after forced selling", "d", 3.0,
     "-40.6% (5 Feb) -> -9.5% (8 Feb)", "docs/model.md §13.1"),
    ("forced_stop_day", "session forced selling stops", "d", None,
     "DMA liquidations peak 5-7 Feb (sessions 23-25)", "Chinese investor and industry commentary, Feb 2024; docs/model.md §13.1"),
    ("liquidated", "forced-liquidation share of managers", "%", None,
     "10-50% (calibration bar); products -20% to -80%", "docs/model.md §13.1"),
    ("gross_fall", "fall of the DMA gross long book since the year's start", "%", 0.55,
     "DMA notional ~250bn -> 100-120bn", "Chinese media on the DMA unwind, Feb 2024; docs/model.md §13.1"),
    ("im_max_premium", "IM largest annualised premium (any step)", "%", None,
     "<= 15% (calibration bar); cash-and-carry caps the premium", "docs/model.md §7.1"),
    ("calendar_r2", "share of daily micro-cap return variance the day explains", "", None,
     "<= 0.04 (calibration bar): no crash day on the calendar", "docs/model.md §4.2"),
    ("worst_day_mean", "worst day's mean micro-cap return across episodes", "%", None,
     ">= -3% (calibration bar)", "docs/model.md §4.2"),
    ("passive_ratio", "micro drawdown, every population passive / full", "x", None,
     "<= 0.45 (calibration bar): the stampede, not the path, does most of it", "docs/model.md §13.4"),
    ("amplification", "amplification vs passive-DMA counterfactual", "x", None,
     "DMA unwind as the driver", "docs/model.md §13.4"),
    ("corr_pre", "micro-cap avg pair correlation, before", "", None, "", "Cont & Wagalath 2013; docs/model.md §13.4"),
    ("corr_stress", "micro-cap avg pair correlation, forced selling", "", None,
     "rises (k=0.2: 0 -> 0.47)", "Cont & Wagalath 2013; docs/model.md §13.1, §13.4"),
    ("corr_spike", "correlation spike (forced selling - before)", "", None,
     "> 0", "Cont & Wagalath 2013; docs/model.md §13.4"),
)


# name -> (label, overrides given the scenario config)
# Relative cut of the micro-cap drawdown each ablation must reach. Over the stochastic paths of
# feb2024 removing the leverage cuts it by 26% and removing the crowding by 22% (64 seeds; 33% and
# 30% on the one 2024 path), so both bars sit at 20%, clear of seed noise.
ABLATION_CUT = {"no_leverage": 0.20, "no_crowding": 0.20}
ABLATIONS: dict[str, tuple[str, Callable[[MarketConfig], dict]]] = {
    "no_leverage": ("no DMA leverage",
                    lambda c: {"leverage": 1.0, "dma_equity": c.dma_equity * c.leverage}),
    "no_crowding": ("no crowding (market tier weights)",
                    lambda c: {"dma_tier_weights": _float_cap_weights(c)}),
    "no_overlap": ("no book overlap (1/A of names)",
                   lambda c: {"dma_concentration": 1.0 / c.n_managers}),
    "no_limits": ("no price limits", lambda c: {"price_limits": False}),
    "no_restrictions": ("no sell restrictions", lambda c: {"regulation_on": False}),
    "no_national_team": ("no national team", lambda c: {"national_team_on": False}),
    "no_snowballs": ("no snowball knock-ins", lambda c: {"snowballs_on": False}),
    "no_spiral": ("no liquidity spiral", lambda c: {"liquidity_spiral": False}),
    "no_overlay": ("no fund futures overlay", lambda c: {"enhanced_overlay": 0.0}),
}
ABLATION_COLUMNS = ("micro_dd", "csi1000_dd", "ld_worst", "im_peak", "liquidated")
# ablations whose effect must be told from zero: paired differences over the same seeds with a 95%
# confidence interval (on the micro-cap drawdown or the forced-liquidation share)
EFFECT_ABLATIONS = ("no_restrictions", "no_national_team")
EFFECT_COLUMNS = ("micro_dd", "liquidated")


def _float_cap_weights(c: MarketConfig) -> tuple:
    w = np.asarray(c.tier_float_cap, float)
    w = w / w.sum()
    w[-1] = 1.0 - w[:-1].sum()  # sums to 1 exactly for the config check
    return tuple(float(x) for x in w)


def _bars(scenario: str, rows: dict[str, dict], abl: dict[str, dict]) -> list[dict]:
    """The pass/fail bars for a scenario (the February-2024 figures for feb2024; no crash for calm)."""
    out: list[dict] = []

    def bar(name: str, value: float, target: str, lo: float = -math.inf, hi: float = math.inf) -> None:
        out.append({"bar": name, "value": value, "target": target, "passed": bool(lo <= value <= hi)})

    m = {k: r["mean"] for k, r in rows.items()}
    if scenario == "feb2024":
        bar("10-50% of DMA managers liquidated", m["liquidated"], "0.10-0.50", 0.10, 0.50)
        bar("DMA gross notional falls 40-70%", m["gross_fall"], "0.40-0.70", 0.40, 0.70)
        bar("IM premium never above 15% ann. (max over episodes)", rows["im_max_premium"]["max"], "<= 0.15",
            hi=0.15)
        bar("calendar day explains <= 4% of daily micro-cap variance", m["calendar_r2"], "<= 0.04", hi=0.04)
        bar("no day's mean micro-cap return below -3%", m["worst_day_mean"], ">= -0.03", lo=-0.03)
        bar("every population passive: micro drawdown <= 45% of full", m["passive_ratio"], "<= 0.45", hi=0.45)
        for key in EFFECT_ABLATIONS:
            if key in abl:
                a = abl[key]
                z = max(abs(a[f"{c}_diff"]) / a[f"{c}_ci"] if a[f"{c}_ci"] > 0 else 0.0 for c in EFFECT_COLUMNS)
                bar(f"{ABLATIONS[key][0]}: an effect with a 95% CI excluding 0 (|diff| / CI)", z, "> 1", lo=1.0 + 1e-12)
        bar("micro-cap drawdown in [35%, 55%]", m["micro_dd"], "0.35-0.55", 0.35, 0.55)
        bar("CSI 1000 drawdown in [18%, 35%]", m["csi1000_dd"], "0.18-0.35", 0.18, 0.35)
        bar("micro / CSI 1000 >= 1.3", m["micro_csi1000_ratio"], ">= 1.3", lo=1.3)
        bar("CSI 1000 - CSI 300 >= 10 pts", m["csi1000_csi300_gap"], ">= 0.10", lo=0.10)
        bar("worst-day limit-down share >= 15%", m["ld_worst"], ">= 0.15", lo=0.15)
        bar("IM peak discount >= 30% ann.", m["im_peak"], ">= 0.30", lo=0.30)
        bar(f"IM back under 15% within {CONVERGE_WITHIN} sessions", m["im_converge_days"],
            f"<= {CONVERGE_WITHIN}", hi=CONVERGE_WITHIN)
        for key, lo in ABLATION_CUT.items():
            if key in abl:
                cut = abl[key]["micro_dd_cut"]
                bar(f"{ABLATIONS[key][0]} cuts micro drawdown >= {lo:.0%}", cut, f">= {lo:.2f}", lo=lo)
    elif scenario == "calm":
        bar("micro-cap drawdown < 8%", m["micro_dd"], "< 0.08", hi=0.08)
        bar("micro-cap - CSI 300 drawdown < 5 pts", m["micro_dd"] - m["csi300_dd"], "< 0.05", hi=0.05)
    return out


# ---- the calibration ----------------------------------------------------------------------------
def calibrate(scenario: str = "feb2024", seeds: int = 64, ablations: bool = True, **overrides: Any) -> dict:
    """Run ``scenario`` (with ``overrides``) over ``seeds`` episodes, its passive-DMA
    counterfactual and, optionally, the ablations; return a JSON-ready dict.

    Returns:
        ``{"scenario", "seeds", "overrides", "rows": {key: {label, unit, mean, sd, p5, p95, n,
        reference, reference_text, source}}, "ablations": {key: {label, overrides, <column>:
        mean, micro_dd_cut}}, "bars": [{bar, value, target, passed}], "definitions", "seconds"}``
    """
    t0 = time.perf_counter()
    cfg = dma_gym.scenarios.get(scenario, **overrides)
    if not isinstance(cfg, MarketConfig):
        raise ValueError(f"scenario {scenario!r} has no market to calibrate (the Almgren-Chriss benchmark)")
    base_run = run_batch(cfg, seeds)
    base = episode_metrics(base_run)
    passive = episode_metrics(run_batch(passive_config(cfg), seeds, passive_dma=True))
    inert = episode_metrics(run_batch(all_passive_config(cfg), seeds, passive_dma=True))
    r2, worst, worst_day = calendar_stats(base_run)
    derived = {
        "csi1000_csi300_gap": base["csi1000_dd"] - base["csi300_dd"],
    }
    batch = {"calendar_r2": r2, "worst_day_mean": worst}  # one figure per batch, no spread
    rows: dict[str, dict] = {}
    for key, label, unit, ref, ref_text, source in ROWS:
        if key == "micro_csi1000_ratio":
            st = _ratio_stats(base["micro_dd"], base["csi1000_dd"])
        elif key == "amplification":
            st = _ratio_stats(base["micro_dd"], passive["micro_dd"])
        elif key == "passive_ratio":
            st = _ratio_stats(inert["micro_dd"], base["micro_dd"])
        elif key in batch:
            st = {"mean": batch[key], "sd": math.nan, "p5": math.nan, "p95": math.nan, "n": seeds}
        else:
            st = _stats(derived[key] if key in derived else base[key])
        rows[key] = {"label": label, "unit": unit, **st, "reference": ref, "reference_text": ref_text,
                     "source": source}
    rows["amplification"]["passive_micro_dd"] = _stats(passive["micro_dd"])["mean"]
    rows["amplification"]["passive_csi1000_dd"] = _stats(passive["csi1000_dd"])["mean"]
    rows["worst_day_mean"]["day"] = worst_day
    rows["im_max_premium"]["max"] = float(np.nanmax(base["im_max_premium"]))
    abl: dict[str, dict] = {}
    if ablations:
        b = {c: float(np.nanmean(base[c])) for c in ABLATION_COLUMNS}
        abl["baseline"] = {"label": "baseline", "overrides": {}, **b, "micro_dd_cut": 0.0}
        for key, (label, fn) in ABLATIONS.items():
            ov = fn(cfg)
            met = episode_metrics(run_batch(cfg.replace(**ov), seeds))
            row = {c: float(np.nanmean(met[c])) for c in ABLATION_COLUMNS}
            row["micro_dd_cut"] = 1.0 - row["micro_dd"] / b["micro_dd"] if b["micro_dd"] > 0 else math.nan
            for c in EFFECT_COLUMNS:  # paired: same seeds, ablated - baseline
                d = np.asarray(met[c], float) - np.asarray(base[c], float)
                d = d[np.isfinite(d)]
                row[f"{c}_diff"] = float(d.mean())
                row[f"{c}_ci"] = float(1.96 * d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.nan
            listed = {k: list(v) if isinstance(v, tuple) else v for k, v in ov.items()}
            abl[key] = {"label": label, "overrides": listed, **row}
    return {
        "scenario": scenario, "seeds": seeds, "overrides": overrides, "rows": rows, "ablations": abl,
        "bars": _bars(scenario, rows, abl),
        "definitions": {
            "tier_drawdown": "1 - tier level at the last close (episode start = 1)",
            "forced_selling": (f"broker-liquidation + margin-call sales above {FORCED_MIN_SHARE:.1%} of the "
                               "DMA initial gross long book on a day; it stops at the close of the last such "
                               "day"),
            "converge": (f"sessions from that close to the first close with the annualised discount < "
                         f"{CONVERGED_ANN:.0%}; not converged by the end: the sessions observed (a lower "
                         f"bound) if >= {CONVERGE_WITHIN}, else undetermined and left out"),
            "amplification": "mean micro-cap drawdown / mean with the DMA books frozen (same shocks)",
            "passive_ratio": ("mean micro-cap drawdown with every endogenous population passive (DMA books "
                              "frozen, no fund exits, redemptions or overlays, no dealers, no national team) / "
                              "the full scenario's"),
            "calendar": ("daily micro-cap tier returns of the episodes: R^2 of calendar-day dummies, and "
                         "the lowest day mean across episodes"),
            "effects": "paired ablated - baseline differences over the same seeds, mean +- 1.96 sd / sqrt(n)",
            "ablation_cut": "1 - ablated micro-cap drawdown / baseline micro-cap drawdown",
        },
        "seconds": time.perf_counter() - t0,
    }


# ---- output -------------------------------------------------------------------------------------
def _fmt(x: float | None, unit: str) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    if unit in ("%", "pts"):
        return f"{x * 100:.1f}"
    return f"{x:.2f}"


def format_report(res: dict) -> str:
    """The calibration result as text tables."""
    lines = [f"scenario {res['scenario']!r}: {res['seeds']} seeds, heuristic population (no learner); "
             f"mean [sd; 5-95%] over seeds vs reference"]
    if res["overrides"]:
        lines.append(f"overrides: {res['overrides']}")
    head = (f"{'figure':46} {'unit':>4} {'sim':>7} {'sd':>6} {'5%':>7} {'95%':>7} {'n':>3}   {'ref':>6}  "
            "reference / source")
    lines += ["", head, "-" * len(head)]
    for key, r in res["rows"].items():
        u = r["unit"]
        stats = " ".join(f"{_fmt(r[c], u):>{w}}" for c, w in (("mean", 7), ("sd", 6), ("p5", 7), ("p95", 7)))
        lines.append(f"{r['label']:46} {u:>4} {stats} {r['n']:>3}   {_fmt(r['reference'], u):>6}  "
                     f"{r['reference_text']} [{r['source']}]")
    amp = res["rows"]["amplification"]
    lines.append(f"(passive-DMA counterfactual drawdowns: micro-cap {_fmt(amp['passive_micro_dd'], '%')}%, "
                 f"CSI 1000 {_fmt(amp['passive_csi1000_dd'], '%')}%; worst day: day "
                 f"{res['rows']['worst_day_mean'].get('day', '-')}; IM premium max over episodes "
                 f"{_fmt(res['rows']['im_max_premium'].get('max'), '%')}%)")
    if res["ablations"]:
        lines += ["", "ablations (same seeds, one mechanism off): means; 'cut' = relative fall of the "
                  "micro-cap drawdown"]
        head = (f"{'run':36} {'micro%':>7} {'cut%':>6} {'CSI1000%':>8} {'worstLD%':>8} {'IM peak%':>8} "
                f"{'liquidated%':>11}")
        lines += [head, "-" * len(head)]
        for key, a in res["ablations"].items():
            lines.append(f"{a['label']:36} {a['micro_dd'] * 100:7.1f} {_fmt(a['micro_dd_cut'], '%'):>6} "
                         f"{a['csi1000_dd'] * 100:8.1f} {a['ld_worst'] * 100:8.1f} {a['im_peak'] * 100:8.1f} "
                         f"{a['liquidated'] * 100:11.1f}")
        eff = [(k, a) for k, a in res["ablations"].items() if "micro_dd_diff" in a]
        if eff:
            lines += ["", "paired effects (ablated - baseline, same seeds; mean +- 95% CI, points)"]
            for key, a in eff:
                lines.append(f"  {a['label']:34} micro drawdown {a['micro_dd_diff'] * 100:+.2f} +- "
                             f"{a['micro_dd_ci'] * 100:.2f}   liquidated {a['liquidated_diff'] * 100:+.2f} +- "
                             f"{a['liquidated_ci'] * 100:.2f}")
    if res["bars"]:
        lines += ["", "bars"]
        for b in res["bars"]:
            verdict = "pass" if b["passed"] else "FAIL"
            lines.append(f"  [{verdict}] {b['bar']}: {b['value']:.3f} (target {b['target']})")
    lines.append(f"\n({res['seconds']:.1f}s incl. numba compilation on first run)")
    return "\n".join(lines)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def main(args: Args) -> dict:
    res = calibrate(args.scenario, args.seeds, args.ablations)
    if args.json:
        print(json.dumps(_jsonable(res), indent=1, ensure_ascii=False))
    else:
        print(format_report(res))
    return res


if __name__ == "__main__":
    run(Args, main, "python -m training.calibrate", __doc__.splitlines()[0])
