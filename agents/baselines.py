"""Rule baselines for DMAUnwind-v0: memoryless functions of the observation (SB3-style ``predict``).

Conventions shared by the market-scenario rules (see ``DMAUnwindEnv``'s spec sheet): a tier action
a < 0 sells ``|a| x max_trade_frac`` of the tier's holdings, so a rule that wants to sell a share s
of a tier sends ``-s / max_trade_frac`` (clipped at -1: at most ``max_trade_frac`` per step;
override ``max_trade_frac=1`` to let a rule sell a whole tier in one step). "Covering pro rata"
means covering the same share of every futures short as the share of the long book's value
being sold this step, which keeps the hedge ratio where it is. Sales are intentions: limit-down
queues, T+1 locks and regulation may leave them unfilled; because the rules act on the current
observation, unfilled sales are simply retried from the new position.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from agents.base import RulePolicy
from agents.closed_form import almgren_chriss_from_config, nash_discrete
from dma_gym.config.params import FUTURES_NAMES, TIER_NAMES, AlmgrenChrissConfig
from dma_gym.core.enums import OBS_FEATURES

__all__ = ["AlmgrenChriss", "DeleverageTarget", "Dump", "Hold", "MarginTrigger", "Nash", "Pov", "RotateLarge",
           "Twap", "pov_volume_estimate"]

_IDX = {name: i for i, (name, _, _) in enumerate(OBS_FEATURES)}
_TIERS = tuple(t.lower() for t in TIER_NAMES)
EXPOSURE = np.array([_IDX[f"exposure_{t}"] for t in _TIERS])  # (T,) tier long value / initial equity
FUTURES = np.array([_IDX[f"futures_{k.lower()}"] for k in FUTURES_NAMES])  # (K,) notional / initial equity
VOLUME = np.array([_IDX[f"volume_{t}"] for t in _TIERS])  # (T,) traded value today / tier ADV
NAV, LEVERAGE = _IDX["nav"], _IDX["leverage"]
MARGIN_CALL, WARNING = _IDX["margin_call"], _IDX["warning"]
TIME_OF_DAY, DAY = _IDX["time_of_day"], _IDX["day"]
AC_TIME = 1  # almgren_chriss observation: (x / X, step / N, price move)
N_TIERS, N_FUTURES = len(TIER_NAMES), len(FUTURES_NAMES)


def _real(name: str, value: Any, lo: float, hi: float = math.inf, *, lo_open: bool = False) -> float:
    """``value`` as a float in [lo, hi] ((lo, hi] if ``lo_open``), else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}={value!r}: must be a real number")
    v = float(value)
    ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
    if not ok:
        rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
        raise ValueError(f"{name}={value!r}: must be finite and in {rng}")
    return v


class _Baseline(RulePolicy):
    """Shared plumbing: space checks and the share -> action conversions."""

    def __init__(self, config, observation_space, action_space):
        super().__init__(config, observation_space, action_space)
        want = (3, 1) if self.is_ac else (len(OBS_FEATURES), N_TIERS + N_FUTURES)
        if (self.obs_dim, self.act_dim) != want:
            raise ValueError(f"spaces of shape obs {observation_space.shape}, action {action_space.shape} do not "
                             f"match the {type(config).__name__} scenario (expected obs ({want[0]},), "
                             f"action ({want[1]},))")
        self.steps = int(config.steps)

    def _step_index(self, obs: np.ndarray) -> np.ndarray:
        """(n,) steps already taken in the episode, read from the observation's clock."""
        if self.is_ac:
            return np.rint(obs[:, AC_TIME] * self.steps).astype(np.int64)
        c = self.config
        day = np.rint(obs[:, DAY] * c.horizon_days)
        return (day * c.steps_per_day + np.rint(obs[:, TIME_OF_DAY] * c.steps_per_day)).astype(np.int64)

    def _market(self, obs: np.ndarray, sell_share: np.ndarray) -> np.ndarray:
        """Actions selling ``sell_share`` (n, T) of each tier, covering futures pro rata."""
        c = self.config
        act = np.zeros((obs.shape[0], self.act_dim))
        act[:, :N_TIERS] = -_scale(sell_share, c.max_trade_frac)
        sold = np.minimum(sell_share, c.max_trade_frac)  # what the clipped actions ask for
        expo = obs[:, EXPOSURE]
        long = expo.sum(axis=1)
        frac = np.divide((sold * expo).sum(axis=1), long, out=np.zeros_like(long), where=long > 0.0)
        cover = _scale(frac, c.max_futures_frac)
        act[:, N_TIERS:] = np.where(obs[:, FUTURES] < 0.0, cover[:, None], 0.0)
        return act


