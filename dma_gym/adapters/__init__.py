"""Adapters to RL libraries; each imports its library lazily (``import dma_gym`` never pulls torch)."""
from __future__ import annotations

from typing import Any

__all__ = ["make_sb3_vec_env", "SB3VecAdapter"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dma_gym.adapters import sb3

        return getattr(sb3, name)
    raise AttributeError(f"module 'dma_gym.adapters' has no attribute {name!r}")
