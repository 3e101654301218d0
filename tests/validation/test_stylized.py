"""Validation (docs/model.md §5.1, §5.2, §5.3–5.5): square-root impact scaling, no round-trip arbitrage,
and price limits / T+1 under every baseline policy."""
from __future__ import annotations

import numpy as np
import pytest

import agents
import dma_gym
from dma_gym.envs.vector_env import DMAUnwindVectorEnv
from dma_gym.core.enums import P
from dma_gym.market import Market

# A market with nothing but the learner's own trading: no factor or idiosyncratic moves, no
# background flow, no peers, no limits or spiral, so execution price = impact of its own orders.
QUIET = dict(market_drift=0.0, size_drift=0.0, market_vol=0.0, size_vol=0.0, idio_scale=0.0,
             noise_flow=0.0, lp_strength=0.0, neutral_aum=0.0, enhanced_aum=0.0, national_team_on=False,
             liquidity_spiral=False, price_limits=False, snowballs_on=False, n_managers=1, shock_day=-1)


def _one_step_impacts(overrides: dict, fractions: np.ndarray, tier: int = 4, seed: int = 3):
    """For each sell fraction f (env e sells f of the tier in its first step): per held stock,
    (order size / ADV-per-step, impact 1 - exec/pre-trade price, stock sigma)."""
    E = fractions.size
    venv = DMAUnwindVectorEnv(num_envs=E, scenario="calm", **overrides)
    venv.reset(seed=[seed] * E)
    b = venv.engine
    s, u, pf = b.state, b.market.universe, b.market.pf
    act = np.zeros((E, 8), np.float32)
    act[:, tier] = -fractions
    pre = s.price.copy()
    hold = s.hold[:, 0].copy()
    venv.step(act)
    dt = 1.0 / b.market.steps_per_day
    sel = (u.tier == tier)[None, :] & (hold > 0)
    q = -s.fill[:, 0]  # shares sold
    v_step = (u.adv / pre) * dt  # shares per step at the pre-trade price
    x = (q / v_step)[sel]
    h = (1.0 - s.exec_price / pre)[sel]
    sig = np.broadcast_to(u.sigma, pre.shape)[sel]
    return x, h, sig, float(pf[P.IMPACT_Y])


@pytest.mark.parametrize("delta", [0.5, 0.7])
def test_square_root_law_slope_equals_configured_exponent(delta):
    """Metaorders of sizes spanning 2.5 decades: log(impact / sigma) against log(Q / V) is a line
    of slope delta and intercept log(Y), through actions, masks and clearing."""
    fr = np.geomspace(0.004, 1.0, 8)
    x, h, sig, y = _one_step_impacts({**QUIET, "impact_exponent": delta}, fr)
    assert x.size > 100 and np.all(h > 0)
    slope, icpt = np.polyfit(np.log(x), np.log(h / sig), 1)
    assert abs(slope - delta) < 1e-6, slope
    assert abs(np.exp(icpt) - y) < 1e-6 * y


def test_square_root_law_survives_background_noise():
    """With the default noise traders and liquidity providers trading too, the fitted slope over
    the learner's large orders stays within 0.05 of the configured 0.5."""
    noisy = {k: v for k, v in QUIET.items() if k not in ("noise_flow", "lp_strength")}
    fr = np.geomspace(0.05, 1.0, 8)
    xs, hs, sigs = [], [], []
    for seed in range(4):
        x, h, sig, _ = _one_step_impacts(noisy, fr, seed=seed)
        keep = h > 0
        xs.append(x[keep]), hs.append(h[keep]), sigs.append(sig[keep])
    x, h, sig = np.concatenate(xs), np.concatenate(hs), np.concatenate(sigs)
    slope = np.polyfit(np.log(x), np.log(h / sig), 1)[0]
    assert abs(slope - 0.5) < 0.05, slope


def _paired_nav_gain(scenario: str, pattern, n_seeds: int = 48, **overrides) -> tuple[float, float]:
    """Mean and standard error, over seeds, of log NAV at the horizon with the action ``pattern``
    (step, (E, 8) actions to fill, state) minus log NAV holding, with the same seeds (same shocks and books)."""
    out = []
    for act_fn in (pattern, lambda k, a, s: None):
        # no early termination: every episode runs to the horizon, where all are compared
        venv = DMAUnwindVectorEnv(num_envs=n_seeds, scenario=scenario, terminate_on_liquidation=False, **overrides)
        venv.reset(seed=list(range(1000, 1000 + n_seeds)))
        s = venv.engine.state
        for k in range(venv.engine.market.steps):
            a = np.zeros((n_seeds, venv.single_action_space.shape[0]), np.float32)
            act_fn(k, a, s)
            venv.step(a)
        assert s.done.all()
        out.append(np.log(np.maximum(s.equity[:, 0] / s.equity0[:, 0], 1e-6)))
    d = out[0] - out[1]
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))


