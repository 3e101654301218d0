"""dma_gym: reinforcement learning on leveraged deleveraging and fire-sale stampedes."""
from dma_gym import scenarios
from dma_gym.config import AlmgrenChrissConfig, MarketConfig
from dma_gym.engine import Engine
from dma_gym.registration import register_envs

register_envs()


def parallel_env(n_agents: int = 2, scenario: str = "feb2024", **overrides):
    """A PettingZoo ``ParallelEnv`` of ``n_agents`` learning DMA managers in one market
    (:class:`dma_gym.envs.parallel_env.DMAParallelEnv`; needs ``pettingzoo``)."""
    from dma_gym.envs.parallel_env import DMAParallelEnv
    return DMAParallelEnv(n_agents, scenario, **overrides)


__version__ = "0.1.0"
__all__ = ["Engine", "parallel_env", "scenarios", "MarketConfig", "AlmgrenChrissConfig", "register_envs", "__version__"]