def _scale(share: np.ndarray, frac: float) -> np.ndarray:
    """Action magnitude that trades ``share`` when action 1 trades ``frac`` (capped at 1)."""
    if frac <= 0.0:
        return (share > 0.0).astype(np.float64)
    return np.minimum(share / frac, 1.0)


class Hold(_Baseline):
    """Does nothing: action 0 in every step (the broker may still liquidate the book)."""

    name = "hold"

    def _act(self, obs):
        return np.zeros((obs.shape[0], self.act_dim))


class Dump(_Baseline):
    """Sells everything as fast as the action space allows.

    Market: every tier at action -1 (``max_trade_frac`` of its holdings per step; with
    ``max_trade_frac=1`` the whole book in the first step) and every futures short covered at +1.
    almgren_chriss: action -1 sells all remaining shares in the first step.
    """

    name = "dump"

    def _act(self, obs):
        act = np.full((obs.shape[0], self.act_dim), -1.0)
        if not self.is_ac:
            act[:, N_TIERS:] = 1.0
        return act


class Twap(_Baseline):
    """Sells the book evenly over the horizon: with k steps taken (from the observation's clock)
    and ``n = ceil(horizon_frac x steps)``, sells 1/(n - k) of what remains (everything once
    k >= n - 1) and covers futures pro rata. With full fills the holdings fall linearly,
    x_k = x_0 (1 - k/n); a shortfall is spread over the remaining steps.

    Args:
        horizon_frac: share of the episode over which to sell, in (0, 1]. The market env's
            ``max_trade_frac`` (0.25 by default) caps a step's sale, so the last steps of a full-
            horizon schedule cannot complete unless ``max_trade_frac=1`` or ``horizon_frac < 1``.
    """

    name = "twap"

    def __init__(self, config, observation_space, action_space, *, horizon_frac: float = 1.0):
        super().__init__(config, observation_space, action_space)
        self.horizon_frac = _real("horizon_frac", horizon_frac, 0.0, 1.0, lo_open=True)
        self.n = max(1, math.ceil(self.horizon_frac * self.steps - 1e-9))

    def _params_repr(self):
        return f"horizon_frac={self.horizon_frac}"

    def _act(self, obs):
        left = np.maximum(self.n - self._step_index(obs), 1)
        share = 1.0 / left
        if self.is_ac:
            return -share[:, None]
        return self._market(obs, np.repeat(share[:, None], N_TIERS, axis=1))


