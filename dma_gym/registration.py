"""Gymnasium registration of the dma_gym ids (data, lazy entry points)."""
import gymnasium


def register_envs() -> None:
    """Register every id once (idempotent)."""
    if "DMAUnwind-v0" in gymnasium.registry:
        return
    # One DMA manager among heuristic peers; default scenario feb2024; natively batched vector env.
    gymnasium.register(
        id="DMAUnwind-v0",
        entry_point="dma_gym.envs.unwind_env:DMAUnwindEnv",
        vector_entry_point="dma_gym.envs.vector_env:DMAUnwindVectorEnv",
    )
