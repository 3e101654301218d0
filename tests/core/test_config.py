"""Config and scenario validation."""
import math

import pytest

import dma_gym
from dma_gym.config import AlmgrenChrissConfig, MarketConfig


def test_scenario_names():
    assert dma_gym.scenarios.names() == ["almgren_chriss", "calm", "feb2024", "feb2024_replay"]


def test_override_and_frozen():
    cfg = dma_gym.scenarios.get("feb2024", leverage=3.0)
    assert cfg.leverage == 3.0 and isinstance(cfg, MarketConfig)
    with pytest.raises(Exception):
        cfg.leverage = 2.0  # frozen


@pytest.mark.parametrize(
    "overrides, needle",
    [
        ({"leverage": math.nan}, "leverage"),
        ({"leverage": 50.0}, "leverage"),
        ({"margin_call": 2.0}, "margin_liquidation"),
        ({"bogus": 1}, "bogus"),
        ({"price_limits": 1}, "price_limits"),
        ({"steps_per_day": 2.5}, "steps_per_day"),
        ({"dma_tier_weights": (0.5, 0.5, 0.5, 0.0, 0.0)}, "dma_tier_weights"),
        ({"horizon_days": 80}, "days_to_expiry"),
        ({"n_stocks_per_tier": (10, 10, 10)}, "n_stocks_per_tier"),
        ({"snowball_ki_range": (0.9, 0.8)}, "snowball_ki_range"),
    ],
)
def test_invalid_values_name_the_field(overrides, needle):
    with pytest.raises(ValueError, match=needle):
        dma_gym.scenarios.get("feb2024", **overrides)


def test_unknown_scenario_lists_known():
    with pytest.raises(ValueError, match="calm"):
        dma_gym.scenarios.get("feb2025")


def test_ac_scenario_has_design_parameter_names():
    cfg = dma_gym.scenarios.get("almgren_chriss", risk_aversion=0.0)
    assert isinstance(cfg, AlmgrenChrissConfig)
    for name in ("initial_shares", "initial_price", "sigma", "horizon_days", "steps", "epsilon",
                 "eta", "gamma", "risk_aversion"):
        assert hasattr(cfg, name)
    assert cfg.tau == pytest.approx(1.0)
    with pytest.raises(ValueError, match="eta"):
        dma_gym.scenarios.get("almgren_chriss", eta=1e-9, gamma=1e-6)