class AlmgrenChriss(_Baseline):
    """The Almgren-Chriss optimal schedule x_k (docs/model.md §12.2), as a share of what remains.

    almgren_chriss scenario: the closed form of the scenario's own parameters
    (``agents.closed_form.almgren_chriss_from_config``); at step k (from the observation's
    step / N) sells n_{k+1} / x_k of the remaining shares, so with the scenario's exact dynamics
    the holdings follow x_0..x_N.

    Market scenarios: there is no linear-impact single stock, so the policy follows the AC shape
    x(t) / x_0 = sinh(kappa (T - t)) / sinh(kappa T) on the episode's step grid (T =
    ``horizon_days``, ``steps_per_day x horizon_days`` steps), selling every tier by
    1 - x_{k+1} / x_k of its holdings at step k (covering futures pro rata). The urgency
    ``kappa T`` is a keyword; its default is that of the almgren_chriss scenario's defaults
    (AC-2000, lambda = 1e-6: kappa T = 0.607 x 5 = 3.04), i.e. the benchmark schedule's shape
    stretched over the market horizon. ``max_trade_frac`` caps the late, large steps.

    Args:
        risk_aversion: almgren_chriss scenario only: lambda for the schedule (default: the
            config's ``risk_aversion``), >= 0.
        urgency: market scenarios only: kappa T (dimensionless), >= 0; 0 is TWAP.
    """

    name = "almgren_chriss"

    def __init__(self, config, observation_space, action_space, *, risk_aversion: float | None = None,
                 urgency: float | None = None):
        super().__init__(config, observation_space, action_space)
        if self.is_ac:
            if urgency is not None:
                raise ValueError(f"urgency={urgency!r}: applies to market scenarios; in almgren_chriss "
                                 "set risk_aversion (the schedule is the closed form of the config)")
            lam = config.risk_aversion if risk_aversion is None else _real("risk_aversion", risk_aversion, 0.0)
            self.risk_aversion = lam
            self.solution = sol = almgren_chriss_from_config(config.replace(risk_aversion=lam))
            x, n = sol.holdings, sol.trades
            share = np.divide(n, x[:-1], out=np.ones_like(n), where=x[:-1] > 0.0)
            share[-1] = 1.0
            self._share = share  # (N,) share of the remaining shares sold at step k
        else:
            if risk_aversion is not None:
                raise ValueError(f"risk_aversion={risk_aversion!r}: applies to the almgren_chriss scenario; "
                                 "in market scenarios set urgency (kappa T)")
            if urgency is None:
                ref = almgren_chriss_from_config(AlmgrenChrissConfig())
                urgency = ref.kappa * AlmgrenChrissConfig().horizon_days
            self.urgency = _real("urgency", urgency, 0.0)
            k = np.arange(self.steps, dtype=np.float64)
            self._share = 1.0 - _sinh_ratio(self.urgency * (self.steps - k - 1) / self.steps, self.urgency / self.steps)
            self._share[-1] = 1.0

    def _params_repr(self):
        return f"risk_aversion={self.risk_aversion}" if self.is_ac else f"urgency={self.urgency}"

    def _act(self, obs):
        share = self._share[np.clip(self._step_index(obs), 0, self.steps - 1)]
        if self.is_ac:
            return -share[:, None]
        return self._market(obs, np.repeat(share[:, None], N_TIERS, axis=1))


class Nash(_Baseline):
    """One seller's schedule in the symmetric discrete Nash equilibrium of the multi-seller
    Almgren-Chriss game (``agents.closed_form.nash_discrete``, docs/model.md §12.3-12.4), as a
    share of what remains; almgren_chriss scenario only.

    The game is the scenario's: ``n_sellers`` sellers of X shares each, all filled at
    S_{k-1} - eta N_k / tau with N_k the sellers' aggregate trade, the price falling by gamma N_k;
    each minimises E + (alpha/2) Var of its own shortfall. At step k the policy sells
    n_{k+1} / x_k of its remaining shares, so with every seller playing it the holdings follow
    the equilibrium x_0..x_M; a seller facing N - 1 of these plays a best response when it plays
    it too. With one seller it is the Almgren-Chriss schedule (alpha = 2 lambda).

    Args:
        risk_aversion: alpha in E + (alpha/2) Var (default: 2 x the config's ``risk_aversion``,
            the scenario's lambda in E + lambda Var), >= 0; 0 is the risk-neutral game of
            Carlin-Lobo-Viswanathan.
        n_sellers: N of the game (default: the config's ``n_sellers``), int >= 1.
    """

    name = "nash"
    ac_only = True

    def __init__(self, config, observation_space, action_space, *, risk_aversion: float | None = None,
                 n_sellers: int | None = None):
        super().__init__(config, observation_space, action_space)
        c = config
        self.risk_aversion = 2.0 * c.risk_aversion if risk_aversion is None else _real("risk_aversion", risk_aversion, 0.0)
        n = c.n_sellers if n_sellers is None else n_sellers
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n_sellers={n!r}: must be a positive int")
        self.n_sellers = int(n)
        x = nash_discrete(self.n_sellers, c.initial_shares, c.horizon_days, c.steps, c.eta, c.gamma, c.sigma,
                          self.risk_aversion)
        self.holdings = x
        trades = x[:-1] - x[1:]
        share = np.divide(trades, x[:-1], out=np.ones_like(trades), where=x[:-1] > 0.0)
        share[-1] = 1.0
        self._share = np.clip(share, 0.0, 1.0)

    def _params_repr(self):
        return f"risk_aversion={self.risk_aversion}, n_sellers={self.n_sellers}"

    def _act(self, obs):
        return -self._share[np.clip(self._step_index(obs), 0, self.steps - 1)][:, None]


