"""DMAUnwind-v0: one DMA manager (the learner) unwinding a levered book among heuristic peers."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dma_gym.config import scenarios
from dma_gym.core.enums import N_OBS, OBS_FEATURES
from dma_gym.engine import Engine, EngineFacade


def _obs_table() -> str:
    rows = [f"    | {i:>3} | {name:<20} | {lo:>6.1f} | {hi:>5.1f} |" for i, (name, lo, hi) in enumerate(OBS_FEATURES)]
    return "\n".join(rows)


class DMAUnwindEnv(EngineFacade, gym.Env):
    __doc__ = f"""A leveraged market-neutral (DMA) book in a crowded A-share deleveraging.

    ## Description
    The learner is manager 0 of a market in which A managers hold overlapping ~4x books (long
    small/micro-cap A-shares, short IC/IM futures, broker-financed). The others follow heuristic
    deleveraging rules (Cont-Schaanning thresholds, leverage targeting, margin-triggered herding).
    Prices come from the batched numba core (``dma_gym.core``): factor returns, netted clearing
    with square-root temporary, linear permanent and transient impact, daily price limits with
    limit-down queues, T+1, a liquidity spiral, IF/IC/IM basis moved by snowball dealers and short
    covering, margin calls with deadlines and broker forced liquidation, regulation (net-sell caps,
    futures restrictions, national team, circuit breaker), and background funds. In the default
    ``feb2024`` scenario every episode draws its own stress path and starts at a random point of
    it (a warm-up of 12-24 sessions): the crash's date is not on the calendar.

    ## Action Space
    ``Box(-1, 1, (8,), float32)``: indices 0-4 are the tiers CSI300, CSI500, CSI1000, CSI2000,
    MICRO; a < 0 sells ``|a| x max_trade_frac`` of the tier's holdings this step (T+1-locked
    shares excepted), a > 0 buys ``a x max_buy_frac x equity`` of the tier (float-cap weighted;
    e.g. rotating into CSI300 to cut the margin requirement). Indices 5-7 are IF, IC, IM: a > 0
    covers ``a x max_futures_frac`` of the short, a < 0 adds a short of ``|a| x max_futures_frac x
    equity``. New exposure must keep the requirement within equity / ``margin_initial`` (a book
    cannot buy its way into a margin call), futures shorts stay within ``max_hedge_ratio`` x the
    long book (a neutral mandate: an excess is bought back), and regulation, leverage caps and the
    80% correlation rule may cut orders (``info["cut_value"]``); limit-down
    queues may leave sells unfilled (``info["unfilled_sell_value"]``). Values outside [-1, 1] are
    clipped and counted in ``info["action_clipped"]``; NaN/inf or a wrong shape raise ValueError
    and leave the env unchanged. In ``scenario="almgren_chriss"`` the space is ``Box(-1, 1, (1,))``:
    a < 0 sells ``|a|`` of the remaining shares, a > 0 buys ``a x initial_shares``; the last step
    sells what is left.

    ## Observation Space
    ``Box(low, high, ({N_OBS},), float32)``, every feature clipped to its bounds:

    | idx | feature              |    low |  high |
    |-----|----------------------|--------|-------|
{_obs_table()}

    (nav: equity/initial equity; leverage: gross/equity/10; exposures and futures: notional /
    initial equity; ret_today: tier return since the last close x 10; volume: today's traded value
    / normal tier ADV; sell_flow: market net selling this step in ADV per day; peers_selling: the
    other managers' sales this step / their initial gross.) In ``almgren_chriss``: ``Box((3,))`` =
    (remaining shares / X in [0, 2], step / N in [0, 1], (S - S0) / (sigma sqrt(T)) in [-10, 10];
    with sigma = 0 the price move is scaled by gamma N X, the permanent impact of every seller's
    whole position, else by 1).

    ## Rewards
    The change of log NAV per step, NAV = (equity - unwind charge) / initial equity, floored at
    1e-6, so an episode's rewards sum to the log of the NAV the manager really ends with
    (``info["log_nav"]``): a broker's fire sale after a forced liquidation reaches the rewards, and
    stock still held at the horizon is charged the expected cost of selling it over
    ``mandate_unwind_days`` (``info["unwind_cost"]``). ``reward_crra=g`` (default 1, log) pays a
    more (g > 1) or less risk-averse manager the increments of its CRRA utility
    ``(x^(1-g) - 1)/(1 - g)`` at ``x = max(NAV, reward_nav_floor)`` instead; the market and the
    info are the same. In ``almgren_chriss``: minus the step's
    mean-variance shortfall in percent of the initial value,
    ``-(n_k (S0 - S~_k) + risk_aversion sigma^2 tau x_k^2) / (X S0) x 100``, whose expected sum over
    an episode is ``-(E[IS] + risk_aversion Var[IS])`` for any deterministic schedule, the
    Almgren-Chriss objective.

    ## Starting State
    Books, leverage (``leverage`` +- ``leverage_dispersion``), peer rules, the exogenous path
    (drifts, shock day and size, warm-up length, trend start) and all shocks of the episode are
    drawn from the seed; the universe is fixed by ``universe_seed``. After a warm-up the learner
    takes a fresh ~4x book at the prices the market has reached.

    ## Episode End
    ``terminated`` is True once the broker has sold the book of a force-liquidated learner (margin
    ratio below ``margin_liquidation``, an uncured call past its deadline, or equity <= 0; the
    episode goes on without control while the broker sells; only if ``terminate_on_liquidation``)
    or when the mandate's horizon (``horizon_days``) ends: the
    horizon is part of the task and observed through ``day``/``time_of_day``, so it is a terminal
    state, not a time limit. ``truncated`` is never set by the env itself; a ``TimeLimit`` wrapper
    (``max_episode_steps``) shorter than the horizon sets it.

    ## Info
    Every step: ``equity`` (CNY bn), ``nav``, ``leverage``, ``margin_ratio``, ``margin_call``,
    ``forced_liquidation``, ``sold_value``, ``unfilled_sell_value``, ``cut_value``,
    ``tier_drawdown`` (5, year-to-date), ``basis_annualized`` (IF, IC, IM),
    ``limit_down_share``, ``day``, ``step``, ``action_clipped``, ``unwind_cost`` (the horizon's
    unwind charge, CNY bn) and ``log_nav`` (the sum of the episode's rewards so far); in
    ``almgren_chriss`` also
    ``implementation_shortfall`` once the episode ends.

    ## Arguments
    ``gym.make("DMAUnwind-v0", scenario="feb2024", render_mode=None, **overrides)``: any
    ``MarketConfig`` (or ``AlmgrenChrissConfig``) field as a keyword override, validated.
    ``render_mode``: ``"ansi"`` (one-line status) or ``"rgb_array"`` (dashboard frame).

    ## Version History
    * v0: initial release.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, scenario: str = "feb2024", render_mode: str | None = None, **overrides: Any):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}: allowed {self.metadata['render_modes']} or None")
        self.scenario = scenario
        self.config = scenarios.get(scenario, **overrides)
        self.render_mode = render_mode
        self.engine = Engine(self.config, 1, learners=(0,))
        self.action_space, self.observation_space = self.engine.single_spaces()
        self._act_shape = self.action_space.shape
        self._act = self.engine.action_buffer
        self._history: list[dict[str, np.ndarray]] = []
        self._bind()

    def _bind(self) -> None:
        g = self.engine
        self._obs0, self._rew, self._term = g.obs[0, 0], g.reward, g.terminated  # read-only views

    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        for k in ("_act", "_obs0", "_rew", "_term"):  # views of the engine's arrays: rebound
            d.pop(k, None)
        return d

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)
        self._act = self.engine.action_buffer
        self._bind()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        g = self.engine
        g.reset(generators=[self.np_random])
        self._history = []
        self._record()
        return g.obs[0, 0].copy(), g.info_dict(0)

    def step(self, action):
        g = self.engine
        if type(action) is np.ndarray and action.shape == self._act_shape and action.dtype.kind == "f":
            self._act[0, 0] = action  # the common case; NaN/inf is caught in the core, before any change
        else:
            self._act[:] = g.validate(action, self._act_shape)  # raises before anything changes
        g.step(self._act)
        if self.render_mode == "rgb_array":
            self._record()
        return self._obs0.copy(), float(self._rew[0, 0]), bool(self._term[0, 0]), False, g.info_dict(0)

    # ---- rendering -------------------------------------------------------------------------
    def _record(self) -> None:
        if self.render_mode != "rgb_array":
            return
        from dma_gym.render import snapshot
        self._history.append(snapshot(self.engine, 0, 0))

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        if self.render_mode == "ansi":
            from dma_gym.render import status_line
            return status_line(self.engine, 0)
        from dma_gym.render import dashboard
        return dashboard(self._history)
