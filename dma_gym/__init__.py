"""dma_gym: reinforcement learning on leveraged deleveraging and fire-sale stampedes."""
from dma_gym import scenarios
from dma_gym.config import AlmgrenChrissConfig, MarketConfig

__version__ = "0.1.0"
__all__ = ["scenarios", "MarketConfig", "AlmgrenChrissConfig", "__version__"]
