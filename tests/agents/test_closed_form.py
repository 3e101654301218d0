"""Closed-form benchmarks: Almgren–Chriss (docs/model.md §12.2) and multi-seller Nash (docs/model.md §12.3, §12.4)."""
from __future__ import annotations

import math
import types
import warnings

import numpy as np
import pytest

from agents.closed_form import (
    ACSolution,
    ac_continuous_cost,
    ac_kappa,
    almgren_chriss,
    almgren_chriss_from_config,
    game_cost,
    nash_discrete,
    nash_risk_averse,
    nash_risk_neutral,
    schedule_cost,
)

# AC-2000 paper example (docs/model.md §12.2)
AC2000 = dict(
    initial_shares=1e6, initial_price=50.0, sigma=0.95, horizon_days=5.0, steps=5,
    epsilon=0.0625, eta=2.5e-6, gamma=2.5e-7,
)
COSTS = dict(sigma=0.95, tau=1.0, epsilon=0.0625, eta=2.5e-6, gamma=2.5e-7)


def _random_ac_params(rng: np.random.Generator) -> dict:
    steps = int(rng.integers(1, 60))
    T = float(rng.uniform(0.2, 30.0))
    gamma = float(10 ** rng.uniform(-9, -6))
    eta = 0.5 * gamma * T / steps + float(10 ** rng.uniform(-7, -5))  # keeps eta_tilde > 0
    return dict(
        initial_shares=float(10 ** rng.uniform(3, 7)), initial_price=float(rng.uniform(1, 100)),
        sigma=float(rng.uniform(0.05, 3.0)), horizon_days=T, steps=steps,
        epsilon=float(rng.uniform(0, 0.2)), eta=eta, gamma=gamma,
        risk_aversion=float(10 ** rng.uniform(-9, -4)),
    )


def _costs_of(p: dict) -> dict:
    return dict(sigma=p["sigma"], tau=p["horizon_days"] / p["steps"], epsilon=p["epsilon"], eta=p["eta"], gamma=p["gamma"])


def _objective(x: np.ndarray, p: dict) -> float:
    E, V = schedule_cost(x, **_costs_of(p))
    return E + p["risk_aversion"] * V


# ------------------------------------------------------------------------------------------
# Almgren–Chriss


# λ, κ, x_k, E[IS], sd(IS), E+λV as tabulated in docs/model.md §12.2
AC2000_TABLE = [
    (0.0, 0.0, [1e6, 8e5, 6e5, 4e5, 2e5, 0], 662_500, 1_040_673, 662_500),
    (1e-6, 0.6071, [1e6, 541_956, 289_854, 147_898, 62_142, 0], 911_227, 603_431, 1_275_356),
    (2e-6, 0.8463, [1e6, 428_599, 182_933, 76_296, 27_643, 0], 1_140_715, 449_368, 1_544_578),
]


@pytest.mark.parametrize("lam, kappa, x, E, sd, obj", AC2000_TABLE)
def test_ac2000_test_vectors(lam, kappa, x, E, sd, obj):
    sol = almgren_chriss(**AC2000, risk_aversion=lam)
    assert isinstance(sol, ACSolution)
    assert round(sol.kappa, 4) == kappa
    assert sol.kappa == pytest.approx(ac_kappa(0.95, 2.5e-6, 2.5e-7, 1.0, lam), abs=0)
    # printed to whole shares; the table's 147,898 is 147,897.49 exactly, hence 1 share of slack
    np.testing.assert_allclose(sol.holdings, x, rtol=0, atol=1.0)
    np.testing.assert_allclose(sol.times, np.arange(6.0))
    np.testing.assert_allclose(sol.trades, -np.diff(sol.holdings))
    assert round(sol.expected_cost) == E
    assert round(sol.std) == sd
    assert round(sol.objective) == obj
    assert sol.variance == pytest.approx(sol.std**2, rel=1e-15)


