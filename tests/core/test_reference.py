"""The numba core, stepped through ``Engine.step``, matches the slow numpy oracle
``dma_gym.testing.reference`` exactly (to 1e-10) on randomized states and actions, in market and
Almgren-Chriss modes: the oracle replays the step from a copy of the state taken before it, with
the actions the core read (``Engine.core_actions``) and the shocks it drew (``Engine.shocks``).

States come from rolling engines forward a random number of steps, then perturbing them toward
rare branches: stress, T+1 locks, regulation, halts, liquidations and margin calls, knocked
snowballs, national-team triggers, names pinned at limit-down, fund queues, LP losses, controlled
managers with extreme actions, envs at a day close or at the last step, and a done env per batch.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from conftest import market

import dma_gym.testing.reference as reference
from dma_gym import Engine
from dma_gym.core.layout import Buffers, State, views
from dma_gym.core.enums import P
from dma_gym.testing.reference import reference_step

E = 3
RTOL = 1e-10
SCALE_FLOOR = 1e-6  # absolute tolerance is RTOL x max(median |nonzero value| of the field, this)

# (scenario, overrides): every case runs a batch of E envs under one parameter set
MARKET_CONFIGS = [
    ("feb2024", {}),
    ("calm", {}),
    ("feb2024", {"price_limits": False}),
    ("feb2024", {"clearing_order": 1}),
    ("calm", {"clearing_order": 1, "reg_from_day": 0, "restrictions_bind_broker": True}),
    ("feb2024", {"liquidity_spiral": False}),
    ("feb2024", {"no_reduction": True, "reg_from_day": 0}),
    ("feb2024", {"circuit_breaker": True, "shock_day": 1, "shock_market": -0.4}),
    ("feb2024", {"futures_on": False}),
    ("feb2024", {"snowballs_on": False}),
    ("feb2024", {"reg_from_day": 0, "futures_cover_cap": 0.3, "futures_no_new_shorts": False}),
    ("calm", {"correlation_rule": False, "national_team_on": False, "enhanced_overlay": 0.0,
              "regulation_on": False, "steps_per_day": 1}),
]
# where in the episode the stepped state sits: early, just before a close, the last step, anywhere
POSITIONS = ("early", "close", "last", "mid")
AC_CASES = 8


def _label(name: str, overrides: dict) -> str:
    return name + "".join(f",{k}={v}" for k, v in overrides.items())


MARKET_IDS = [f"{_label(n, o)}-{pos}" for n, o in MARKET_CONFIGS for pos in POSITIONS]


class Case(NamedTuple):
    market: object
    dims: np.ndarray
    before: Buffers  # the perturbed state to step
    core: Buffers  # after one engine step
    actions: np.ndarray  # (E, A, T + K) what the core read (clipped learners' actions)
    shocks: np.ndarray  # (E, n_shocks) what the core drew
    done_env: int  # -1: no done env in the batch


def _copy(buf: Buffers) -> Buffers:
    return Buffers(buf.sf.copy(), buf.si.copy(), buf.sb.copy())


def _fresh(m, rng) -> tuple[Engine, State]:
    """An engine of E fresh episodes (seeds drawn from ``rng``) in which every manager is a learner,
    so that any manager the perturbation marks ``controlled`` trades on actions; the returned
    views are writable. Right after the reset no manager is controlled."""
    eng = Engine(m.config, E, learners=range(m.n_managers))
    eng.reset(seed=[int(rng.integers(2**32)) for _ in range(E)])
    s = views(eng.buf, eng.dims)
    s.controlled[:] = False
    return eng, s


def _rollout(eng, s, n: int, rng) -> None:
    """``n`` engine steps; manager 0 is sometimes controlled with random actions on the way."""
    if rng.random() < 0.5:
        s.controlled[:, 0] = True
    for _ in range(n):
        eng.step(rng.uniform(-1.0, 1.0, (E, eng.num_learners, eng.act_dim)))


def _random_actions(eng, rng) -> np.ndarray:
    """Uniform in [-1.2, 1.2] with a share of exact extremes and zeros (the engine clips them)."""
    shape = (E, eng.num_learners, eng.act_dim)
    act = rng.uniform(-1.2, 1.2, shape)
    pick = rng.random(shape) < 0.3
    act[pick] = rng.choice([-1.2, -1.0, 0.0, 1.0, 1.2], size=int(pick.sum()))
    return act


def _perturb_market(m, s: State, rng) -> None:
    """Push a rolled-out market state toward rare branches of the step."""
    pf, u = m.pf, m.universe
    _, A, N = s.hold.shape
    K, T, B = s.fut.shape[2], s.stress.shape[1], s.knocked.shape[2]
    spd, steps = int(pf[P.STEPS_PER_DAY]), int(pf[P.STEPS])
    limits = pf[P.LIMITS_ON] > 0.5
    for e in range(E):
        # clock: shock day, a step just before the close, the last step of the episode
        if s.shock_day[e] >= 0 and rng.random() < 0.25:
            s.day[e] = int(s.shock_day[e])
            s.step[e] = s.day[e] * spd + rng.integers(spd)
        r = rng.random()
        if r < 0.25:
            s.step[e] = s.day[e] * spd + spd - 1
        elif r < 0.35:
            s.step[e] = steps - 1
            s.day[e] = (steps - 1) // spd
        # prices: a gap down (drawdowns, redemptions, national team), names pinned at the limits
        if rng.random() < 0.4:
            g = np.exp(-rng.uniform(0.02, 0.3))
            s.log_fund[e] += np.log(g)
            s.price[e] *= g
            s.prev_close[e] *= g
            if limits:
                s.lo[e] *= g
                s.hi[e] *= g
        if limits and rng.random() < 0.6:
            down = rng.random(N) < rng.uniform(0.05, 0.5)
            s.log_fund[e, down] = (np.log(s.lo[e, down]) - s.transient[e, down]
                                   - rng.uniform(0.0, 0.05, int(down.sum())))
            s.price[e, down] = s.lo[e, down]
            up = ~down & (rng.random(N) < 0.05)
            s.log_fund[e, up] = (np.log(s.hi[e, up]) - s.transient[e, up]
                                 + rng.uniform(0.0, 0.05, int(up.sum())))
        if rng.random() < 0.4:
            s.transient[e] = rng.normal(0.0, 3.0, N) * u.sigma  # LP orders hit their +-3 sigma clip
        # market-wide state
        if rng.random() < 0.6:
            s.stress[e] = rng.uniform(0.0, 1.0, T)
        if rng.random() < (0.7 if pf[P.REG_FROM_DAY] >= 0 else 0.3):
            s.reg_active[e] = True
        if rng.random() < 0.12:
            s.halted[e] = True
        if rng.random() < (0.6 if pf[P.CB_ON] > 0.5 else 0.3):
            s.tier_prev_close[e, 0] = s.tier_level[e, 0] * rng.uniform(1.0, 1.15)  # circuit breaker
        if rng.random() < 0.5:
            s.basis[e] = rng.uniform(-0.08, 0.01, K)  # deep discounts: neutral funds exit
        if rng.random() < 0.4:
            s.index_level[e] *= rng.uniform(0.85, 1.0, K)
            s.index_peak[e] *= rng.uniform(1.0, 1.2, K)  # national team triggers
            s.tier_peak[e] *= rng.uniform(1.0, 1.2, T)
        if rng.random() < 0.3:
            s.nt_budget[e] = rng.uniform(0.0, 0.05)  # budget runs out within the step
        if rng.random() < 0.3:
            s.nt_spent_today[e] = rng.uniform(0.0, 12.0)
        if rng.random() < 0.4:
            big = rng.random(N) < 0.3
            s.bg_pending[e] += big * rng.uniform(0.0, 0.5, N) * u.adv / s.price[e]
        if rng.random() < 0.3:
            s.lp_cash[e] -= rng.uniform(0.0, 400.0)  # LP losses feed stress
        if rng.random() < 0.3:
            s.knocked[e] |= rng.random((K, B)) < 0.3
        # managers
        s.rule[e] = rng.integers(0, 3, A)
        s.controlled[e] = rng.random(A) < 0.4
        if rng.random() < 0.5:
            s.locked[e] = rng.uniform(0.0, 1.0, (A, N)) * s.hold[e] * (rng.random((A, N)) < 0.5)
        if rng.random() < 0.5:
            s.margin_ratio[e] = rng.uniform(0.5, 2.0, A)
        if rng.random() < 0.5:
            s.gross0[e] *= rng.uniform(0.6, 1.1, A)
            s.day_net_sold[e] = rng.uniform(-0.02, 0.08, A) * s.gross0[e]
        if rng.random() < 0.5:
            s.cash[e] -= rng.uniform(0.0, 0.4, A) * s.gross[e]  # margin calls and liquidations
        if rng.random() < 0.3:
            s.lev_max[e] *= rng.uniform(0.7, 1.0, A)
        if rng.random() < 0.3:
            s.equity[e] = s.gross[e] / rng.uniform(4.5, 7.0, A)  # near the leverage cap
        if rng.random() < 0.3:
            s.fut_day_cover[e] = rng.uniform(0.0, 1.0, (A, K)) * np.abs(s.fut[e])
        for a in range(A):
            r = rng.random()
            if r < 0.1:
                s.liquidated[e, a] = True
                s.call_active[e, a] = False
            elif r < 0.3:
                s.call_active[e, a] = True
                s.call_deadline[e, a] = s.step[e] + rng.integers(-2, 4)
            elif r < 0.35:
                s.equity[e, a] = -rng.uniform(0.0, 1.0)


def _correlation_trap(m, s: State, act: np.ndarray, rng) -> None:
    """Some controlled managers hedge with IF only and buy small caps: the correlation rule binds."""
    T = s.stress.shape[1]
    for e in range(E):
        if rng.random() < 0.5:
            continue
        for a in np.flatnonzero(s.controlled[e]):
            if rng.random() < 0.6:
                s.fut[e, a] = [s.fut[e, a].sum(), 0.0, 0.0]
                act[e, a, :T] = [0.0, 0.0, 0.0, rng.uniform(0.0, 1.0), rng.uniform(0.5, 1.2)]


def _perturb_ac(m, s: State, rng) -> None:
    last = int(rng.integers(E))  # one env always takes the final step (sells what is left)
    for e in range(E):
        if e == last or rng.random() < 0.5:
            s.step[e] = m.steps - 1 if e == last else rng.integers(0, m.steps)
            s.day[e] = int(s.step[e] * m.pf[P.DT])
        if rng.random() < 0.3:
            s.price[e, 0] *= rng.uniform(0.8, 1.2)
        for a in range(m.n_managers):
            if rng.random() < 0.5:
                s.hold[e, a, 0] *= rng.uniform(0.0, 1.5)
            if rng.random() < 0.3:
                s.cash[e, a] += rng.uniform(-1e7, 1e7)


def _violent_shocks(eng, rng) -> np.ndarray | None:
    """Half the time: this step's shocks given instead of drawn, tripled for 30% of the envs (the
    tails where limits, halts and margin calls cluster); else None (the envs' own draws)."""
    if rng.random() < 0.5:
        return None
    A = eng.num_managers
    z = rng.standard_normal(eng.shocks.shape)
    z[rng.random(E) < 0.3] *= 3.0
    z[:, -A:] = rng.random((E, A))  # clearing-priority uniforms
    return z


def _finish(m, eng, s, rng, actions) -> Case:
    done_env = int(rng.integers(E)) if rng.random() < 0.75 else -1
    if done_env >= 0:
        s.done[done_env] = True
    before = _copy(eng.buf)
    eng.step(actions, shocks=_violent_shocks(eng, rng))
    core = _copy(eng.buf)
    return Case(m, eng.dims.copy(), before, core, eng.core_actions.copy(), eng.shocks.copy(), done_env)


@functools.lru_cache(maxsize=None)
def market_case(ci: int, pos: str) -> Case:
    name, overrides = MARKET_CONFIGS[ci]
    m = market(name, **overrides)
    rng = np.random.default_rng([ci, POSITIONS.index(pos)])
    spd, steps = int(m.pf[P.STEPS_PER_DAY]), m.steps
    if pos == "early":
        n = int(rng.integers(0, 2 * spd))
    elif pos == "close":
        n = spd * int(rng.integers(0, steps // spd - 1)) + spd - 1
    elif pos == "last":
        n = steps - 1
    else:
        n = int(rng.integers(0, steps - 1))
    eng, s = _fresh(m, rng)
    _rollout(eng, s, n, rng)
    _perturb_market(m, s, rng)
    act = _random_actions(eng, rng)
    _correlation_trap(m, s, act, rng)
    return _finish(m, eng, s, rng, act)


@functools.lru_cache(maxsize=None)
def ac_case(i: int) -> Case:
    # even cases: the one-seller benchmark; odd: the game of 2-4 sellers (one fill price, aggregate impact)
    m = market("almgren_chriss", n_sellers=1 if i % 2 == 0 else 2 + i % 3, steps=5 + 3 * i)
    rng = np.random.default_rng([100, i])
    eng, s = _fresh(m, rng)
    n = int(rng.integers(0, m.steps))
    _rollout(eng, s, n, rng)
    _perturb_ac(m, s, rng)
    act = _random_actions(eng, rng)
    act[rng.random((E, m.n_managers)) < 0.25, 0] = 0.0
    return _finish(m, eng, s, rng, act)


def assert_states_match(dims: np.ndarray, got: Buffers, want: Buffers, label: str = "") -> None:
    """Every State field equal: floats to 1e-10 relative (absolute: 1e-10 x the field's typical
    magnitude, floored at 1e-6 so fields of pure roundoff noise near 0 compare sensibly),
    ints and bools exactly. The message names the field and the first differing index."""
    sg, sw = views(got, dims), views(want, dims)
    for name in State._fields:
        a, b = getattr(sg, name), getattr(sw, name)
        if a.dtype.kind == "f":
            mag = np.abs(b[np.isfinite(b) & (b != 0.0) & (np.abs(b) < 1e100)])
            atol = RTOL * max(float(np.median(mag)) if mag.size else 0.0, SCALE_FLOOR)
            bad = ~np.isclose(a, b, rtol=RTOL, atol=atol, equal_nan=True)
        else:
            bad = a != b
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            msg = f"{label}: State.{name} differs first at {idx}: core={a[idx]!r} reference={b[idx]!r}"
            if a.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=RTOL, atol=atol, err_msg=msg)
            np.testing.assert_array_equal(a, b, err_msg=msg)


def _check(case: Case, label: str) -> None:
    ref = _copy(case.before)
    reference_step(case.market, ref, case.dims, case.actions, case.shocks)
    assert_states_match(case.dims, case.core, ref, label)
    # the step did something, and a done env was left exactly as it was
    assert not np.array_equal(case.core.sf, case.before.sf)
    if case.done_env >= 0:
        e = case.done_env
        for name, after, prior in zip(State._fields, views(case.core, case.dims), views(case.before, case.dims)):
            np.testing.assert_array_equal(after[e], prior[e], err_msg=f"done env {e}: State.{name} changed")


@pytest.mark.parametrize("ci, pos", [(ci, pos) for ci in range(len(MARKET_CONFIGS)) for pos in POSITIONS],
                         ids=MARKET_IDS)
def test_market_step_matches_reference(ci, pos):
    _check(market_case(ci, pos), MARKET_IDS[ci * len(POSITIONS) + POSITIONS.index(pos)])


@pytest.mark.parametrize("i", range(AC_CASES))
def test_almgren_chriss_step_matches_reference(i):
    _check(ac_case(i), f"almgren_chriss-{i}")


def test_cases_reach_rare_branches():
    """The randomized cases exercise the branches they are meant to (else a match proves little)."""
    hits: dict[str, int] = {}

    def hit(key, cond):
        hits[key] = hits.get(key, 0) + int(bool(np.any(cond)))

    for ci in range(len(MARKET_CONFIGS)):
        for pos in POSITIONS:
            c = market_case(ci, pos)
            b, a = views(c.before, c.dims), views(c.core, c.dims)
            live = ~b.done
            sequential = c.market.pf[P.CLEARING_ORDER] > 0.5
            rationed = ((a.fill_sell < 1.0) | (a.fill_buy < 1.0)) & (live & ~a.halted)[:, None]
            hit("done env in batch", b.done)
            hit("halted env stepped", b.halted & live)
            # a trip halts the env for the rest of the day; a close in the same step lifts the halt
            # again, but the step still cleared as halted: no fill and no volume in any stock
            no_trade = ((a.fill_buy == 0.0) & (a.fill_sell == 0.0) & (a.volume_step == 0.0)).all(axis=1)
            tripped = a.halted | no_trade
            hit("circuit breaker trips", ~b.halted & tripped & live & (c.market.pf[P.CB_ON] > 0.5))
            hit("locked limit rationing", rationed)
            hit("sequential rationing", rationed & sequential)
            hit("no price limits", c.market.pf[P.LIMITS_ON] < 0.5)
            hit("national team buys", a.nt_budget < b.nt_budget)
            hit("national team budget exhausted", (a.nt_budget == 0.0) & (b.nt_budget > 0.0))
            hit("neutral funds exit", a.nf_frac < b.nf_frac)
            hit("enhanced funds redeem", a.ie_frac < b.ie_frac)
            hit("new liquidation", a.liquidated & ~b.liquidated)
            hit("new margin call", a.call_active & ~b.call_active)
            hit("call cured", b.call_active & ~a.call_active & ~a.liquidated)
            hit("broker liquidates", b.liquidated & live[:, None])
            hit("orders cut", (a.cut_step > 0.0) & b.reg_active[:, None])
            hit("controlled managers", b.controlled & live[:, None])
            hit("day close", (a.day > b.day) & live)
            hit("episode ends", a.done & ~b.done)
            hit("snowball knock-in", a.knocked & ~b.knocked)
            hit("stress spiral", a.stress > 0.5)
    for i in range(AC_CASES):
        c = ac_case(i)
        b, a = views(c.before, c.dims), views(c.core, c.dims)
        hit("AC buy", a.bought_step > 0.0)
        hit("AC sell", a.sold_step > 0.0)
        hit("AC final step", a.done & ~b.done)
    missing = sorted(k for k, v in hits.items() if v == 0)
    assert not missing, f"branches never reached: {missing}"


def test_comparison_detects_a_tiny_perturbation():
    """The check can fail: a 1e-6 relative change of one element (or an int/bool flip) is caught
    and the message names the field."""
    c = market_case(0, "mid")
    ref = _copy(c.before)
    reference_step(c.market, ref, c.dims, c.actions, c.shocks)
    assert_states_match(c.dims, c.core, ref, "unperturbed")
    for field, how in [("cash", "float"), ("lp_inv", "float"), ("stress", "float"),
                       ("call_deadline", "int"), ("warning", "bool")]:
        bad = _copy(ref)
        arr = getattr(views(bad, c.dims), field)
        flat = arr.reshape(-1)
        j = int(np.argmax(np.abs(flat))) if how == "float" else 0
        if how == "float":
            flat[j] *= 1.0 + 1e-6
        elif how == "int":
            flat[j] += 1
        else:
            flat[j] = not flat[j]
        with pytest.raises(AssertionError, match=rf"State\.{field} differs"):
            assert_states_match(c.dims, c.core, bad, "perturbed")


def test_reference_is_independent_of_the_core():
    """reference.py imports only numpy, math, typing and the layout, and calls no core function."""
    src = Path(reference.__file__).read_text()
    allowed = {"__future__", "math", "typing", "numpy", "dma_gym.core.layout", "dma_gym.core.enums"}
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= allowed
        elif isinstance(node, ast.ImportFrom):
            assert node.module in allowed, node.module
            if node.module == "dma_gym.core.layout":
                assert {a.name for a in node.names} <= {"shock_views", "universe_views", "views"}
    assert "py_func" not in src
