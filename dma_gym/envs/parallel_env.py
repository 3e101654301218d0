"""dma_stampede_v0: N learning DMA managers unwinding in one market (a PettingZoo ParallelEnv)."""
from __future__ import annotations

import operator
from typing import Any

import numpy as np
from gymnasium import spaces

from dma_gym.config import scenarios
from dma_gym.config.params import AlmgrenChrissConfig, MarketConfig
from dma_gym.engine import Engine, generator

try:
    from pettingzoo import ParallelEnv
except ImportError as exc:  # pragma: no cover - depends on the install
    from gymnasium.error import DependencyNotInstalled

    raise DependencyNotInstalled(
        f"dma_gym.parallel_env needs PettingZoo: pip install 'pettingzoo>=1.24,<1.26' ({exc})") from exc


def n_agents_checked(n_agents: Any) -> int:
    """``n_agents`` as an int >= 1 (ValueError naming the value otherwise)."""
    try:
        n = operator.index(n_agents)
    except TypeError:
        raise ValueError(f"n_agents={n_agents!r}: must be a positive int") from None
    if isinstance(n_agents, bool) or n < 1:
        raise ValueError(f"n_agents={n_agents!r}: must be a positive int")
    return int(n)


def stampede_config(scenario: str, n_agents: int, overrides: dict[str, Any]) -> MarketConfig | AlmgrenChrissConfig:
    """The scenario's config with room for ``n_agents`` learners (managers 0 .. N - 1).

    Market scenarios keep their ``n_managers`` (the others are heuristic peers, and the DMA
    equity is split over all of them, so the market is the same whoever learns) and grow it to N
    when it is smaller and not given. ``almgren_chriss`` gets ``n_sellers = N`` unless given. A
    given count smaller than N raises ValueError."""
    n = n_agents_checked(n_agents)
    cfg = scenarios.get(scenario, **overrides)
    field = "n_sellers" if isinstance(cfg, AlmgrenChrissConfig) else "n_managers"
    have = getattr(cfg, field)
    if field in overrides:
        if have < n:
            raise ValueError(f"{field}={have} is smaller than n_agents={n}: the learners are managers 0 .. "
                             f"n_agents - 1 of the market")
    elif field == "n_sellers" or have < n:
        cfg = cfg.replace(**{field: n})
    return cfg


