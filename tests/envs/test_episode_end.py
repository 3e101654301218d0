"""``terminated`` once the broker has sold a liquidated learner's book, or at the horizon;
``truncated`` only from a ``TimeLimit`` (``max_episode_steps``). Every episode's rewards sum to the
log of the NAV it ends with, unwind charge and fire sale included."""
from __future__ import annotations

import numpy as np
import pytest
from envtools import make

from dma_gym.core.enums import O

ZERO = np.zeros(8, np.float32)
BUY_AND_SHORT = np.array([1, 1, 1, 1, 1, -1, -1, -1], np.float32)  # lever up: buy stocks, add shorts
DELEVER = np.array([-1, -1, -1, -1, -1, 1, 1, 1], np.float32)  # sell stocks, cover futures
CRASH = dict(leverage=6.0, leverage_dispersion=0.0, shock_day=0, shock_market=-0.2)


def _run(env, action, seed=0, limit=1000):
    env.reset(seed=seed)
    out = []
    for _ in range(limit):
        out.append(env.step(action))
        if out[-1][2] or out[-1][3]:
            break
    return out


@pytest.mark.parametrize("scenario, overrides, action", [
    ("feb2024", CRASH, ZERO),  # a 6x book hit by a 20% crash on day 0
    ("calm", {}, BUY_AND_SHORT),  # driven into liquidation by its own actions
])
def test_forced_liquidation_terminates(scenario, overrides, action):
    env = make(scenario, **overrides)
    steps = _run(env, action)
    obs, reward, terminated, truncated, info = steps[-1]
    u = env.unwrapped
    assert terminated and not truncated
    assert info["forced_liquidation"] and u.state.liquidated[0, 0]
    assert info["step"] < u.market.steps and not u.state.done[0]  # before the horizon
    assert not any(s[2] or s[3] for s in steps[:-1])
    # the episode went on without control until the broker's sale was done: the book is gone
    first = next(k for k, s in enumerate(steps) if s[4]["forced_liquidation"])
    assert first < len(steps) - 1, "the broker's sale takes steps after the takeover"
    assert u.state.gross[0, 0] <= 1e-6 * u.state.gross0[0, 0]
    assert obs[O.FORCED_LIQUIDATION] == 1.0 and steps[first - 1][0][O.FORCED_LIQUIDATION] == 0.0
    # the sale's losses reach the rewards: they sum to the log of the NAV the manager ends with
    total = sum(float(s[1]) for s in steps)
    assert abs(total - info["log_nav"]) < 1e-9 and abs(total - np.log(max(info["nav"], 1e-6))) < 1e-9
    assert info["nav"] < steps[first][4]["nav"], "the fire sale costs more than the trigger mark"
    # without terminate_on_liquidation the same episode goes on to the horizon
    env2 = make(scenario, terminate_on_liquidation=False, **overrides)
    steps2 = _run(env2, action)
    assert len(steps2) == env2.unwrapped.market.steps > len(steps)
    assert steps2[len(steps) - 1][4]["forced_liquidation"] and not steps2[len(steps) - 1][2]
    assert steps2[-1][2] and steps2[-1][4]["forced_liquidation"]


def test_open_positions_pay_their_unwind_at_the_horizon():
    """hold ends with its whole book open: its last step is charged the expected cost of selling
    it (info["unwind_cost"]), and the NAV is net of it; dump is flat and pays nothing."""
    for action, flat in ((ZERO, False), (DELEVER, True)):
        env = make("feb2024_replay", terminate_on_liquidation=False)
        steps = _run(env, action, seed=4)
        info = steps[-1][4]
        st = env.unwrapped.state
        assert all(s[4]["unwind_cost"] == 0.0 for s in steps[:-1])
        if flat:  # selling a quarter a step leaves a roundoff-sized remainder
            assert info["unwind_cost"] < 1e-9 * st.gross0[0, 0]
        else:
            assert info["unwind_cost"] > 0.001 * st.gross[0, 0]
        assert info["nav"] == (info["equity"] - info["unwind_cost"]) / st.equity0[0, 0]
        total = sum(float(s[1]) for s in steps)
        assert abs(total - info["log_nav"]) < 1e-9


@pytest.mark.parametrize("scenario, action", [("feb2024", DELEVER), ("almgren_chriss", np.zeros(1, np.float32))])
def test_horizon_terminates(scenario, action):
    env = make(scenario)
    steps = _run(env, action)
    n = env.unwrapped.market.steps
    assert len(steps) == n
    assert [s[2] for s in steps] == [False] * (n - 1) + [True]
    assert not any(s[3] for s in steps)
    assert not steps[-1][4]["forced_liquidation"] and steps[-1][4]["step"] == n


def test_time_limit_truncates():
    env = make("feb2024", max_episode_steps=10)
    for seed in (0, 1):
        steps = _run(env, DELEVER, seed=seed)
        assert len(steps) == 10
        assert [s[3] for s in steps] == [False] * 9 + [True]
        assert not any(s[2] for s in steps)
    # a limit beyond the horizon never truncates
    env = make("almgren_chriss", max_episode_steps=50)
    steps = _run(env, np.zeros(1, np.float32))
    assert len(steps) == 5 and steps[-1][2] and not steps[-1][3]
