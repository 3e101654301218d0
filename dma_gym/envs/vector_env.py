"""Natively batched Gymnasium VectorEnv: all sub-envs advance in one core call."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from dma_gym.config import scenarios
from dma_gym.engine import Engine, EngineFacade


class DMAUnwindVectorEnv(EngineFacade, VectorEnv):
    """``num_envs`` independent DMAUnwind-v0 episodes stepped by one batched core call.

    Same spaces, rewards, termination and info keys as :class:`DMAUnwindEnv` (see its spec
    sheet), batched on a leading axis; infos are dicts of arrays with ``_key`` masks.
    ``reset(seed=s)`` seeds sub-env i with ``s + i`` (or pass a list of seeds), so the vector env
    reproduces N single envs bit for bit. From ``PARALLEL_MIN_ENVS`` envs a step runs chunks of
    envs on numba's threads, next-step autoresets included.

    Args:
        num_envs: number of sub-environments.
        scenario: scenario name; ``**overrides`` are validated config fields.
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default, Gymnasium's convention: the step
            after an episode ends returns the reset observation with reward 0 and ignores that
            env's action) or ``AutoresetMode.SAME_STEP`` (the ending step already returns the
            reset observation; the final one is in ``info["final_obs"]`` and its info in
            ``info["final_info"]``).
        max_episode_steps: optional time limit (what ``gym.make_vec(..., max_episode_steps=n)``
            passes): an episode reaching n steps is truncated, as a single env under ``TimeLimit``.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, scenario: str = "feb2024",
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **overrides: Any):
        max_steps = overrides.pop("max_episode_steps", None)  # a TimeLimit, not a config field
        mode = AutoresetMode(autoreset_mode) if isinstance(autoreset_mode, str) else autoreset_mode
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode={autoreset_mode!r}: supported NEXT_STEP or SAME_STEP")
        self.scenario = scenario
        self.config = scenarios.get(scenario, **overrides)
        autoreset = "next_step" if mode == AutoresetMode.NEXT_STEP else "same_step"
        self.engine = g = Engine(self.config, num_envs, autoreset=autoreset, max_episode_steps=max_steps)
        self.max_episode_steps = g.max_episode_steps
        self.num_envs = g.num_envs
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.single_action_space, self.single_observation_space = g.single_spaces()
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._ones = np.ones(self.num_envs, np.bool_)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None):
        g = self.engine
        g.reset(seed)
        return g.obs[:, 0].copy(), self._infos(g.infos())

    def step(self, actions):
        g = self.engine
        g.step(g.validate(actions, self.action_space.shape))  # raises before anything changes
        obs = g.obs[:, 0].copy()
        rewards = g.reward[:, 0].copy()
        terminated = g.terminated[:, 0].copy()
        truncated = g.truncated.copy()
        if self.autoreset_mode == AutoresetMode.SAME_STEP and g.final.any():
            # an ended env reports its final step's info (as SB3 does), and again in final_info
            done = g.final.copy()
            raw = g.infos(final=done)
            infos = self._infos(raw, final=done)
            final_obs = np.full(self.num_envs, None, dtype=object)
            for e in np.flatnonzero(done):
                final_obs[e] = g.final_obs[e, 0].copy()
            infos["final_obs"] = final_obs
            infos["_final_obs"] = done
            infos["final_info"] = self._infos(raw, mask=done, final=done)
            infos["_final_info"] = done.copy()
        else:
            infos = self._infos(g.infos())
        return obs, rewards, terminated, truncated, infos

    def _infos(self, raw: dict[str, np.ndarray], mask: np.ndarray | None = None,
               final: bool | np.ndarray = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        m = self._ones if mask is None else mask
        for k, v in raw.items():
            x = v[:, 0] if v.ndim >= 2 and k not in ("tier_drawdown", "basis_annualized") else v
            out[k] = x
            out["_" + k] = m & self.engine.episode_done(final) if k == "implementation_shortfall" else m.copy()
        return out

    def close_extras(self, **kwargs: Any) -> None:
        pass