def test_ac2000_one_shot_row():
    # the table's one-shot row: everything sold in the first 1-day step of the same grid
    E, V = schedule_cost([1e6, 0, 0, 0, 0, 0], **COSTS)
    assert round(E) == 2_562_500 and V == 0.0
    # equals εX + ηX²/τ (permanent impact cancels against the η̃ correction)
    assert E == pytest.approx(0.0625 * 1e6 + 2.5e-6 * 1e12 / 1.0, rel=1e-14)


def test_ac_from_config_matches_default_row():
    from dma_gym.config.params import AlmgrenChrissConfig

    sol = almgren_chriss_from_config(AlmgrenChrissConfig())
    assert round(sol.expected_cost) == 911_227 and round(sol.std) == 603_431
    ns = types.SimpleNamespace(**AC2000, risk_aversion=2e-6)
    assert round(almgren_chriss_from_config(ns).objective) == 1_544_578
    with pytest.raises(ValueError, match="risk_aversion"):
        almgren_chriss_from_config(types.SimpleNamespace(**AC2000))


def test_solution_is_frozen_and_read_only():
    sol = almgren_chriss(**AC2000, risk_aversion=1e-6)
    with pytest.raises(Exception):
        sol.kappa = 1.0
    with pytest.raises(ValueError):
        sol.holdings[1] = 0.0


@pytest.mark.parametrize("seed", range(12))
def test_closed_form_e_v_equal_brute_force_sums(seed):
    p = _random_ac_params(np.random.default_rng(seed))
    sol = almgren_chriss(**p)
    E, V = schedule_cost(sol.holdings, **_costs_of(p))
    assert sol.expected_cost == pytest.approx(E, rel=1e-10)
    assert sol.variance == pytest.approx(V, rel=1e-9)
    assert sol.objective == pytest.approx(E + p["risk_aversion"] * V, rel=1e-10)
    # trajectory is x_j = X sinh(κ(T−t_j))/sinh(κT), checked against the naive formula where it is safe
    kT = sol.kappa * p["horizon_days"]
    if 1e-3 < kT < 300:
        naive = p["initial_shares"] * np.sinh(sol.kappa * (p["horizon_days"] - sol.times)) / np.sinh(kT)
        np.testing.assert_allclose(sol.holdings, naive, rtol=1e-11, atol=1e-9 * p["initial_shares"])


@pytest.mark.parametrize("lam", [1e-16, 1e-13, 1e-11, 1e-9])
def test_tiny_risk_aversion_is_continuous_with_twap(lam):
    # κT from ~3e-5 to 0.1: the small-κ paths (variance sum, tanh/coth forms) stay accurate
    sol = almgren_chriss(**AC2000, risk_aversion=lam)
    E, V = schedule_cost(sol.holdings, **COSTS)
    assert sol.expected_cost == pytest.approx(E, rel=1e-12)
    assert sol.variance == pytest.approx(V, rel=1e-12)
    twap = almgren_chriss(**AC2000, risk_aversion=0.0)
    kT = sol.kappa * 5.0
    assert sol.expected_cost == pytest.approx(twap.expected_cost, rel=2 * kT**2)
    np.testing.assert_allclose(sol.holdings, twap.holdings, atol=1e6 * kT**2)


def test_optimum_beats_random_perturbations():
    rng = np.random.default_rng(7)
    for seed in range(5):
        p = _random_ac_params(np.random.default_rng(100 + seed))
        p["steps"] = max(p["steps"], 4)
        sol = almgren_chriss(**p)
        x0, J0 = sol.holdings.copy(), sol.objective
        X = p["initial_shares"]
        for scale in (1e-4, 1e-2, 0.2):
            for _ in range(40):
                x = x0.copy()
                x[1:-1] += scale * X * rng.standard_normal(x.size - 2)
                assert _objective(x, p) > J0
        # stationarity: central differences of E+λV vanish at the optimum (without ε, whose |n_k|
        # kinks sit at the tiny late trades of urgent schedules; for selling-only paths it is εX)
        p = dict(p, epsilon=0.0)
        J0 = _objective(x0, p)
        h = 1e-6 * X
        for k in range(1, x0.size - 1):
            up, dn = x0.copy(), x0.copy()
            up[k] += h
            dn[k] -= h
            curv = _objective(up, p) + _objective(dn, p) - 2 * J0
            assert curv > 0
            assert abs(_objective(up, p) - _objective(dn, p)) < 1e-6 * curv + 1e-9 * J0


