"""Named scenario presets: frozen configs overridable with keyword arguments."""
from __future__ import annotations

from typing import Any, Callable, Union

from dma_gym.config.params import AlmgrenChrissConfig, MarketConfig

Config = Union[MarketConfig, AlmgrenChrissConfig]


def _calm() -> MarketConfig:
    # Same books, leverage and populations as feb2024, but no style reversal, no shock and no
    # scale cap: the benchmark for "nothing happens unless the mechanisms are pushed".
    return MarketConfig(market_drift=0.0003, size_drift=0.0005, scale_freeze=False)


def _feb2024_replay() -> MarketConfig:
    # The 25 sessions to 7 Feb 2024, on the one exogenous path of 2024 (replay). Exogenous inputs only: the pre-stampede trend and one day's
    # style shock; everything past that (micro-cap -45%, limit-down clusters, the IM discount)
    # must come from leverage, crowding, funds and restrictions.
    # Trend: CSI 1000 fell ~10% in the 17 sessions to 25 Jan (-27% YTD at 5 Feb after -19% in
    # the 7 sessions to it; docs/model.md §13.1) while CSI 300 fell a few %: market and size factors
    # -0.4%/day each give CSI 1000 -0.6%/day, CSI 300 -0.24%/day (loadings 1.1/0.4, 1.0/-0.4).
    # Shock: 5 Feb (session 23) CSI 1000 -6.2% while CSI 300 rose 0.7% (docs/model.md §13.1); the size
    # factor takes -4% of it, the rest is left to the stampede.
    return MarketConfig(
        market_drift=-0.004,
        size_drift=-0.004,
        size_vol=0.008,
        shock_day=22,
        shock_size=-0.04,
        scale_freeze=True,  # Nov-2023 cap on broker DMA notional (docs/model.md §9.4 [V])
        # Fragile small-cap liquidity: the Nov-2023 DMA cap and the securities-lending curbs had
        # left micro-cap liquidity "severely impaired" and drying up (Guohai Securities research report on DMA and small/micro caps (Li Yang, 2024); docs/model.md §1.2), so stress builds
        # faster than in calm: full drought at a 20% tier drawdown, at 2/3 ADV a day of net
        # selling or with half the tier limit-down; micro-cap daily vol 3-5% goes to 6-10% in
        # stress (docs/model.md §6.2 [M]): x2.5 at full stress.
        stress_drawdown_weight=5.0,
        stress_flow_weight=1.5,
        stress_limit_weight=2.0,
        vol_rise=1.5,
    )


def _feb2024() -> MarketConfig:
    # The Feb-2024 stress as a distribution (docs/model.md §4.2): every episode draws its own
    # exogenous path and starts at a random session of it. The style reversal and the market's
    # slide set in on a session drawn from the year's first 20; the market then runs 12-24
    # sessions (the warm-up: heuristic managers, funds, dealers and the national team trade,
    # knock-ins and liquidations happen) before the learner takes its book; the one-day style
    # shock falls on any of the episode's 25 sessions. Drifts and shock sizes are drawn around the
    # replay's: drifts -0.25%/day (+-0.3% market, +-0.4% size, 1 sd), so that the year-to-date
    # drawdowns at the episode's end average the 2024 figures (training/calibrate.py). Neither the
    # crash's date nor its size can be read off the calendar: a policy has to read the market.
    return _feb2024_replay().replace(
        market_drift=-0.0025,
        size_drift=-0.0025,
        market_drift_sd=0.003,
        size_drift_sd=0.004,
        trend_start_range=(0, 20),
        warmup_days_range=(12, 24),
        shock_day_range=(0, 24),
        shock_market_sd=0.01,
        shock_size_sd=0.015,
        # the front quarter has ~52 sessions left when the episode starts, as in the replay
        days_to_expiry=(76.0, 76.0, 76.0),
    )


def _almgren_chriss() -> AlmgrenChrissConfig:
    return AlmgrenChrissConfig()  # the AC-2000 paper example (docs/model.md §12.2 reference values)


_REGISTRY: dict[str, Callable[[], Config]] = {
    "calm": _calm,
    "feb2024": _feb2024,
    "feb2024_replay": _feb2024_replay,
    "almgren_chriss": _almgren_chriss,
}


def names() -> list[str]:
    """The registered scenario names."""
    return sorted(_REGISTRY)


def get(name: str, **overrides: Any) -> Config:
    """The frozen config of scenario ``name`` with keyword ``overrides`` applied and validated.

    Raises:
        ValueError: unknown scenario or field, or an invalid or inconsistent value.
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown scenario {name!r}; known scenarios: {', '.join(names())}")
    base = _REGISTRY[name]()
    return base.replace(**overrides) if overrides else base
