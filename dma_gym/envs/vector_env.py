"""Natively batched Gymnasium VectorEnv: all sub-envs advance in one core call."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from dma_gym.config import scenarios
from dma_gym.envs.batch import Batch, BatchFacade


def _rng(seed: int | None) -> np.random.Generator:
    # the construction gymnasium.utils.seeding.np_random uses, so sub-env i seeded with s + i
    # reproduces a single env reset with seed s + i
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))


class DMAUnwindVectorEnv(BatchFacade, VectorEnv):
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
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer))
                                      or max_steps < 1):
            raise ValueError(f"max_episode_steps={max_steps!r}: must be a positive int or None")
        self.max_episode_steps = None if max_steps is None else int(max_steps)
        mode = AutoresetMode(autoreset_mode) if isinstance(autoreset_mode, str) else autoreset_mode
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode={autoreset_mode!r}: supported NEXT_STEP or SAME_STEP")
        self.scenario = scenario
        self.config = scenarios.get(scenario, **overrides)
        self._b = Batch(self.config, num_envs)
        b = self._b
        self.num_envs = b.n_envs
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.single_action_space, self.single_observation_space = b.single_spaces()
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._pending = np.zeros(self.num_envs, np.bool_)
        self._ones = np.ones(self.num_envs, np.bool_)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None):
        E = self.num_envs
        if seed is None:
            seeds: list = [None] * E
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(E)]
        else:
            seeds = list(seed)
            if len(seeds) != E:
                raise ValueError(f"reset(seed=...) got {len(seeds)} seeds for {E} envs")
        for e, sd in enumerate(seeds):
            if sd is not None or self._rngs[e] is None:
                self._rngs[e] = _rng(sd)
            self._b.reset_env(e, self._rngs[e])
        self._b.refresh()
        self._pending[:] = False
        return self._b.obs[:, 0].copy(), self._infos(self._b.infos())

    def step(self, actions):
        b = self._b
        a = b.validate(actions, self.action_space.shape)  # raises before anything changes
        next_step = self.autoreset_mode == AutoresetMode.NEXT_STEP
        skip = self._pending.copy() if next_step else None
        resets = [(int(e), self._rngs[e]) for e in np.flatnonzero(skip)] if next_step else None
        b.step(a, skip=skip, resets=resets)  # the pending envs start fresh episodes in the same call
        rewards = b.rew[:, 0].copy()
        terminated = b.term[:, 0].copy()
        truncated = self._truncated()
        if next_step:
            if resets:
                rewards[skip] = 0.0
                terminated[skip] = False
                truncated[skip] = False
            self._pending[:] = terminated | truncated
            return b.obs[:, 0].copy(), rewards, terminated, truncated, self._infos(b.infos())
        raw = b.infos()
        infos = self._infos(raw)
        done = terminated | truncated
        if done.any():
            final_info = self._infos(raw, mask=done)  # before the resets clear state.done
            final_obs = np.full(self.num_envs, None, dtype=object)
            for e in np.flatnonzero(done):
                final_obs[e] = b.obs[e, 0].copy()
            self._reset_done(done)
            infos["final_obs"] = final_obs
            infos["_final_obs"] = done.copy()
            infos["final_info"] = final_info
            infos["_final_info"] = done.copy()
        return b.obs[:, 0].copy(), rewards, terminated, truncated, infos

    def _truncated(self) -> np.ndarray:
        """(E,) bool: the envs whose episode reached ``max_episode_steps`` (never without one)."""
        if self.max_episode_steps is None:
            return np.zeros(self.num_envs, np.bool_)
        return self._b.state.step >= self.max_episode_steps

    def _reset_done(self, done: np.ndarray) -> None:
        """Same-step autoreset: fresh episodes (from each env's generator) in the envs flagged in
        ``done`` (E,) bool, their observations and infos refreshed."""
        self._b.reset_envs([(int(e), self._rngs[e]) for e in np.flatnonzero(done)])

    def _infos(self, raw: dict[str, np.ndarray], mask: np.ndarray | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        m = self._ones if mask is None else mask
        for k, v in raw.items():
            x = v[:, 0] if v.ndim >= 2 and k not in ("tier_drawdown", "basis_annualized") else v
            out[k] = x
            out["_" + k] = m & self._b.state.done if k == "implementation_shortfall" else m.copy()
        return out

    def close_extras(self, **kwargs: Any) -> None:
        pass