def test_twap_is_not_optimal_when_risk_averse():
    # the perturbation test above can fail: from TWAP a descent direction exists when λ > 0
    p = dict(AC2000, risk_aversion=1e-6)
    x = almgren_chriss(**dict(AC2000, risk_aversion=0.0)).holdings.copy()
    J = _objective(x, p)
    x[1:-1] -= 0.05e6  # sell a little earlier
    assert _objective(x, p) < J
    assert almgren_chriss(**p).objective < J


def test_twap_limit():
    for steps in (1, 2, 5, 17):
        sol = almgren_chriss(**dict(AC2000, steps=steps), risk_aversion=0.0)
        X, T, N = 1e6, 5.0, steps
        np.testing.assert_allclose(sol.holdings, X * (1 - np.arange(N + 1) / N), rtol=0, atol=1e-6)
        eta_tilde = 2.5e-6 - 0.5 * 2.5e-7 * T / N
        assert sol.expected_cost == pytest.approx(0.5 * 2.5e-7 * X**2 + 0.0625 * X + eta_tilde * X**2 / T, rel=1e-14)
        assert sol.variance == pytest.approx(0.95**2 * X**2 * T * (1 - 1 / N) * (1 - 1 / (2 * N)) / 3, rel=1e-14)
        assert sol.kappa == 0.0


def test_one_shot_limits():
    # a single step is the one-shot sale: E = εX + ηX²/τ, V = 0
    sol = almgren_chriss(**dict(AC2000, steps=1), risk_aversion=1e-6)
    np.testing.assert_array_equal(sol.holdings, [1e6, 0.0])
    assert sol.expected_cost == pytest.approx(0.0625e6 + 2.5e-6 * 1e12 / 5.0, rel=1e-14)
    assert sol.variance == 0.0
    # extreme risk aversion converges to the one-shot row of the table (x_1/X ≈ e^{−κτ})
    sol = almgren_chriss(**AC2000, risk_aversion=1.0)
    assert sol.holdings[1] / 1e6 == pytest.approx(math.exp(-sol.kappa), rel=1e-6)
    assert sol.holdings[1] < 5.0
    assert sol.expected_cost == pytest.approx(2_562_500, rel=1e-4)
    assert sol.expected_cost < 2_562_500


