"""docs/model.md §12.2: in the almgren_chriss scenario the almgren_chriss baseline's implementation
shortfall has the closed form's mean and standard deviation, within sampling error, for the AC-2000
example and for other parameter sets (the closed form decides: nothing is hard-coded here)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import agents
from agents.closed_form import almgren_chriss_from_config
from dma_gym.envs.vector_env import DMAUnwindVectorEnv

N_EPISODES = 2000

CASES = {
    "AC-2000, lambda=0 (TWAP)": dict(risk_aversion=0.0),
    "AC-2000, lambda=2e-6": dict(risk_aversion=2e-6),
    "20 steps over 2 days, urgent": dict(horizon_days=2.0, steps=20, risk_aversion=5e-6, sigma=0.5),
    "no permanent impact, 8 steps": dict(steps=8, gamma=0.0, eta=1e-6, epsilon=0.02, risk_aversion=1e-6),
    "large order, high vol": dict(initial_shares=4e6, initial_price=20.0, sigma=0.6, eta=4e-7, gamma=5e-8,
                                  epsilon=0.01, horizon_days=10.0, steps=10, risk_aversion=2e-7),
}


@pytest.mark.parametrize("case", list(CASES))
def test_shortfall_mean_and_sd_match_the_closed_form(case):
    venv = DMAUnwindVectorEnv(num_envs=N_EPISODES, scenario="almgren_chriss", **CASES[case])
    sol = almgren_chriss_from_config(venv.config)
    policy = agents.make("almgren_chriss", venv)
    obs, _ = venv.reset(seed=12345)
    shortfall = None
    for _ in range(venv.config.steps):
        action, _ = policy.predict(obs)
        obs, _, term, trunc, info = venv.step(action)
    assert term.all() and not trunc.any()
    shortfall = info["implementation_shortfall"]
    n = shortfall.size
    mean, sd = shortfall.mean(), shortfall.std(ddof=1)
    se_mean = sol.std / math.sqrt(n) if sol.std > 0 else 0.0
    assert abs(mean - sol.expected_cost) <= 4 * se_mean + 1e-9 * abs(sol.expected_cost), \
        (case, mean, sol.expected_cost, se_mean)
    assert abs(sd - sol.std) <= 4 * sol.std / math.sqrt(2 * (n - 1)) + 1e-9 * sol.std, (case, sd, sol.std)


def test_the_test_separates_the_optimum_from_twap():
    """With lambda=1e-6 the closed-form optimum and TWAP differ by far more than the sampling error
    above, so the mean check would catch a baseline that traded TWAP instead."""
    venv = DMAUnwindVectorEnv(num_envs=2, scenario="almgren_chriss", risk_aversion=1e-6)
    opt = almgren_chriss_from_config(venv.config)
    twap = almgren_chriss_from_config(venv.config.replace(risk_aversion=0.0))
    assert abs(opt.expected_cost - 911_227) < 1 and abs(opt.std - 603_431) < 1
    assert abs(twap.expected_cost - 662_500) < 1 and abs(twap.std - 1_040_673) < 1
    se = opt.std / math.sqrt(N_EPISODES)
    assert abs(opt.expected_cost - twap.expected_cost) > 15 * se
