"""Named scenario presets: frozen configs overridable with keyword arguments."""
from __future__ import annotations

from typing import Any, Callable, Union

from dma_gym.config.params import AlmgrenChrissConfig, MarketConfig

Config = Union[MarketConfig, AlmgrenChrissConfig]


def _calm() -> MarketConfig:
    # Same books, leverage and populations as feb2024, but no style reversal, no shock and no
    # scale cap: the benchmark for "nothing happens unless the mechanisms are pushed".
    return MarketConfig(market_drift=0.0003, size_drift=0.0005, scale_freeze=False)


def _feb2024() -> MarketConfig:
    # Jan 2 - Feb 7 2024 (25 sessions). Exogenous inputs only: a mild market drift and a
    # small-cap style reversal (size factor, ~-7.5% over the window for a loading of 1), plus
    # a one-day shock on day 22 standing for the 5 Feb sell-off; everything past that (micro-cap
    # -45%, limit-down clusters, IM discount) must come from leverage, crowding and restrictions.
    return MarketConfig(
        market_drift=-0.0015,
        size_drift=-0.003,
        size_vol=0.008,
        shock_day=21,
        shock_size=-0.03,
        scale_freeze=True,  # Nov-2023 cap on broker DMA notional (MODELS §4.3 [V])
    )


def _almgren_chriss() -> AlmgrenChrissConfig:
    return AlmgrenChrissConfig()  # the AC-2000 paper example (MODELS §1.4 test vectors)


_REGISTRY: dict[str, Callable[[], Config]] = {
    "calm": _calm,
    "feb2024": _feb2024,
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
