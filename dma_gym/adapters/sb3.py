"""stable-baselines3 ``VecEnv`` over one natively batched DMAUnwind vector env (one core call per step)."""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

try:
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn
except ImportError as exc:  # pragma: no cover - depends on the install
    from gymnasium.error import DependencyNotInstalled

    raise DependencyNotInstalled(
        "dma_gym.adapters.sb3 needs stable-baselines3 (which needs torch): "
        "pip install torch==2.13.0 'stable-baselines3>=2.4,<2.9', or pip install -e '.[train]' "
        f"after installing torch ({exc})"
    ) from exc

from dma_gym.envs.vector_env import DMAUnwindVectorEnv

# SB3 code asks sub-envs for their own spaces; the batched env keeps them under these names
_SINGLE = {"observation_space": "single_observation_space", "action_space": "single_action_space"}


class SB3VecAdapter(VecEnv):
    """SB3 view of a :class:`DMAUnwindVectorEnv` in same-step autoreset mode (EnvPool's
    ``VecAdapter`` pattern): every ``step`` is one batched core call.

    SB3 semantics: ``reset()`` returns the observations only and uses the seeds set by
    ``seed()`` (sub-env i gets ``seed + i``, as in ``DummyVecEnv``; seeds and options are used
    once); ``step_wait`` returns ``(obs, rewards float32, dones, infos)`` where ``infos`` is a list
    of per-env dicts with the env's info keys, ``"TimeLimit.truncated"`` (truncated and not
    terminated) and, for envs whose episode ended, ``"terminal_observation"``; ``obs`` already
    holds those envs' reset observations.

    The sub-envs are slots of one batched env, not separate objects: ``get_attr`` returns the
    shared value once per requested index (``observation_space``/``action_space`` give the
    single-env spaces, ``render_mode`` the adapter's); ``set_attr`` and ``env_method`` act on the
    shared env and therefore need all indices, except ``env_method("render")``, which renders
    each requested sub-env. ``env_is_wrapped`` is False for every wrapper: use SB3's
    ``VecMonitor`` (not ``Monitor``) for episode statistics.

    Args:
        venv: the batched env; must use ``AutoresetMode.SAME_STEP``.
        render_mode: None or ``"rgb_array"`` (``get_images`` draws one dashboard per sub-env;
            recording its history costs a little per step, so it is off by default).
    """

    def __init__(self, venv: DMAUnwindVectorEnv, render_mode: str | None = None):
        if not isinstance(venv, DMAUnwindVectorEnv):
            raise ValueError(f"venv must be a DMAUnwindVectorEnv, got {type(venv).__name__}")
        if venv.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"venv.autoreset_mode={venv.autoreset_mode}: SB3 needs AutoresetMode.SAME_STEP")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}: allowed None or 'rgb_array'")
        self.venv = venv
        self._render_mode = render_mode  # read by VecEnv.__init__ through get_attr
        self._actions: np.ndarray | None = None
        self._history: list[list[dict[str, np.ndarray]]] = [[] for _ in range(venv.num_envs)]
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

    # ---- the VecEnv protocol -------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        seeds = list(self._seeds)
        options = self._options[0] if self._options and self._options[0] else None
        obs, _ = self.venv.reset(seed=seeds, options=options)
        g = self.venv.engine
        self.reset_infos = [g.info_dict(e) for e in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        if self._render_mode is not None:
            self._history = [[] for _ in range(self.num_envs)]
            self._record(np.ones(self.num_envs, np.bool_))
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without a pending step_async(actions)")
        actions, self._actions = self._actions, None
        # the engine's same-step step; SB3's per-env info dicts straight from its info tables
        g = self.venv.engine
        g.step(g.validate(actions, self.venv.action_space.shape))  # raises before anything changes
        rewards = g.reward[:, 0].astype(np.float32)
        terminated = g.terminated[:, 0].copy()
        truncated = g.truncated.copy()
        dones = terminated | truncated
        final = g.final
        infos = [g.info_dict(e, final=bool(f)) for e, f in enumerate(final.tolist())]
        for d, t in zip(infos, (truncated & ~terminated).tolist()):
            d["TimeLimit.truncated"] = t
        for e in np.flatnonzero(final):
            infos[e]["terminal_observation"] = g.final_obs[e, 0].copy()
            self.reset_infos[e] = g.info_dict(e)
        if self._render_mode is not None:
            self._record(dones)
        return g.obs[:, 0].copy(), rewards, dones, infos

    def close(self) -> None:
        self.venv.close()

    # ---- attributes and methods of the (shared) sub-envs ---------------------------------
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        idx = self._idx(indices)
        if attr_name == "render_mode":
            value = self._render_mode
        else:
            value = getattr(self.venv, _SINGLE.get(attr_name, attr_name))  # AttributeError if absent
        return [value for _ in idx]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._need_all(indices, f"set_attr({attr_name!r})")
        setattr(self.venv, _SINGLE.get(attr_name, attr_name), value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        idx = self._idx(indices)
        if method_name == "render":
            return [self._render_one(i) for i in idx]
        self._need_all(indices, f"env_method({method_name!r})")
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in idx]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._idx(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self._render_mode != "rgb_array":
            warnings.warn(f"The render mode is {self._render_mode}, but get_images() needs 'rgb_array' "
                          "(make_sb3_vec_env(..., render_mode='rgb_array'))")
            return [None for _ in range(self.num_envs)]
        return [self._render_one(i) for i in range(self.num_envs)]

    # ---- helpers -------------------------------------------------------------------------
    def _record(self, fresh: np.ndarray) -> None:
        from dma_gym.render import snapshot

        g = self.venv.engine
        for e in range(self.num_envs):
            if fresh[e]:
                self._history[e] = []
            self._history[e].append(snapshot(g, e, 0))

    def _render_one(self, i: int) -> np.ndarray | None:
        if self._render_mode != "rgb_array":
            return None
        from dma_gym.render import dashboard

        return dashboard(self._history[int(i)])

    def _idx(self, indices: VecEnvIndices) -> list[int]:
        idx = [int(i) for i in self._get_indices(indices)]
        bad = [i for i in idx if not 0 <= i < self.num_envs]
        if bad:
            raise IndexError(f"env indices {bad} out of range for {self.num_envs} envs")
        return idx

    def _need_all(self, indices: VecEnvIndices, what: str) -> None:
        if indices is not None and sorted(set(self._idx(indices))) != list(range(self.num_envs)):
            raise ValueError(f"{what}: the {self.num_envs} sub-envs share one batched env, so this "
                             f"applies to all of them; pass indices=None (got {indices!r})")


def make_sb3_vec_env(num_envs: int, scenario: str = "feb2024", *, render_mode: str | None = None,
                     **overrides: Any) -> SB3VecAdapter:
    """A natively batched SB3 ``VecEnv`` of ``num_envs`` DMAUnwind-v0 episodes.

    Args:
        num_envs: number of sub-envs (one core call steps them all).
        scenario: scenario name (``dma_gym.scenarios.names()``).
        render_mode: None or ``"rgb_array"``.
        **overrides: validated config fields, as for ``gym.make("DMAUnwind-v0", ...)``.
    """
    venv = DMAUnwindVectorEnv(num_envs, scenario, autoreset_mode=AutoresetMode.SAME_STEP, **overrides)
    return SB3VecAdapter(venv, render_mode=render_mode)
