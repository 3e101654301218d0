"""Core invariants checked after every step of full episodes, plus determinism and batching.

Every rollout goes through ``conftest.rollout`` (an ``Engine``); the ``actions_fn`` hook (called
right before each step) snapshots the pre-step state so that fills can be checked against what was
sellable.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import market, rollout

from dma_gym import Engine
from dma_gym.core.layout import State, views
from dma_gym.testing.invariants import InvariantChecker as Checker
from dma_gym.testing.invariants import fail_unless as _fail
from dma_gym.core.enums import P

N_CTRL = 3  # managers 0..2 controlled by random actions


def _actions_fn(m, checker: Checker | None, seed: int | None, n_envs: int, n_ctrl: int = N_CTRL,
                low: float = -1.0, high: float = 1.0):
    """``actions_fn`` for ``rollout``: snapshots the pre-step state, then (if ``seed`` is given)
    draws uniform actions for managers 0..n_ctrl-1 from a per-env seeded Generator."""
    arngs = None if seed is None else [np.random.default_rng([seed, e, 7]) for e in range(n_envs)]
    act = np.zeros((n_envs, m.n_managers, m.n_actions))

    def fn(k, s, _rng):
        if checker is not None:
            checker.before(s)
        if arngs is not None:
            for e in range(n_envs):
                act[e, :n_ctrl] = arngs[e].uniform(low, high, (n_ctrl, m.n_actions))
        return act

    return fn


def _controlled(m, controlled: bool, n_ctrl: int = N_CTRL) -> np.ndarray:
    c = np.zeros(m.n_managers, bool)
    if controlled:
        c[:n_ctrl] = True
    return c


def _check_rollout(m, n_envs: int, seed: int, controlled: bool, n_ctrl: int = N_CTRL,
                   low: float = -1.0, high: float = 1.0) -> Checker:
    chk = Checker(m, n_envs)
    fn = _actions_fn(m, chk, seed + 1000 if controlled else None, n_envs, n_ctrl, low, high)
    n = 0
    for k, buf, s in rollout(m, n_envs, seed, controlled=_controlled(m, controlled, n_ctrl), actions_fn=fn):
        chk.after(k, buf, s)
        n += 1
    assert n == m.steps and s.done.all() and (s.step == m.steps).all()
    assert chk.n_closes == m.steps // chk.spd
    assert chk.sold > 0.0, "no manager sold anything: the fill checks were vacuous"
    if controlled:
        assert chk.bought > 0.0 and chk.locked_seen > 0.0, "no purchases: the T+1 checks were vacuous"
    return chk


@pytest.mark.parametrize("controlled", [False, True], ids=["heuristic", "controlled"])
@pytest.mark.parametrize("scenario", ["feb2024", "calm"])
def test_invariants_every_step(scenario, controlled):
    m = market(scenario)
    chk = _check_rollout(m, n_envs=3, seed=11, controlled=controlled)
    if scenario == "feb2024":
        assert chk.ld_seen > 0, "feb2024 never hit limit-down: the band checks were not exercised at the limit"


@pytest.mark.parametrize("controlled", [False, True], ids=["heuristic", "controlled"])
def test_invariants_sequential_clearing(controlled):
    m = market("feb2024", clearing_order=1)
    assert m.pf[P.CLEARING_ORDER] == 1.0
    _check_rollout(m, n_envs=3, seed=23, controlled=controlled)


def test_invariants_under_stress_selling():
    """Managers 0..5 mostly dump (actions in [-1, 0.25]: four fifths of the entries sell, some at
    full speed; the rest buy, so the T+1 checks see purchases): locked limits, rationed fills and
    liquidations everywhere, in both clearing modes."""
    for order in (0, 1):
        # the initial margin lowered so that the buys are not all cut in the sell-off
        m = market("feb2024_replay", clearing_order=order, margin_initial=0.6, margin_warning=0.6, margin_call=0.55)
        chk = _check_rollout(m, n_envs=2, seed=31, controlled=True, n_ctrl=6, low=-1.0, high=0.25)
        assert chk.ld_seen > 0


def test_no_price_limits_prices_positive_and_finite():
    m = market("feb2024", price_limits=False)
    assert m.pf[P.LIMITS_ON] == 0.0
    seen_beyond_band = False
    for controlled in (False, True):  # heuristic, then managers 0..5 dumping (actions in [-1, -0.5])
        chk = Checker(m, 3)
        fn = _actions_fn(m, chk, 77 if controlled else None, 3, 6, -1.0, -0.5)
        last = None
        for k, buf, s in rollout(m, 3, 5, controlled=_controlled(m, controlled, 6), actions_fn=fn):
            chk.after(k, buf, s)  # accounting, fills, T+1 and "no band" at the closes
            assert np.isfinite(s.price).all() and (s.price > 0.0).all()
            assert np.isfinite(s.exec_price).all() and (s.exec_price > 0.0).all()
            if last is None:
                last = np.broadcast_to(m.universe.price0, s.price.shape)
            if s.step[0] % chk.spd == 0:
                ret = np.abs(s.price / last - 1.0)
                seen_beyond_band |= bool((ret > m.universe.limit[None, :] + 1e-6).any())
                last = s.price.copy()
    # without limits, dumping must move some stock further than its board limit in a day
    assert seen_beyond_band, "no daily move beyond the board limit: limits still seem to apply"


def _final(m, n_envs, seed, controlled=True):
    fn = _actions_fn(m, None, seed + 1000 if controlled else None, n_envs)
    for _, buf, s in rollout(m, n_envs, seed, controlled=_controlled(m, controlled), actions_fn=fn):
        pass
    return buf, s


@pytest.mark.parametrize("scenario", ["feb2024", "calm"])
def test_same_seed_bit_identical(scenario):
    m = market(scenario)
    a, _ = _final(m, 2, 3)
    b, _ = _final(m, 2, 3)
    assert a.sf.tobytes() == b.sf.tobytes()
    assert a.si.tobytes() == b.si.tobytes()
    assert a.sb.tobytes() == b.sb.tobytes()
    c, _ = _final(m, 2, 4)
    assert a.sf.tobytes() != c.sf.tobytes()
    assert not np.array_equal(views(a, m.dims(2)).price, views(c, m.dims(2)).price)


def test_batch_equals_single_envs():
    """E=3 in one engine == three E=1 engines seeded like ``rollout`` seeds env e (seed + e), with
    the same actions."""
    m = market("feb2024")
    seed, E = 9, 3
    batch, sb = _final(m, E, seed)
    learners = tuple(range(N_CTRL))
    for e in range(E):
        eng = Engine(m.config, 1, learners)
        eng.reset(seed=seed + e)
        arng = np.random.default_rng([seed + 1000, e, 7])
        for _ in range(m.steps):
            eng.step(arng.uniform(-1.0, 1.0, (1, N_CTRL, m.n_actions)))
        for name, a_batch, a_single in zip(State._fields, sb, views(eng.buf, eng.dims)):
            assert a_batch[e].tobytes() == a_single[0].tobytes(), f"env {e}: field {name} differs"


# ---- the checker itself must catch violations ------------------------------------------------
def _held_stock(s, a=1):
    return int(np.argmax(s.hold[0, a]))


def _sold_stock(s):
    a, i = np.argwhere(s.fill[0] < 0.0)[0]
    return int(a), int(i)


CORRUPTIONS = {
    # name: (step to corrupt at (3 is a close with 4 steps/day), corruption(s, chk), message)
    "nan": (1, lambda s, c: s.stress.__setitem__((0, 0), np.nan), "non-finite"),
    "equity": (1, lambda s, c: s.equity.__setitem__((0, 1), s.equity[0, 1] * 1.001), "equity =="),
    "audit": (1, lambda s, c: s.cum_fee.__setitem__((0, 1), s.cum_fee[0, 1] + 1e-3 * s.equity0[0, 1]), "cash audit"),
    "locked>hold": (1, lambda s, c: s.locked.__setitem__((0, 1, _held_stock(s)), s.hold[0, 1, _held_stock(s)] * 1.01),
                    "locked <= hold"),
    "fill>order": (1, lambda s, c: s.fill.__setitem__((0, *_sold_stock(s)), 2 * s.order[(0, *_sold_stock(s))]),
                   r"\|fill\| <= \|order\|"),
    "oversold": (1, lambda s, c: c.locked0.__setitem__((0, *_sold_stock(s)), c.hold0[(0, *_sold_stock(s))]),
                 "sold <= hold - locked"),
    "exec>hi": (1, lambda s, c: s.exec_price.__setitem__((0, 7), s.hi[0, 7] * 1.01), "lo <= exec_price <= hi"),
    "t+1": (1, lambda s, c: c.day_buys.__setitem__((0, 1, 3), s.hold[0, 1, 3] + 1.0), "below today's purchases"),
    "lock!=buys": (1, lambda s, c: s.locked.__setitem__((0, 1, _held_stock(s)), 1e-3 * s.hold[0, 1, _held_stock(s)]),
                   "locked == shares bought today"),
    "not-unlocked": (3, lambda s, c: s.locked.__setitem__((0, 1, _held_stock(s)), 1e-3 * s.hold[0, 1, _held_stock(s)]),
                     "locked resets"),
    "band": (3, lambda s, c: s.lo.__setitem__((0, 5), s.lo[0, 5] * (1 + 1e-12)), "new limit-down"),
    "close-return": (3, lambda s, c: c.last_close.__setitem__((0, 5), s.price[0, 5] * 1.5), "close-to-close"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_checker_detects(case):
    at, corrupt, msg = CORRUPTIONS[case]
    m = market("feb2024_replay")
    chk = Checker(m, 1)
    for k, buf, s in rollout(m, 1, 11, actions_fn=_actions_fn(m, chk, None, 1)):
        if k == at:
            corrupt(s, chk)
            with pytest.raises(AssertionError, match=msg):
                chk.after(k, buf, s)
            return
        chk.after(k, buf, s)