def test_huge_kappa_t_does_not_overflow():
    p = dict(AC2000, horizon_days=1e4, steps=1000, gamma=0.0, risk_aversion=1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = almgren_chriss(**p)
    assert sol.kappa * 1e4 > 2000  # sinh(κT) would overflow
    assert np.all(np.isfinite(sol.holdings)) and np.all(np.diff(sol.holdings) <= 0)
    assert sol.holdings[1] == pytest.approx(1e6 * math.exp(-sol.kappa * 10.0), rel=1e-12)
    E, V = schedule_cost(sol.holdings, **_costs_of(p))
    assert sol.expected_cost == pytest.approx(E, rel=1e-12)
    assert sol.variance == pytest.approx(V, rel=1e-9)


@pytest.mark.parametrize("lam", [0.0, 1e-8, 1e-6, 2e-6])
def test_continuous_time_limit(lam):
    sol = almgren_chriss(**dict(AC2000, steps=5000, epsilon=0.0), risk_aversion=lam)
    E, V = ac_continuous_cost(1e6, 0.95, 5.0, 2.5e-6, 2.5e-7, lam)
    assert sol.expected_cost == pytest.approx(E, rel=1e-3)
    assert sol.variance == pytest.approx(V, rel=1e-3)
    assert sol.kappa == pytest.approx(math.sqrt(lam * 0.95**2 / 2.5e-6), rel=1e-3)


@pytest.mark.parametrize("lam", [1e-12, 1e-11, 1.2e-11, 1e-9, 1e-6, 1e-5])
def test_continuous_formulas_match_quadrature(lam):
    # κT from 3e-3 to 30: both sides of the small-κT series switch at κT = 0.01
    kappa = math.sqrt(lam * 0.95**2 / 2.5e-6)
    E, V = ac_continuous_cost(1e6, 0.95, 5.0, 2.5e-6, 2.5e-7, lam)
    t = np.linspace(0, 5, 400_001)
    x = 1e6 * np.exp(-kappa * t) * np.expm1(-2 * kappa * (5 - t)) / np.expm1(-2 * kappa * 5)
    xdot = -1e6 * kappa * np.exp(-kappa * t) * (1 + np.exp(-2 * kappa * (5 - t))) / -np.expm1(-2 * kappa * 5)
    trap = lambda f: float(np.sum(f[1:] + f[:-1]) * (t[1] - t[0]) / 2)  # noqa: E731
    assert E == pytest.approx(0.5 * 2.5e-7 * 1e12 + 2.5e-6 * trap(xdot**2), rel=1e-9)
    assert V == pytest.approx(0.95**2 * trap(x**2), rel=1e-9)


# ------------------------------------------------------------------------------------------
# multi-seller Nash

X, T, ETA = 1.0, 1.0, 1.0


def _nash_cost(holdings: np.ndarray, *, tau: float, gamma: float, sigma: float, alpha: float) -> np.ndarray:
    E, V = game_cost(holdings, sigma=sigma, tau=tau, eta=ETA, gamma=gamma)
    return E + 0.5 * alpha * V


def test_game_cost_one_seller_is_schedule_cost():
    rng = np.random.default_rng(3)
    for _ in range(10):
        x = np.concatenate(([1.0], rng.normal(0.5, 0.5, 7), [0.0]))  # includes buy-backs
        E1, V1 = game_cost(x[None, :], sigma=0.3, tau=0.125, eta=1.0, gamma=2.0)
        E, V = schedule_cost(x, sigma=0.3, tau=0.125, epsilon=0.0, eta=1.0, gamma=2.0)
        assert E1[0] == pytest.approx(E, rel=1e-12) and V1[0] == pytest.approx(V, rel=1e-12)


@pytest.mark.parametrize("steps", [1, 5, 40])
def test_discrete_nash_one_seller_is_almgren_chriss(steps):
    # same discrete model: the docs/model.md §12.4 risk aversion α is 2× the AC λ
    xd = nash_discrete(1, 1e6, 5.0, steps, 2.5e-6, 2.5e-7, sigma=0.95, risk_aversion=2e-6)
    ac = almgren_chriss(**dict(AC2000, steps=steps, epsilon=0.0), risk_aversion=1e-6)
    np.testing.assert_allclose(xd, ac.holdings, rtol=1e-9, atol=1e-6)


def test_one_seller_closed_forms():
    t = np.linspace(0, T, 101)
    # risk neutral: TWAP, whatever the permanent impact
    np.testing.assert_allclose(nash_risk_neutral(1, X, T, ETA, 5.0, t), X * (1 - t / T), atol=1e-15)
    np.testing.assert_allclose(nash_risk_averse(1, X, T, ETA, 5.0, 0.0, 0.0, t), X * (1 - t / T), atol=1e-15)
    # risk averse: AC continuous-time trajectory with κ² = ασ²/(2λ)
    sigma, alpha = 1.3, 7.0
    kappa = math.sqrt(alpha * sigma**2 / (2 * ETA))
    ac = X * np.sinh(kappa * (T - t)) / np.sinh(kappa * T)
    np.testing.assert_allclose(nash_risk_averse(1, X, T, ETA, 5.0, sigma, alpha, t), ac, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
@pytest.mark.parametrize("gamma", [0.0, 1e-9, 0.3, 2.5, 40.0])
def test_nash_holdings_start_at_x_and_end_at_exactly_zero(n, gamma):
    # game_cost requires every seller to end at 0 exactly: the closed forms must, on any libm
    for T_ in (0.37, 1.0, 5.0):
        t = np.linspace(0, T_, 7)
        for x in (nash_risk_neutral(n, 2.0, T_, 0.7, gamma, t),
                  nash_risk_averse(n, 2.0, T_, 0.7, gamma, 0.4, 3.0, t)):
            assert x[-1] == 0.0
            assert x[0] == pytest.approx(2.0, rel=1e-14)
            assert np.all(np.diff(x) <= 0.0)


def test_risk_averse_reduces_to_risk_neutral_when_alpha_is_zero():
    t = np.linspace(0, 3.0, 61)
    for n in (1, 2, 4, 9):
        np.testing.assert_allclose(
            nash_risk_averse(n, 2.0, 3.0, 0.7, 1.9, 0.4, 0.0, t),
            nash_risk_neutral(n, 2.0, 3.0, 0.7, 1.9, t), rtol=1e-12, atol=1e-15,
        )


def test_closed_forms_are_continuous_at_the_degenerate_limits():
    t = np.linspace(0, T, 11)
    twap = X * (1 - t / T)
    np.testing.assert_allclose(nash_risk_neutral(3, X, T, ETA, 1e-12, t), twap, atol=1e-12)
    np.testing.assert_allclose(nash_risk_averse(3, X, T, ETA, 1e-12, 1.0, 1e-14, t), twap, atol=1e-11)
    np.testing.assert_allclose(nash_risk_neutral(3, X, T, ETA, 0.0, t), twap, atol=0)


def test_risk_averse_closed_form_matches_naive_formula_and_never_overflows():
    n, lam, gamma, sigma, alpha = 4, 0.5, 3.0, 1.0, 6.0
    b, a2 = gamma * (n - 1), lam * (n + 1)
    root = math.sqrt(b * b + 4 * a2 * alpha * sigma**2)
    rp, rm = (-b + root) / (2 * a2), (-b - root) / (2 * a2)
    t = np.linspace(0, T, 51)
    naive = X * (np.exp(rp * T + rm * t) - np.exp(rm * T + rp * t)) / (np.exp(rp * T) - np.exp(rm * T))
    np.testing.assert_allclose(nash_risk_averse(n, X, T, lam, gamma, sigma, alpha, t), naive, rtol=1e-12, atol=1e-15)
    # T·r ≈ 1e5: the naive formula is inf/inf; the stable one is finite, monotone and ≈ X e^{r₋t}
    big_T = 2e4
    t = np.linspace(0, big_T, 1001)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = nash_risk_averse(n, X, big_T, lam, gamma, sigma, alpha, t)
    assert np.all(np.isfinite(x)) and x[0] == X and x[-1] == 0.0 and np.all(np.diff(x) <= 0)
    np.testing.assert_allclose(x[1:5], X * np.exp(rm * t[1:5]), rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 3.0, 10.0])
def test_risk_neutral_front_loading_grows_with_n(gamma):
    t = np.linspace(0, T, 21)[1:-1]
    paths = np.array([nash_risk_neutral(n, X, T, ETA, gamma, t) for n in range(1, 8)])
    assert np.all(np.diff(paths, axis=0) < 0)  # every interior holding falls as N rises
    discrete = np.array([nash_discrete(n, X, T, 20, ETA, gamma)[1:-1] for n in range(1, 8)])
    assert np.all(np.diff(discrete, axis=0) < 0)


def test_risk_averse_dependence_on_n():
    t = np.linspace(0, T, 21)[1:-1]
    # strong permanent impact: racing dominates, front-loading grows with N
    racing = np.array([nash_risk_averse(n, X, T, ETA, 10.0, 1.0, 4.0, t) for n in range(1, 8)])
    assert np.all(np.diff(racing, axis=0) < 0)
    # no permanent impact: rivals' temporary impact only raises the cost of speed, κ² = ασ²/(λ(N+1)),
    # so each seller trades more slowly as N rises
    slow = np.array([nash_risk_averse(n, X, T, ETA, 0.0, 1.0, 4.0, t) for n in range(1, 8)])
    assert np.all(np.diff(slow, axis=0) > 0)
    for n, path in zip(range(1, 8), slow):
        kappa = math.sqrt(4.0 / (ETA * (n + 1)))
        np.testing.assert_allclose(path, X * np.sinh(kappa * (T - t)) / np.sinh(kappa * T), rtol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 6])
