"""The Policy protocol (stable-baselines3's ``predict``) and the base class of rule policies."""
from __future__ import annotations

import math
from typing import Any, ClassVar, Optional, Protocol, runtime_checkable

import numpy as np
from gymnasium import spaces

from dma_gym.config.params import AlmgrenChrissConfig, MarketConfig

_BOUND_SLACK = 1e-6  # observations are clipped to the box in float32; allow rounding, not misuse


@runtime_checkable
class Policy(Protocol):
    """Anything with stable-baselines3's ``predict``: trained SB3 models and the rule policies here.

    ``observation`` is one observation (obs_dim,) or a batch (n, obs_dim); the action is (act_dim,)
    or (n, act_dim) accordingly. ``state`` is the recurrent state returned by the previous call
    (None for memoryless policies) and ``episode_start`` (n,) bool marks envs whose episode just
    began, so that a stateful policy resets their rows.
    """

    def predict(
        self,
        observation: np.ndarray,
        state: Optional[tuple[np.ndarray, ...]] = None,
        episode_start: Optional[np.ndarray] = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Optional[tuple[np.ndarray, ...]]]: ...


class RulePolicy:
    """Base of the memoryless rule policies: a deterministic function of the observation.

    Subclasses implement ``_act(obs) -> (n, act_dim)`` on a validated float64 batch; ``predict``
    handles single vs batched input, checks shape, finiteness and bounds (ValueError naming the
    problem), clips to the action space and returns float32. Being memoryless, the policies pass
    ``state`` through unchanged and need no ``episode_start``.

    Args:
        config: the env's scenario config (``env.unwrapped.config``).
        observation_space: one env's observation space.
        action_space: one env's action space.
    """

    name: ClassVar[str] = ""
    market_only: ClassVar[bool] = False  # True: needs a MarketConfig scenario (not almgren_chriss)
    ac_only: ClassVar[bool] = False  # True: needs the almgren_chriss scenario

    def __init__(self, config: MarketConfig | AlmgrenChrissConfig, observation_space: spaces.Box,
                 action_space: spaces.Box):
        if not isinstance(config, (MarketConfig, AlmgrenChrissConfig)):
            raise ValueError(f"config must be a MarketConfig or AlmgrenChrissConfig, got {type(config).__name__}")
        for what, sp in (("observation_space", observation_space), ("action_space", action_space)):
            if not isinstance(sp, spaces.Box) or len(sp.shape) != 1:
                raise ValueError(f"{what} must be a 1-D gymnasium Box, got {sp!r}")
        self.is_ac = isinstance(config, AlmgrenChrissConfig)
        if self.market_only and self.is_ac:
            raise ValueError(f"policy {self.name!r} needs a market scenario (calm, feb2024, ...); "
                             "the almgren_chriss scenario has one stock and no tiers, futures or margin")
        if self.ac_only and not self.is_ac:
            raise ValueError(f"policy {self.name!r} needs the almgren_chriss scenario (one stock, linear impact)")
        self.config = config
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_dim = int(observation_space.shape[0])
        self.act_dim = int(action_space.shape[0])
        self._low = np.asarray(observation_space.low, np.float64)
        self._high = np.asarray(observation_space.high, np.float64)
        self._act_low = np.asarray(action_space.low, np.float64)
        self._act_high = np.asarray(action_space.high, np.float64)

    @classmethod
    def from_env(cls, env: Any, **kwargs: Any) -> "RulePolicy":
        """The policy for ``env`` (gym env, vector env or SB3 VecEnv; see :func:`resolve_env`)."""
        return cls(*resolve_env(env), **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params_repr()})"

    def _params_repr(self) -> str:
        return ""

    def predict(
        self,
        observation: Any,
        state: Optional[tuple[np.ndarray, ...]] = None,
        episode_start: Optional[np.ndarray] = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Optional[tuple[np.ndarray, ...]]]:
        """Action(s) for ``observation`` (obs_dim,) or (n, obs_dim): float32 (act_dim,) or (n, act_dim)
        inside the action space, and ``state`` unchanged.

        Raises:
            ValueError: non-numeric, wrongly shaped, NaN/inf or out-of-bounds observations.
        """
        obs = self._check(observation)
        single = obs.ndim == 1
        act = self._act(obs[None] if single else obs)
        act = np.clip(act, self._act_low, self._act_high).astype(np.float32)
        return (act[0] if single else act), state

    def _act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check(self, observation: Any) -> np.ndarray:
        return check_observation(observation, self._low, self._high,
                                 "rule policies need the env's raw observations (no normalising wrapper)")


def resolve_env(env: Any) -> tuple[MarketConfig | AlmgrenChrissConfig, spaces.Box, spaces.Box]:
    """(config, single observation space, single action space) of a DMAUnwind env.

    Accepts a (wrapped) ``gym.make`` env, the vector env (``gym.make_vec`` or
    ``DMAUnwindVectorEnv``) and the SB3 VecEnv of ``dma_gym.adapters.sb3`` (also under SB3
    VecEnv wrappers): it follows ``unwrapped`` and SB3's ``venv`` to the object holding ``config``.

    Raises:
        ValueError: no scenario config found.
    """
    e, seen = env, []
    while e is not None and not any(e is s for s in seen):
        seen.append(e)
        cfg = getattr(e, "config", None)
        if isinstance(cfg, (MarketConfig, AlmgrenChrissConfig)):
            obs_space = getattr(e, "single_observation_space", None) or e.observation_space
            act_space = getattr(e, "single_action_space", None) or e.action_space
            return cfg, obs_space, act_space
        inner = getattr(e, "unwrapped", None)
        e = inner if inner is not None and inner is not e else getattr(e, "venv", None)
    raise ValueError(f"env={env!r}: not a DMAUnwind env (gym.make/make_vec('DMAUnwind-v0'), "
                     "DMAUnwindVectorEnv or dma_gym.adapters.sb3.make_sb3_vec_env): no scenario config found")


def check_observation(observation: Any, low: np.ndarray, high: np.ndarray, hint: str) -> np.ndarray:
    """``observation`` as a float64 (obs_dim,) or (n, obs_dim) array inside [low, high] (up to
    float32 rounding); else ValueError naming the problem (type, shape, NaN/inf with its index,
    the first feature out of bounds) followed by ``hint``."""
    try:
        obs = np.asarray(observation, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"observation must be numeric, got {type(observation).__name__}: {exc}") from None
    d = low.shape[0]
    if not (obs.shape == (d,) or (obs.ndim == 2 and obs.shape[1] == d and obs.shape[0] >= 1)):
        raise ValueError(f"observation has shape {obs.shape}, expected ({d},) or (n, {d})")
    if not math.isfinite(obs.sum()):
        bad = np.argwhere(~np.isfinite(obs))[0].tolist()
        raise ValueError(f"observation contains NaN or inf (first at index {bad})")
    out = (obs < low - _BOUND_SLACK) | (obs > high + _BOUND_SLACK)
    if out.any():
        bad = np.argwhere(out)[0].tolist()
        j = bad[-1]
        raise ValueError(f"observation outside the observation space at index {bad} (feature {j}: "
                         f"{obs[tuple(bad)]!r} not in [{low[j]:g}, {high[j]:g}]); {hint}")
    return obs