def _buy_then_sell(tier):
    def f(k, a, s):
        if k == 0:
            a[:, tier] = 0.6  # buy
        elif k == 4:  # next morning (T+1), sell the tier down again
            a[:, tier] = -1.0
    return f


def _sell_then_buy(tier):
    def f(k, a, s):
        if k == 0:
            a[:, tier] = -0.6
        elif k == 1:
            a[:, tier] = 0.15
    return f


def _churn():
    """Every morning sell 10% of the micro-cap book; two steps later buy back the value sold."""
    sold = {}

    def f(k, a, s):
        if k % 4 == 0:
            a[:, 4] = -0.4  # 0.4 x max_trade_frac (0.25) of the tier
        elif k % 4 == 1:
            sold["v"] = s.sold_step[:, 0].copy()
        elif k % 4 == 2:
            # action b buys b x max_buy_frac (0.25) x equity across the tier
            a[:, 4] = np.clip(sold["v"] / (0.25 * np.maximum(s.equity[:, 0], 1e-9)), 0.0, 1.0)
    return f


ROUND_TRIPS = {
    "buy micro, sell next day": _buy_then_sell(4),
    "buy CSI300, sell next day": _buy_then_sell(0),
    "sell micro, buy back": _sell_then_buy(4),
    "daily churn": _churn(),
}


@pytest.mark.parametrize("name", list(ROUND_TRIPS))
def test_no_round_trip_makes_money(name):
    """docs/model.md §5.2: in the calm market (no drift, peers and background active), trading in and
    out never beats holding in expectation: the paired NAV gain is not significantly positive."""
    mean, se = _paired_nav_gain("calm", ROUND_TRIPS[name], market_drift=0.0, size_drift=0.0)
    assert mean < 2.0 * se, (mean, se)


def test_almgren_chriss_round_trip_costs_what_the_closed_form_says():
    """Sell n then buy n back in the AC scenario: expected gain = -(2 eps n + 2 eta n^2 / tau - gamma n^2)
    (exact for linear impact), negative: no price manipulation pays (Huberman-Stanzl)."""
    c = dma_gym.scenarios.get("almgren_chriss", steps=10, horizon_days=10.0)
    n_seeds = 400
    venv = DMAUnwindVectorEnv(num_envs=n_seeds, scenario="almgren_chriss", steps=10, horizon_days=10.0)
    venv.reset(seed=list(range(n_seeds)))
    s = venv.engine.state
    x0, cash0 = s.hold[:, 0, 0].copy(), s.cash[:, 0].copy()
    frac = 0.2
    venv.step(np.full((n_seeds, 1), -frac, np.float32))  # sell n = frac * X
    venv.step(np.full((n_seeds, 1), frac, np.float32))  # buy n back (a share of X)
    assert np.allclose(s.hold[:, 0, 0], x0)
    gain = s.cash[:, 0] - cash0  # holdings are back where they were: the cash change is the P&L
    n, tau = frac * c.initial_shares, c.tau
    # buy executes at S_1 + eps + eta n / tau with S_1 = S_0 - gamma n + noise; sale at S_0 - eps - eta n / tau
    expected = -(2 * c.epsilon * n + 2 * c.eta * n * n / tau - c.gamma * n * n)
    se = gain.std(ddof=1) / np.sqrt(n_seeds)
    assert expected < 0
    assert abs(gain.mean() - expected) < 4 * se + 1e-9 * abs(expected), (gain.mean(), expected, se)


@pytest.mark.parametrize("policy", agents.names("market"))
def test_limits_and_t_plus_1_hold_under_every_baseline(policy):
    """Whatever the policy does, every close and execution price stays inside the day's band, and
    no manager sells more than it held minus what it bought today."""
    E = 4
    venv = DMAUnwindVectorEnv(num_envs=E, scenario="feb2024")
    pol = agents.make(policy, venv)
    obs, _ = venv.reset(seed=7)
    s = venv.engine.state
    steps = 0
    while steps < 100:
        a, _ = pol.predict(obs)
        lo, hi = s.lo.copy(), s.hi.copy()
        sellable = np.maximum(s.hold - s.locked, 0.0)
        pending = venv.engine.pending.copy()
        obs, _, term, trunc, _ = venv.step(a)
        live = ~pending  # envs stepped (not autoreset) this call
        tol = 1e-9
        assert np.all(s.exec_price[live] >= lo[live] * (1 - tol)) and np.all(s.exec_price[live] <= hi[live] * (1 + tol))
        moved = live & (s.step % venv.engine.market.steps_per_day != 0)  # a close re-centres the band for the next day
        assert np.all(s.price[moved] >= s.lo[moved] * (1 - tol)) and np.all(s.price[moved] <= s.hi[moved] * (1 + tol))
        sold = np.maximum(-s.fill, 0.0)
        assert np.all(sold[live] <= sellable[live] * (1 + 1e-9) + 1e-12), policy
        steps += 1