def test_aggregate_rate_decays_exponentially(n):
    gamma = 4.0
    a = gamma / ETA * (n - 1) / (n + 1)
    t = np.linspace(0, T, 41)
    sold = -np.diff(n * nash_risk_neutral(n, X, T, ETA, gamma, t))
    # the integral of ∝ e^{−as} over each equal interval is ∝ e^{−a t_k}: a geometric sequence
    np.testing.assert_allclose(sold[1:] / sold[:-1], math.exp(-a * (t[1] - t[0])), rtol=1e-10)
    assert np.sum(sold) == pytest.approx(n * X, rel=1e-14)
    # discrete game: aggregate trades are exactly geometric, n_{k+1}/n_k = q with
    # q = ((N+1)η/τ − Nγ)/((N+1)η/τ − γ) (difference of consecutive FOCs), q → e^{−aτ} as τ → 0
    for M in (10, 50, 400):
        tau = T / M
        trades = -np.diff(nash_discrete(n, X, T, M, ETA, gamma))
        q = ((n + 1) * ETA / tau - n * gamma) / ((n + 1) * ETA / tau - gamma)
        np.testing.assert_allclose(trades[1:] / trades[:-1], q, rtol=1e-9)
        # log(q)/τ = −a(1 + γτ/(2η) + O(τ²))
        assert abs(math.log(q) / tau + a) < gamma * tau / ETA * a