def _sinh_ratio(a: np.ndarray, d: float) -> np.ndarray:
    """sinh(a) / sinh(a + d) for a >= 0, d > 0, without overflow (exponentials of non-positive
    arguments); a / (a + d), its limit, where a + d is tiny."""
    a = np.asarray(a, np.float64)
    if d == 0.0:
        return np.ones_like(a)
    small = a + d < 1e-8
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.exp(-d) * np.expm1(-2.0 * a) / np.expm1(-2.0 * (a + d))
    return np.where(small, a / (a + d), r)


def pov_volume_estimate(obs: np.ndarray, config) -> np.ndarray:
    """(n, T) estimated traded value per step in each tier, CNY bn, from the volume features.

    ``volume_<tier>`` is the tier's traded value so far today / its normal ADV. After j > 0 steps
    of a day it covers j steps; at a day's first step it still shows the whole previous day
    (``steps_per_day`` steps; zero at the episode's start). The estimate is that average per step
    (so it lags one step and includes the policy's own past fills).
    """
    spd = config.steps_per_day
    tod = np.rint(obs[:, TIME_OF_DAY] * spd)
    counted = np.where(tod > 0, tod, spd)
    return obs[:, VOLUME] * np.asarray(config.tier_adv) / counted[:, None]


class Pov(_Baseline):
    """Participation cap (percent of volume): sells each tier at ``rate`` x its estimated traded
    value per step (``pov_volume_estimate``: today's average per step from the observed volume
    features, or the previous day's at a day's first step; nothing before any volume is
    observed), capped by ``max_trade_frac`` of the holdings, until the book is gone; covers
    futures pro rata.

    Approximations, documented: the cap is in CNY at the observed prices, so the filled value can
    differ by the step's price move; observation exposures are per initial equity, so turning
    the cap into a share of holdings needs the book's initial equity, ``book_equity``.

    Args:
        rate: participation rate in (0, 1].
        book_equity: the learner's initial equity, CNY bn (> 0); default the average book,
            ``dma_equity / n_managers`` (a drawn book differs by up to about +-30%; pass
            ``env.unwrapped.state.equity0[0, 0]`` after a reset for the exact cap).
    """

    name = "pov"
    market_only = True

    def __init__(self, config, observation_space, action_space, *, rate: float = 0.1,
                 book_equity: float | None = None):
        super().__init__(config, observation_space, action_space)
        self.rate = _real("rate", rate, 0.0, 1.0, lo_open=True)
        eq = config.dma_equity / config.n_managers if book_equity is None else book_equity
        self.book_equity = _real("book_equity", eq, 0.0, lo_open=True)

    def _params_repr(self):
        return f"rate={self.rate}, book_equity={self.book_equity:.4g}"

    def caps(self, obs: np.ndarray) -> np.ndarray:
        """(n, T) sale cap per tier this step, CNY bn: ``rate`` x the volume estimate."""
        return self.rate * pov_volume_estimate(np.atleast_2d(np.asarray(obs, np.float64)), self.config)

    def _act(self, obs):
        held = obs[:, EXPOSURE] * self.book_equity  # CNY bn per tier
        share = np.divide(self.caps(obs), held, out=np.zeros_like(held), where=held > 0.0)
        return self._market(obs, np.minimum(share, 1.0))


class MarginTrigger(_Baseline):
    """The herd: does nothing until the observation shows a margin warning or call, then sells
    every tier at ``intensity`` x ``max_trade_frac`` per step while the flag stays up, covering
    futures pro rata.

    Args:
        trigger: ``"warning"`` (margin ratio below the warning line, or a call outstanding) or
            ``"call"`` (only an outstanding margin call).
        intensity: action magnitude once triggered, in (0, 1].
    """

    name = "margin_trigger"
    market_only = True
    TRIGGERS = ("warning", "call")

    def __init__(self, config, observation_space, action_space, *, trigger: str = "warning",
                 intensity: float = 1.0):
        super().__init__(config, observation_space, action_space)
        if trigger not in self.TRIGGERS:
            raise ValueError(f"trigger={trigger!r}: must be one of {self.TRIGGERS}")
        self.trigger = trigger
        self.intensity = _real("intensity", intensity, 0.0, 1.0, lo_open=True)

    def _params_repr(self):
        return f"trigger={self.trigger!r}, intensity={self.intensity}"

    def triggered(self, obs: np.ndarray) -> np.ndarray:
        """(n,) bool: the flag this policy reacts to is up."""
        obs = np.atleast_2d(obs)
        flag = obs[:, MARGIN_CALL] > 0.5
        if self.trigger == "warning":
            flag |= obs[:, WARNING] > 0.5
        return flag

    def _act(self, obs):
        share = np.where(self.triggered(obs), self.intensity * self.config.max_trade_frac, 0.0)
        return self._market(obs, np.repeat(share[:, None], N_TIERS, axis=1))


