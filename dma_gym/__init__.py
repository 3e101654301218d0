"""dma_gym: reinforcement learning on leveraged deleveraging and fire-sale stampedes."""
from dma_gym import scenarios
from dma_gym.config import AlmgrenChrissConfig, MarketConfig
from dma_gym.engine import Engine
from dma_gym.registration import register_envs

register_envs()

__version__ = "0.1.0"
__all__ = ["Engine", "scenarios", "MarketConfig", "AlmgrenChrissConfig", "register_envs", "__version__"]