CONVERGENCE_CASES = [  # (N, γ, σ, α)
    (2, 2.0, 0.0, 0.0), (5, 10.0, 0.0, 0.0), (10, 10.0, 0.0, 0.0),
    (1, 10.0, 1.0, 10.0), (2, 2.0, 1.0, 10.0), (5, 10.0, 1.0, 10.0), (10, 0.5, 1.0, 20.0),
]


@pytest.mark.parametrize("n, gamma, sigma, alpha", CONVERGENCE_CASES)
def test_discrete_nash_converges_to_closed_forms(n, gamma, sigma, alpha):
    errors = []
    for M in (100, 300, 900):
        t = np.linspace(0, T, M + 1)
        if alpha == 0.0:
            closed = nash_risk_neutral(n, X, T, ETA, gamma, t)
        else:
            closed = nash_risk_averse(n, X, T, ETA, gamma, sigma, alpha, t)
        errors.append(np.max(np.abs(nash_discrete(n, X, T, M, ETA, gamma, sigma, alpha) - closed)) / X)
    assert errors[1] < 0.007  # docs/model.md §12.4: ≈0.003–0.005 of X at M=300
    # first order in τ: tripling M divides the error by ≈3
    assert 2.5 < errors[0] / errors[1] < 3.5 and 2.5 < errors[1] / errors[2] < 3.5