class RotateLarge(_Baseline):
    """Rotation to large caps: sells ``intensity`` x ``max_trade_frac`` of each tier in
    ``sell_tiers`` per step and buys CSI300 names (float-cap weighted) for ``buy_ratio`` x the
    value sold, at most ``max_buy_frac`` x equity per step (the action's limit): the lower CSI300
    margin rate raises the margin ratio, and the gross falls by whatever the buy limit leaves
    out. Futures are left alone. Buys go through the env's leverage cap, scale freeze and
    correlation rule, which may cut them (``info["cut_value"]``).

    Args:
        sell_tiers: names among CSI300..MICRO (not CSI300) to sell; default CSI2000 and MICRO.
        intensity: sale action magnitude in (0, 1].
        buy_ratio: CSI300 buy value per intended sale value, >= 0.
    """

    name = "rotate_large"
    market_only = True

    def __init__(self, config, observation_space, action_space, *, sell_tiers: Sequence[str] = ("CSI2000", "MICRO"),
                 intensity: float = 1.0, buy_ratio: float = 1.0):
        super().__init__(config, observation_space, action_space)
        tiers = (sell_tiers,) if isinstance(sell_tiers, str) else tuple(sell_tiers)
        bad = [t for t in tiers if not isinstance(t, str) or t.upper() not in TIER_NAMES[1:]]
        if not tiers or bad:
            raise ValueError(f"sell_tiers={sell_tiers!r}: must be a non-empty subset of {TIER_NAMES[1:]}")
        self.sell_tiers = tuple(t.upper() for t in tiers)
        self._mask = np.array([t in self.sell_tiers for t in TIER_NAMES], np.float64)
        self.intensity = _real("intensity", intensity, 0.0, 1.0, lo_open=True)
        self.buy_ratio = _real("buy_ratio", buy_ratio, 0.0)

    def _params_repr(self):
        return f"sell_tiers={self.sell_tiers}, intensity={self.intensity}, buy_ratio={self.buy_ratio}"

    def _act(self, obs):
        c = self.config
        n = obs.shape[0]
        share = self.intensity * c.max_trade_frac
        act = np.zeros((n, self.act_dim))
        act[:, :N_TIERS] = -self.intensity * self._mask
        sold = share * (obs[:, EXPOSURE] * self._mask).sum(axis=1)  # per initial equity
        nav = obs[:, NAV]  # buys are sized on current equity: a x max_buy_frac x equity
        want = np.divide(self.buy_ratio * sold, nav, out=np.zeros(n), where=nav > 0.0)
        act[:, 0] = _scale(want, c.max_buy_frac)
        return act


class DeleverageTarget(_Baseline):
    """Leverage targeting (Greenwood-Landier-Thesmar): when gross leverage L (observed) exceeds
    ``target``, sells the share ``speed x (1 - target / L)`` of every tier (pro rata, capped by
    ``max_trade_frac``) and covers the futures pro rata, so the hedge stays matched to the long
    book; at or below the target it does nothing (no re-levering).

    Args:
        target: gross long / equity to reach, > 0.
        speed: share of the gap closed per step, in (0, 1].
    """

    name = "deleverage_target"
    market_only = True

    def __init__(self, config, observation_space, action_space, *, target: float = 3.0, speed: float = 1.0):
        super().__init__(config, observation_space, action_space)
        self.target = _real("target", target, 0.0, lo_open=True)
        self.speed = _real("speed", speed, 0.0, 1.0, lo_open=True)

    def _params_repr(self):
        return f"target={self.target}, speed={self.speed}"

    def _act(self, obs):
        lev = obs[:, LEVERAGE] * 10.0
        gap = np.divide(self.target, lev, out=np.ones_like(lev), where=lev > 0.0)
        share = self.speed * np.maximum(1.0 - gap, 0.0)
        return self._market(obs, np.repeat(share[:, None], N_TIERS, axis=1))
