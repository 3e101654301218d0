"""Gymnasium facades over the batched core."""
from dma_gym.envs.unwind_env import DMAUnwindEnv
from dma_gym.envs.vector_env import DMAUnwindVectorEnv

__all__ = ["DMAUnwindEnv", "DMAUnwindVectorEnv"]