@pytest.mark.parametrize("n, gamma, sigma, alpha", [(2, 5.0, 0.0, 0.0), (4, 10.0, 0.0, 0.0), (3, 4.0, 1.0, 8.0)])
def test_discrete_equilibrium_is_a_nash_equilibrium(n, gamma, sigma, alpha):
    M = 24
    tau = T / M
    x_star = nash_discrete(n, X, T, M, ETA, gamma, sigma, alpha)
    base = np.tile(x_star, (n, 1))
    cost = lambda h: _nash_cost(h, tau=tau, gamma=gamma, sigma=sigma, alpha=alpha)  # noqa: E731
    J = cost(base)
    np.testing.assert_allclose(J, J[0], rtol=1e-13)  # symmetric
    rng = np.random.default_rng(11)
    for i in (0, n - 1):
        for scale in (1e-5, 1e-2, 0.3):
            for _ in range(30):
                d = np.zeros_like(base)
                d[i, 1:-1] = scale * rng.standard_normal(M - 1)
                up, dn = cost(base + d)[i] - J[i], cost(base - d)[i] - J[i]
                assert up > 0 and dn > 0  # deviating never pays
                assert abs(up - dn) <= 1e-7 * (up + dn) + 1e-13 * abs(J[i])  # zero gradient


@pytest.mark.parametrize("n", [2, 5])
def test_twap_is_not_a_nash_equilibrium(n):
    # the Nash check above can fail: at the cooperative TWAP a seller gains by front-loading
    M, gamma = 24, 5.0
    twap = np.tile(np.linspace(X, 0.0, M + 1), (n, 1))
    cost = lambda h: _nash_cost(h, tau=T / M, gamma=gamma, sigma=0.0, alpha=0.0)  # noqa: E731
    dev = twap.copy()
    dev[0] = nash_discrete(n, X, T, M, ETA, gamma)  # one seller alone switches to its Nash path
    assert cost(dev)[0] < cost(twap)[0]


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_nash_total_cost_exceeds_cooperative_twap(n):
    M, gamma = 40, 5.0
    tau = T / M
    cost = lambda h: _nash_cost(h, tau=tau, gamma=gamma, sigma=0.0, alpha=0.0)  # noqa: E731
    twap = np.tile(np.linspace(X, 0.0, M + 1), (n, 1))
    nash = np.tile(nash_discrete(n, X, T, M, ETA, gamma), (n, 1))
    total_twap, total_nash = cost(twap).sum(), cost(nash).sum()
    # TWAP is the joint-cost minimum: perturbing all sellers never lowers the total, zero gradient
    rng = np.random.default_rng(5)
    for scale in (1e-5, 1e-2, 0.3):
        for _ in range(30):
            d = np.zeros_like(twap)
            d[:, 1:-1] = scale * rng.standard_normal((n, M - 1))
            up, dn = cost(twap + d).sum() - total_twap, cost(twap - d).sum() - total_twap
            assert up >= -1e-13 * total_twap and dn >= -1e-13 * total_twap
            assert abs(up - dn) <= 1e-7 * (up + dn) + 1e-12 * total_twap
    if n == 1:
        assert total_nash == pytest.approx(total_twap, rel=1e-12)
    else:
        assert total_nash > total_twap * (1 + 1e-3)
    # the continuous closed form, evaluated on the same grid, also costs more than TWAP in total
    closed = np.tile(nash_risk_neutral(n, X, T, ETA, gamma, np.linspace(0, T, M + 1)), (n, 1))
    assert cost(closed).sum() >= total_twap * (1 - 1e-12)
    if n > 1:
        assert cost(closed).sum() > total_twap * (1 + 1e-3)


def test_nash_cost_gap_grows_with_n():
    M, gamma = 40, 5.0
    tau = T / M
    ratios = []
    for n in range(1, 7):
        cost = lambda h: _nash_cost(h, tau=tau, gamma=gamma, sigma=0.0, alpha=0.0)  # noqa: E731
        nash = np.tile(nash_discrete(n, X, T, M, ETA, gamma), (n, 1))
        twap = np.tile(np.linspace(X, 0.0, M + 1), (n, 1))
        ratios.append(cost(nash).sum() / cost(twap).sum())
    assert ratios[0] == pytest.approx(1.0, rel=1e-12)
    assert np.all(np.diff(ratios) > 0)


