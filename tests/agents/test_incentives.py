"""Honest incentives (docs/model.md §8.6, §11.2): every episode's rewards sum to the log of the NAV
the manager really ends with, and getting liquidated on purpose does not pay."""
from __future__ import annotations

import numpy as np
import pytest

import agents
from dma_gym.envs.vector_env import DMAUnwindVectorEnv

# sell large caps, buy micro-caps at full size, cover every futures short: the policy PPO learned
# when a liquidation froze the learner's NAV at the trigger mark
SELF_LIQUIDATE = np.array([-0.8, -1.0, -1.0, -0.5, 1.0, 1.0, 1.0, 1.0], np.float32)


def _episodes(env: DMAUnwindVectorEnv, act_fn, seed: int):
    """One episode per env (env i seeded with seed + i): per env the sum of rewards, the final info
    (nav, log_nav, forced_liquidation) and the NAV when the broker took over (NaN if never)."""
    obs, _ = env.reset(seed=seed)
    n = env.num_envs
    total = np.zeros(n)
    done = np.zeros(n, bool)
    final = {k: np.full(n, np.nan) for k in ("nav", "log_nav", "forced_liquidation", "unwind_cost")}
    at_trigger = np.full(n, np.nan)
    while not done.all():
        obs, r, term, trunc, info = env.step(act_fn(obs))
        total += np.where(done, 0.0, r)
        took = (info["forced_liquidation"] > 0) & np.isnan(at_trigger) & ~done
        at_trigger[took] = info["nav"][took]
        end = (term | trunc) & ~done
        for k in final:
            final[k][end] = np.asarray(info[k], float)[end]
        done |= end
    return total, final, at_trigger


@pytest.mark.parametrize("name", agents.names("market"))
def test_rewards_sum_to_log_nav_for_every_baseline(name):
    env = DMAUnwindVectorEnv(16, "feb2024")
    p = agents.make(name, env)
    total, final, _ = _episodes(env, lambda o: p.predict(o)[0], seed=100)
    np.testing.assert_allclose(total, final["log_nav"], rtol=0, atol=1e-9)
    ok = final["nav"] > 1e-6  # a book wiped out by its broker's sale floors at log(1e-6)
    np.testing.assert_allclose(total[ok], np.log(final["nav"][ok]), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(final["log_nav"][~ok], np.log(1e-6))


def test_getting_liquidated_on_purpose_does_not_pay():
    """64 seeds: the self-liquidation policy ends with a lower mean NAV than doing nothing, and its
    broker's fire sale costs it more than the mark at the takeover."""
    env = DMAUnwindVectorEnv(64, "feb2024")
    hold = agents.make("hold", env)
    _, f_hold, _ = _episodes(env, lambda o: hold.predict(o)[0], seed=0)
    total, f_liq, at_trigger = _episodes(env, lambda o: np.tile(SELF_LIQUIDATE, (o.shape[0], 1)), seed=0)
    assert f_liq["forced_liquidation"].mean() > 0.5
    assert f_liq["nav"].mean() < f_hold["nav"].mean() - 0.2, (f_liq["nav"].mean(), f_hold["nav"].mean())
    took = ~np.isnan(at_trigger)
    # the sale after the takeover loses money: the NAV it ends with is below the trigger mark
    assert np.mean(f_liq["nav"][took] < at_trigger[took]) > 0.9
    assert (at_trigger[took] - f_liq["nav"][took]).mean() > 0.1


@pytest.mark.parametrize("crra, floor", [(2.0, 0.05), (0.5, 0.2), (3.0, 0.1)])
def test_a_crra_manager_is_paid_the_increments_of_its_utility(crra, floor):
    """With reward_crra g != 1 an episode's rewards sum to u(NAV) = (x^(1-g) - 1)/(1-g) at
    x = max(NAV, reward_nav_floor); the market itself is the log manager's, step for step."""
    env = DMAUnwindVectorEnv(16, "feb2024", reward_crra=crra, reward_nav_floor=floor)
    twin = DMAUnwindVectorEnv(16, "feb2024")
    p = agents.make("hold", env)
    total, final, _ = _episodes(env, lambda o: p.predict(o)[0], seed=7)
    _, same, _ = _episodes(twin, lambda o: p.predict(o)[0], seed=7)
    np.testing.assert_array_equal(final["nav"], same["nav"])  # only the reward differs
    x = np.maximum(final["nav"], floor)
    np.testing.assert_allclose(total, (x ** (1 - crra) - 1) / (1 - crra), rtol=0, atol=1e-9)
    assert final["forced_liquidation"].any()  # the floor and the liquidations are exercised
