"""stable-baselines3 ``VecEnv`` over one natively batched DMAUnwind vector env (one core call per step)."""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

try:
    from stable_baselines3.common.vec_env.base_vec_env import (VecEnv, VecEnvIndices, VecEnvObs,
                                                               VecEnvStepReturn, VecEnvWrapper)
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


class _SharedVecEnv(VecEnv):
    """SB3 ``VecEnv`` whose sub-envs are slots of one batched engine, not separate objects:
    ``get_attr`` returns the shared value once per requested index (``observation_space`` and
    ``action_space`` give the single-env spaces, ``render_mode`` the adapter's); ``set_attr`` and
    ``env_method`` act on the shared env and therefore need all indices (``env_method("render")``
    renders each requested sub-env); ``env_is_wrapped`` is False for every wrapper: use SB3's
    ``VecMonitor`` (not ``Monitor``) for episode statistics."""

    _render_mode: str | None = None
    _actions: np.ndarray | None = None

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without a pending step_async(actions)")
        actions, self._actions = self._actions, None
        return self._step(actions)

    def _step(self, actions: np.ndarray) -> VecEnvStepReturn:
        """One step of every sub-env with ``actions`` (num_envs, act_dim)."""
        raise NotImplementedError

    def _shared(self) -> Any:
        """The object holding the sub-envs' shared attributes."""
        raise NotImplementedError

    def _render_one(self, i: int) -> np.ndarray | None:
        return None

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        idx = self._idx(indices)
        if attr_name == "render_mode":
            value = self._render_mode
        else:
            value = getattr(self._shared(), _SINGLE.get(attr_name, attr_name))  # AttributeError if absent
        return [value for _ in idx]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._need_all(indices, f"set_attr({attr_name!r})")
        setattr(self._shared(), _SINGLE.get(attr_name, attr_name), value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        idx = self._idx(indices)
        if method_name == "render":
            return [self._render_one(i) for i in idx]
        self._need_all(indices, f"env_method({method_name!r})")
        result = getattr(self._shared(), method_name)(*method_args, **method_kwargs)
        return [result for _ in idx]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._idx(indices)]

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


