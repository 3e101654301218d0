"""Every step's info carries the info keys of docs/model.md §11.4 with the right shapes and types; Almgren-Chriss adds
``implementation_shortfall`` at the end only, equal to X S0 minus the final cash."""
from __future__ import annotations

import numpy as np
import pytest
from envtools import INFO_CONTRACT, SCENARIOS, episode, make, make_vec, random_actions

BOOL_KEYS = ("margin_call", "forced_liquidation")
INT_KEYS = ("day", "step", "action_clipped")


def _check_info(info: dict, where: str) -> None:
    missing = set(INFO_CONTRACT) - set(info)
    assert not missing, f"{where}: missing {sorted(missing)}"
    for k, shape in INFO_CONTRACT.items():
        v = info[k]
        assert np.shape(v) == shape, f"{where}: {k} has shape {np.shape(v)}, expected {shape}"
        if k in BOOL_KEYS:
            assert type(v) is bool, f"{where}: {k} is {type(v).__name__}"
        elif k in INT_KEYS:
            assert type(v) is int, f"{where}: {k} is {type(v).__name__}"
        else:
            assert np.all(np.isfinite(v)), f"{where}: {k}={v}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_info_keys_every_step(scenario):
    env = make(scenario)
    steps = episode(env, random_actions(env.action_space.shape, 1000, 1), seed=3)
    u = env.unwrapped
    for k, step in enumerate(steps):
        info = step[-1]
        _check_info(info, f"step {k}")
        assert info["step"] == k
        assert 0 <= info["day"] <= u.config.horizon_days
        if k:
            assert steps[k - 1][-1]["day"] <= info["day"]
        assert ("implementation_shortfall" in info) == (scenario == "almgren_chriss" and k == len(steps) - 1), \
            f"step {k}: implementation_shortfall present only at the end of almgren_chriss"
    last = steps[-1][-1]
    assert last["nav"] == (last["equity"] - last["unwind_cost"]) / u.state.equity0[0, 0]
    if scenario != "almgren_chriss":  # there the reward is the mean-variance shortfall (§12.1)
        assert abs(sum(float(s[1]) for s in steps[1:]) - last["log_nav"]) < 1e-9
    assert last["margin_call"] == bool(u.state.call_active[0, 0])
    assert last["forced_liquidation"] == bool(u.state.liquidated[0, 0])


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("schedule", ["random", "linear"])
def test_almgren_chriss_implementation_shortfall(schedule, seed):
    env = make("almgren_chriss")
    u = env.unwrapped
    c = u.config
    n = c.steps
    if schedule == "linear":  # sell 1/(n-k) of what is left: the TWAP schedule
        acts = np.array([[-1.0 / (n - k)] for k in range(n)], np.float32)
    else:
        acts = random_actions((1,), n, seed + 10)
    steps = episode(env, acts, seed=seed)
    assert len(steps) == n + 1
    info = steps[-1][-1]
    expected = c.initial_shares * c.initial_price - u.state.cash[0, 0]
    assert info["implementation_shortfall"] == expected
    assert u.state.hold[0, 0, 0] == 0.0  # the last step sells what is left
    # cross-check with the rewards: -sum r * X S0 / 100 = IS + lambda sigma^2 tau sum x_k^2
    x = np.array([s[0][0] for s in steps[1:]]) * c.initial_shares  # remaining shares after each step
    risk = c.risk_aversion * c.sigma ** 2 * c.tau * float(np.sum(x ** 2))
    total = -sum(s[1] for s in steps[1:]) * c.initial_shares * c.initial_price / 100.0
    np.testing.assert_allclose(total, expected + risk, rtol=1e-6)  # x read from float32 obs


def test_vector_info_keys_batched():
    venv = make_vec(3)
    _, info = venv.reset(seed=0)
    for _ in range(3):
        _, _, _, _, info = venv.step(venv.action_space.sample())
        for k, shape in INFO_CONTRACT.items():
            assert info[k].shape == (3, *shape), k
            assert info["_" + k].all(), k
        assert "implementation_shortfall" not in info