# ------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda: ac_kappa(-1.0, 2.5e-6, 2.5e-7, 1.0, 1e-6), "sigma"),
        (lambda: ac_kappa(0.95, math.nan, 2.5e-7, 1.0, 1e-6), "eta"),
        (lambda: ac_kappa(0.95, 2.5e-6, -1e-7, 1.0, 1e-6), "gamma"),
        (lambda: ac_kappa(0.95, 2.5e-6, 2.5e-7, 0.0, 1e-6), "tau"),
        (lambda: ac_kappa(0.95, 2.5e-6, 2.5e-7, 1.0, -1e-6), "risk_aversion"),
        (lambda: ac_kappa(0.95, 2.5e-6, 2.5e-7, 1.0, math.inf), "risk_aversion"),
        (lambda: ac_kappa(0.95, 1e-7, 2.5e-7, 1.0, 1e-6), "eta.*eta_tilde"),
        (lambda: almgren_chriss(**dict(AC2000, initial_shares=0.0), risk_aversion=1e-6), "initial_shares"),
        (lambda: almgren_chriss(**dict(AC2000, initial_price=math.nan), risk_aversion=1e-6), "initial_price"),
        (lambda: almgren_chriss(**dict(AC2000, horizon_days=-5.0), risk_aversion=1e-6), "horizon_days"),
        (lambda: almgren_chriss(**dict(AC2000, steps=2.5), risk_aversion=1e-6), "steps"),
        (lambda: almgren_chriss(**dict(AC2000, steps=0), risk_aversion=1e-6), "steps"),
        (lambda: almgren_chriss(**dict(AC2000, steps=True), risk_aversion=1e-6), "steps"),
        (lambda: almgren_chriss(**dict(AC2000, epsilon=-0.1), risk_aversion=1e-6), "epsilon"),
        (lambda: almgren_chriss(**dict(AC2000, eta=1e-8), risk_aversion=1e-6), "eta"),
        (lambda: schedule_cost([1.0, 0.5, 0.1], **COSTS), "x"),
        (lambda: schedule_cost([1.0, math.nan, 0.0], **COSTS), "x"),
        (lambda: schedule_cost([1.0, 0.0], **dict(COSTS, tau=0.0)), "tau"),
        (lambda: ac_continuous_cost(1e6, 0.95, 5.0, 0.0, 2.5e-7, 1e-6), "eta"),
        (lambda: nash_risk_neutral(0, X, T, ETA, 1.0, [0.5]), "n_sellers"),
        (lambda: nash_risk_neutral(2.0, X, T, ETA, 1.0, [0.5]), "n_sellers"),
        (lambda: nash_risk_neutral(2, -X, T, ETA, 1.0, [0.5]), "initial_shares"),
        (lambda: nash_risk_neutral(2, X, 0.0, ETA, 1.0, [0.0]), "horizon"),
        (lambda: nash_risk_neutral(2, X, T, 0.0, 1.0, [0.5]), "temp_impact"),
        (lambda: nash_risk_neutral(2, X, T, ETA, -1.0, [0.5]), "perm_impact"),
        (lambda: nash_risk_neutral(2, X, T, ETA, 1.0, [0.5, 1.5]), "times"),
        (lambda: nash_risk_neutral(2, X, T, ETA, 1.0, [math.nan]), "times"),
        (lambda: nash_risk_averse(2, X, T, ETA, 1.0, -0.1, 1.0, [0.5]), "sigma"),
        (lambda: nash_risk_averse(2, X, T, ETA, 1.0, 0.1, math.nan, [0.5]), "risk_aversion"),
        (lambda: nash_discrete(2, X, T, 0, ETA, 1.0), "steps"),
        (lambda: nash_discrete(2, X, T, 2, 0.1, 1.0), "temp_impact"),
        (lambda: nash_discrete(2, X, T, 10, ETA, 1.0, sigma=1.0, risk_aversion=-1.0), "risk_aversion"),
        (lambda: game_cost(np.ones((2, 3)), sigma=0.0, tau=0.1, eta=1.0, gamma=0.0), "holdings"),
    ],
)
def test_bad_input_raises_naming_the_parameter(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()