class DMAParallelEnv(ParallelEnv):
    """N learning DMA managers in one market: the multi-agent stampede (PettingZoo Parallel API).

    ## Description
    The market of ``DMAUnwind-v0`` (see :class:`dma_gym.envs.unwind_env.DMAUnwindEnv`, whose
    spec sheet describes the mechanisms, the action, the observation and the reward) with
    managers 0 .. N - 1 driven by actions and the scenario's other managers following their
    heuristic peer rules. All managers trade in the same clearing, queues, basis and margin
    ladder, so one manager's sales move the prices that call another's margin. Books are drawn
    per manager: leverage spread ``leverage_dispersion``, and each book holds a random share
    ``dma_concentration`` of each tier's names, which sets how much any two books overlap
    (1.0: identical name lists). The scenario's ``n_managers`` stays as it is (grown to N when
    smaller), so the DMA equity in the market does not depend on how many managers learn.

    In ``almgren_chriss`` the N agents are N sellers of one stock, each holding X, all filled at
    the aggregate impact (the discrete game of ``agents.closed_form.nash_discrete``).

    ## Agents
    ``possible_agents = ["manager_0", ..., "manager_{N-1}"]``. An agent leaves ``agents`` when its
    episode ends: at the horizon (all together), or, with ``terminate_on_liquidation``, once its
    broker has sold its book after a forced liquidation (the others trade on in the market its
    fire sale moved). A time limit (``max_episode_steps``) truncates every agent.

    ## Spaces, rewards, infos
    Per agent exactly the single env's: ``action_space(agent)`` and ``observation_space(agent)``
    equal ``DMAUnwind-v0``'s (one cached object per agent); the reward is the agent's own change
    of log NAV (the minus mean-variance shortfall in ``almgren_chriss``); the info dict carries
    the single env's keys. ``state()`` is the global state: every manager's observation
    concatenated (``state_space``), for centralised critics.

    ## Seeding
    ``reset(seed=s)`` draws the episode from the generator gymnasium's ``np_random(s)`` builds;
    ``reset()`` continues it. With N = 1 the env reproduces ``DMAUnwind-v0`` step for step.

    ## Arguments
    ``dma_gym.parallel_env(n_agents=2, scenario="feb2024", render_mode=None, max_episode_steps=None,
    **overrides)``: any config field as a validated keyword override.

    ## Version History
    * v0: initial release.
    """

    metadata = {"name": "dma_stampede_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, n_agents: int = 2, scenario: str = "feb2024", render_mode: str | None = None,
                 max_episode_steps: int | None = None, **overrides: Any):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}: allowed {self.metadata['render_modes']} or None")
        n = n_agents_checked(n_agents)
        self.scenario = scenario
        self.config = stampede_config(scenario, n, overrides)
        self.render_mode = render_mode
        self.engine = Engine(self.config, 1, learners=range(n), max_episode_steps=max_episode_steps)
        self.possible_agents = [f"manager_{i}" for i in range(n)]
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        act, obs = self.engine.single_spaces()
        # one object per agent, so that seeding one agent's space leaves the others' streams alone
        self.action_spaces = {a: spaces.Box(act.low, act.high, act.shape, act.dtype) for a in self.possible_agents}
        self.observation_spaces = {a: spaces.Box(obs.low, obs.high, obs.shape, obs.dtype) for a in self.possible_agents}
        self.state_space = spaces.Box(np.tile(obs.low, n), np.tile(obs.high, n), (n * obs.shape[0],), obs.dtype)
        self.agents: list[str] = []
        self._np_random: np.random.Generator | None = None
        self._act = self.engine.action_buffer

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    @property
    def max_num_agents(self) -> int:
        return len(self.possible_agents)

    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self.action_spaces[agent]

    @property
    def market(self):
        """The scenario's compiled market (config, universe, parameters)."""
        return self.engine.market

    @property
    def market_state(self):
        """The market state (``layout.State`` read-only views; leading axis: the one env)."""
        return self.engine.state

    def state(self) -> np.ndarray:
        return self.engine.obs[0].reshape(-1).copy()

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._np_random is None:
            self._np_random = generator(seed)
        self.engine.reset(generators=[self._np_random])
        self.agents = list(self.possible_agents)
        g = self.engine
        obs = {a: g.obs[0, i].copy() for i, a in enumerate(self.agents)}
        return obs, {a: g.info_dict(0, i) for i, a in enumerate(self.agents)}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("step() after every agent's episode ended: call reset()")
        if not isinstance(actions, dict):
            raise ValueError(f"actions must be a dict agent -> action, got {type(actions).__name__}")
        unknown = sorted(set(actions) - set(self.agents), key=str)
        if unknown:
            raise ValueError(f"actions for agents not live: {unknown} (live: {self.agents}); state left unchanged")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"no action for live agents {missing}; state left unchanged")
        g = self.engine
        full = np.zeros(self._act.shape)  # agents whose episode ended: their rows are never read
        for a in self.agents:
            try:
                full[0, self._index[a]] = g.validate(actions[a], full.shape[2:], reshape=False)
            except ValueError as exc:
                raise ValueError(f"{a}: {exc}") from None
        self._act[:] = full  # validated: nothing changed before this point
        g.step(self._act)
        live = self.agents
        idx = [self._index[a] for a in live]
        trunc = bool(g.truncated[0])
        obs = {a: g.obs[0, i].copy() for a, i in zip(live, idx)}
        rewards = {a: float(g.reward[0, i]) for a, i in zip(live, idx)}
        terminated = {a: bool(g.terminated[0, i]) for a, i in zip(live, idx)}
        truncated = {a: trunc and not terminated[a] for a in live}
        infos = {a: g.info_dict(0, i) for a, i in zip(live, idx)}
        self.agents = [a for a in live if not (terminated[a] or truncated[a])]
        return obs, rewards, terminated, truncated, infos

    def render(self) -> str | None:
        if self.render_mode is None:
            return None
        from dma_gym.render import status_line
        return "\n".join(f"{a}: {status_line(self.engine, 0, self._index[a])}" for a in self.possible_agents)

    def close(self) -> None:
        pass


def parallel_env(n_agents: int = 2, scenario: str = "feb2024", **kwargs: Any) -> DMAParallelEnv:
    """PettingZoo's module convention: the Parallel env (``dma_gym.parallel_env`` is the same)."""
    return DMAParallelEnv(n_agents, scenario, **kwargs)


def env(n_agents: int = 2, scenario: str = "feb2024", **kwargs: Any):
    """PettingZoo's module convention: the same env under the AEC API (agents act in turn within
    a step; the market clears when the last live agent has acted), via ``parallel_to_aec``."""
    from pettingzoo.utils.conversions import parallel_to_aec
    return parallel_to_aec(DMAParallelEnv(n_agents, scenario, **kwargs))
