"""``terminated`` on the learner's forced liquidation or at the horizon; ``truncated`` only from a
``TimeLimit`` (``max_episode_steps``)."""
from __future__ import annotations

import numpy as np
import pytest
from envtools import make

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
    assert terminated and not truncated
    assert info["forced_liquidation"] and env.unwrapped.state.liquidated[0, 0]
    assert info["step"] < env.unwrapped.market.steps and not env.unwrapped.state.done[0]  # before the horizon
    assert not any(s[2] or s[3] or s[4]["forced_liquidation"] for s in steps[:-1])
    # without terminate_on_liquidation the same episode goes on to the horizon
    env2 = make(scenario, terminate_on_liquidation=False, **overrides)
    steps2 = _run(env2, action)
    assert len(steps2) == env2.unwrapped.market.steps > len(steps)
    assert steps2[len(steps) - 1][4]["forced_liquidation"] and not steps2[len(steps) - 1][2]
    assert steps2[-1][2] and steps2[-1][4]["forced_liquidation"]


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