class SB3VecAdapter(_SharedVecEnv):
    """SB3 view of a :class:`DMAUnwindVectorEnv` in same-step autoreset mode (EnvPool's
    ``VecAdapter`` pattern): every ``step`` is one batched core call.

    SB3 semantics: ``reset()`` returns the observations only and uses the seeds set by
    ``seed()`` (sub-env i gets ``seed + i``, as in ``DummyVecEnv``; seeds and options are used
    once); ``step_wait`` returns ``(obs, rewards float32, dones, infos)`` where ``infos`` is a list
    of per-env dicts with the env's info keys, ``"TimeLimit.truncated"`` (truncated and not
    terminated) and, for envs whose episode ended, ``"terminal_observation"``; ``obs`` already
    holds those envs' reset observations.

    The sub-envs are slots of one batched env (see ``_SharedVecEnv`` for ``get_attr``,
    ``set_attr``, ``env_method``); use SB3's ``VecMonitor`` (not ``Monitor``) for episode
    statistics.

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

    def _step(self, actions: np.ndarray) -> VecEnvStepReturn:
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

    def _shared(self) -> Any:
        return self.venv

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


class SB3MultiAgentVecEnv(_SharedVecEnv):
    """Parameter sharing without glue: N managers in each of E markets as one SB3 ``VecEnv`` with
    one row per learning manager per market (row ``e * R + j``: market e's j-th learning
    manager), all stepped by one batched core call (same-step autoreset).

    Rows are the :class:`dma_gym.envs.parallel_env.DMAParallelEnv` agents of E independent
    markets, so one SB3 policy learns from every manager's experience (parameter sharing). The
    rows of a market end together, when its episode ends (the horizon, or every manager done):
    a manager whose broker has sold its book out earlier stays a row, acting on nothing, with
    the market's NAV changes of its leftover cash (near zero) as rewards, so that SB3 sees one
    episode per manager per market. ``terminal_observation`` and ``TimeLimit.truncated`` follow
    SB3's conventions.

    ``reward``: ``"selfish"`` (each manager's own reward: its change of log NAV) or
    ``"cooperative"`` (the mean over the market's N managers: an episode's rewards sum to their
    mean log NAV). ``fixed``: managers driven by a given policy (``agents.make(...)`` or a trained
    one) rather than by the learner; they are not rows (R = N - len(fixed)), act on their own
    observations, and count in the cooperative mean. ``seed(s)`` seeds market e with s + e * R
    (the seed of its first row).

    Args:
        num_markets: E >= 1.
        n_agents: N >= 1 managers driven by actions in each market (the scenario's other managers
            follow their peer rules; see ``DMAParallelEnv``).
        scenario: scenario name.
        reward: ``"selfish"`` or ``"cooperative"``.
        fixed: {manager index: Policy} for managers not learning.
        max_episode_steps: optional time limit.
        **overrides: validated config fields.
    """

    def __init__(self, num_markets: int, n_agents: int, scenario: str = "feb2024", *, reward: str = "selfish",
                 fixed: dict[int, Any] | None = None, max_episode_steps: int | None = None, **overrides: Any):
        from dma_gym.engine import Engine
        from dma_gym.envs.parallel_env import n_agents_checked, stampede_config

        if reward not in ("selfish", "cooperative"):
            raise ValueError(f"reward={reward!r}: allowed 'selfish' or 'cooperative'")
        n = n_agents_checked(n_agents)
        fixed = dict(fixed or {})
        bad = [k for k in fixed if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < n]
        if bad:
            raise ValueError(f"fixed={sorted(map(repr, bad))}: keys must be manager indices in [0, {n})")
        if len(fixed) >= n:
            raise ValueError(f"fixed drives all {n} managers: at least one must learn")
        missing = [k for k, p in fixed.items() if not callable(getattr(p, "predict", None))]
        if missing:
            raise ValueError(f"fixed[{missing[0]}] has no predict(obs): pass a Policy (agents.make or agents.load)")
        self.scenario = scenario
        self.config = stampede_config(scenario, n, overrides)
        self.reward_mode = reward
        self.engine = g = Engine(self.config, num_markets, learners=range(n), autoreset="same_step",
                                 max_episode_steps=max_episode_steps)
        self.n_agents = n
        self.num_markets = g.num_envs
        self.fixed = {int(k): p for k, p in sorted(fixed.items())}
        self.free = np.array([m for m in range(n) if m not in self.fixed], np.int64)
        self.rows_per_market = R = self.free.size
        self.single_action_space, self.single_observation_space = g.single_spaces()
        self._act = np.zeros((g.num_envs, n, g.act_dim))
        super().__init__(g.num_envs * R, self.single_observation_space, self.single_action_space)

    def _shared(self) -> Any:
        return self

    def _rows(self, x: np.ndarray) -> np.ndarray:
        """(E, N, ...) per manager -> (E * R, ...) rows of the learning managers."""
        return x[:, self.free].reshape((self.num_envs,) + x.shape[2:])

    def _infos(self, e: int, final: bool) -> list[dict[str, Any]]:
        return [self.engine.info_dict(e, int(m), final=final) for m in self.free]

    def reset(self) -> VecEnvObs:
        R = self.rows_per_market
        seeds = list(self._seeds)
        self.engine.reset([seeds[e * R] for e in range(self.num_markets)])
        self.reset_infos = [d for e in range(self.num_markets) for d in self._infos(e, False)]
        self._reset_seeds()
        self._reset_options()
        return self._rows(self.engine.obs).copy()

    def _step(self, actions: np.ndarray) -> VecEnvStepReturn:
        g = self.engine
        E, R = self.num_markets, self.rows_per_market
        a = g.validate(actions, (self.num_envs, g.act_dim), reshape=False).reshape(E, R, g.act_dim)  # raises first
        self._act[:, self.free] = a
        for m, pol in self.fixed.items():
            self._act[:, m] = np.asarray(pol.predict(g.obs[:, m], deterministic=True)[0], np.float64)
        g.step(self._act)
        rew = g.reward if self.reward_mode == "selfish" else np.repeat(g.reward.mean(1, keepdims=True), self.n_agents, 1)
        rewards = self._rows(rew).astype(np.float32)
        final = g.final
        dones = np.repeat(final, R)
        infos: list[dict[str, Any]] = []
        for e, f in enumerate(final.tolist()):
            rows = self._infos(e, f)
            if f:
                for d, m in zip(rows, self.free):
                    d["terminal_observation"] = g.final_obs[e, m].copy()
                    d["TimeLimit.truncated"] = bool(g.truncated[e]) and not bool(g.terminated[e, m])
                self.reset_infos[e * R:(e + 1) * R] = self._infos(e, False)
            infos.extend(rows)
        return self._rows(g.obs).copy(), rewards, dones, infos

    def close(self) -> None:
        pass


class LiquidationConstraint(VecEnvWrapper):
    """A bound on the forced-liquidation rate, enforced by a Lagrange multiplier on the reward.

    Training under the constraint ``P(forced liquidation) <= max_rate`` by Lagrangian relaxation
    (the PPO-Lagrangian of Ray, Achiam and Amodei 2019): the learner maximises
    ``E[return] - multiplier * (P(liquidation) - max_rate)`` while the multiplier follows
    stochastic dual ascent. Each row's reward is lowered by ``multiplier`` at the step its broker
    takes it over (``info["forced_liquidation"]`` turns on), and at every episode end::

        multiplier <- clip(multiplier + lr * (liquidated - max_rate), 0, max_multiplier)

    so the multiplier grows while episodes are liquidated more often than ``max_rate`` and decays
    to 0 when they are not: the penalty is only as large as the bound needs. The market, its
    infos and the episode's own return (``VecMonitor`` inside this wrapper) are unchanged; only
    the reward the learner sees carries the penalty, in the reward's units (log NAV by default).

    Args:
        venv: a VecEnv whose infos carry ``forced_liquidation`` (``SB3VecAdapter``,
            ``SB3MultiAgentVecEnv``, or either under ``VecMonitor``).
        max_rate: the bound, in [0, 1).
        lr: the multiplier's step per unit of (liquidated - max_rate) at each episode end, > 0.
        multiplier: its starting value, >= 0.
        max_multiplier: its ceiling, >= multiplier.
    """

    def __init__(self, venv: VecEnv, max_rate: float, lr: float = 0.02, multiplier: float = 0.0,
                 max_multiplier: float = 10.0):
        for name, value, ok, allowed in (("max_rate", max_rate, 0.0 <= max_rate < 1.0, "in [0, 1)"),
                                         ("lr", lr, lr > 0.0, "> 0"),
                                         ("multiplier", multiplier, multiplier >= 0.0, ">= 0"),
                                         ("max_multiplier", max_multiplier, max_multiplier >= multiplier,
                                          f">= multiplier ({multiplier})")):
            if not (np.isfinite(value) and ok):
                raise ValueError(f"LiquidationConstraint: {name}={value!r} must be finite and {allowed}")
        super().__init__(venv)
        self.max_rate = float(max_rate)
        self.lr = float(lr)
        self.multiplier = float(multiplier)
        self.max_multiplier = float(max_multiplier)
        self._taken = np.zeros(self.num_envs, bool)  # (num_envs,) the row's broker took over this episode

    def reset(self) -> VecEnvObs:
        self._taken[:] = False
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        liq = np.array([bool(i.get("forced_liquidation", False)) for i in infos])
        onset = liq & ~self._taken
        rewards = rewards - np.float32(self.multiplier) * onset
        for was_liquidated in liq[dones].tolist():
            step = self.lr * (float(was_liquidated) - self.max_rate)
            self.multiplier = min(self.max_multiplier, max(0.0, self.multiplier + step))
        self._taken = (self._taken | liq) & ~dones
        return obs, rewards.astype(np.float32), dones, infos
