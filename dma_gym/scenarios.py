"""Public scenario registry: ``dma_gym.scenarios.names()`` and ``dma_gym.scenarios.get(name, **overrides)``."""
from dma_gym.config.scenarios import get, names

__all__ = ["get", "names"]
