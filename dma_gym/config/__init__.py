"""Frozen validated parameters and named scenarios."""
from dma_gym.config.params import (
    BOARD_NAMES, CLEARING_ORDERS, FUTURES_NAMES, PEER_RULE_NAMES, TIER_NAMES,
    AlmgrenChrissConfig, MarketConfig, field_docs,
)
from dma_gym.config import scenarios

__all__ = ["MarketConfig", "AlmgrenChrissConfig", "scenarios", "field_docs", "TIER_NAMES",
           "FUTURES_NAMES", "BOARD_NAMES", "PEER_RULE_NAMES", "CLEARING_ORDERS"]
