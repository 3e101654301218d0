"""Closed-form liquidation benchmarks: Almgren–Chriss (docs/model.md §12.2) and multi-seller Nash (docs/model.md §12.3, §12.4).

Pure numpy + math. Conventions:

* Almgren–Chriss (AC) discrete model, docs/model.md §12.2: grid t_k = k·τ, τ = T/N, holdings x_0 = X, x_N = 0,
  trades n_k = x_{k−1} − x_k. Unaffected price S_k = S_{k−1} + σ√τ ξ_k − γ n_k; execution at
  S_{k−1} − ε·sgn(n_k) − η n_k/τ. Costs are implementation shortfall IS = X S_0 − Σ n_k S̃_k in
  price units; the objective is E[IS] + λ·Var[IS].
* Multi-seller games, docs/model.md §12.3–12.4: N identical sellers, each liquidating X over [0, T]; permanent
  impact γ and temporary impact λ (here ``temp_impact``, the AC η) act on the *aggregate* flow.
  Risk-averse sellers minimise E[cost] + (α/2)·Var[cost] (the docs/model.md §12.4 convention, so α = 2λ_AC and
  N=1 gives AC with κ² = ασ²/(2λ)).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

__all__ = [
    "ACSolution",
    "ac_continuous_cost",
    "ac_kappa",
    "almgren_chriss",
    "almgren_chriss_from_config",
    "game_cost",
    "nash_discrete",
    "nash_risk_averse",
    "nash_risk_neutral",
    "schedule_cost",
]

# Below this κT the closed-form variance brackets cancel (relative error ≈ 1e-15/(κT)²), so the
# discrete variance is summed from the trajectory and the continuous one taken from its series.
_SMALL_KAPPA_T = 1e-1
_SMALL_KAPPA_T_CONTINUOUS = 1e-2


# --------------------------------------------------------------------------------------------
# validation helpers


def _finite(name: str, value: float, *, low: float = -math.inf, strict: bool = False) -> float:
    """Return ``float(value)`` or raise ValueError naming ``name`` if non-finite or below ``low``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: must be a real number") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}={value!r}: must be finite")
    if strict and not v > low:
        raise ValueError(f"{name}={value!r}: must be > {low:g}")
    if not strict and v < low:
        raise ValueError(f"{name}={value!r}: must be >= {low:g}")
    return v


def _count(name: str, value: Any, *, low: int = 1) -> int:
    """Return ``value`` as an int >= ``low`` or raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}={value!r}: must be an int")
    if value < low:
        raise ValueError(f"{name}={value!r}: must be >= {low}")
    return int(value)


def _eta_tilde(eta: float, gamma: float, tau: float, eta_name: str = "eta") -> float:
    """η̃ = η − ½γτ; raise ValueError naming ``eta_name`` unless it is > 0."""
    eta_tilde = eta - 0.5 * gamma * tau
    if not eta_tilde > 0.0:
        raise ValueError(
            f"{eta_name}={eta!r}: must exceed gamma*tau/2={0.5 * gamma * tau!r} "
            f"(eta_tilde = eta - gamma*tau/2 = {eta_tilde!r} must be > 0)"
        )
    return eta_tilde


def _times(times: Any, horizon: float) -> np.ndarray:
    """``times`` as a float array inside [0, horizon] (ValueError naming ``times`` otherwise)."""
    t = np.asarray(times, dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise ValueError("times: must be finite")
    if t.size and (t.min() < 0.0 or t.max() > horizon):
        raise ValueError(f"times: must lie in [0, horizon={horizon!r}], got [{t.min()!r}, {t.max()!r}]")
    return t


# --------------------------------------------------------------------------------------------
# overflow-free hyperbolic ratios (all arguments >= 0)


def _sinh_ratio(a: np.ndarray | float, d: np.ndarray | float) -> np.ndarray | float:
    """sinh(a)/sinh(a + d) for a, d >= 0, a + d > 0, as e^{−d}·expm1(−2a)/expm1(−2(a + d)).

    Never overflows; the gap d is passed separately so e^{−d} keeps full relative precision.
    """
    a, d = np.asarray(a, dtype=np.float64), np.asarray(d, dtype=np.float64)
    return np.exp(-d) * np.expm1(-2.0 * a) / np.expm1(-2.0 * (a + d))


def _csch(b: float) -> float:
    """1/sinh(b) for b > 0, as −2e^{−b}/expm1(−2b)."""
    return -2.0 * math.exp(-b) / math.expm1(-2.0 * b)


def _cosh_over_sinh(a: float, d: float) -> float:
    """cosh(a)/sinh(a + d) for a, d >= 0, a + d > 0."""
    return math.exp(-d) * (1.0 + math.exp(-2.0 * a)) / -math.expm1(-2.0 * (a + d))


# --------------------------------------------------------------------------------------------
# Almgren–Chriss (docs/model.md §12.2)


def ac_kappa(sigma: float, eta: float, gamma: float, tau: float, risk_aversion: float) -> float:
    """Urgency κ of the discrete Almgren–Chriss optimum (docs/model.md §12.2).

    κ solves (2/τ²)(cosh κτ − 1) = κ̃² ≡ λσ²/η̃ with η̃ = η − ½γτ. Since cosh u − 1 = 2 sinh²(u/2),
    this is κ = (2/τ)·asinh(κ̃τ/2) (= arccosh(½κ̃²τ² + 1)/τ, without cancellation for small κ̃τ).
    κ = 0 when λ = 0 or σ = 0 (TWAP); κ → sqrt(λσ²/η) as τ → 0.

    Args:
        sigma: σ, price volatility, price units per share per sqrt(day), >= 0.
        eta: η, temporary impact, price per (share/day); must exceed γτ/2.
        gamma: γ, permanent impact, price per share, >= 0.
        tau: τ, step length in days, > 0.
        risk_aversion: λ in E + λ·Var, 1/price unit, >= 0.

    Returns:
        κ in 1/day.

    Raises:
        ValueError: naming the offending parameter (non-finite, negative, or η̃ <= 0).
    """
    sigma = _finite("sigma", sigma, low=0.0)
    eta = _finite("eta", eta, low=0.0)
    gamma = _finite("gamma", gamma, low=0.0)
    tau = _finite("tau", tau, low=0.0, strict=True)
    lam = _finite("risk_aversion", risk_aversion, low=0.0)
    eta_tilde = _eta_tilde(eta, gamma, tau)
    kappa_tilde = math.sqrt(lam * sigma * sigma / eta_tilde)
    return 2.0 / tau * math.asinh(0.5 * kappa_tilde * tau)


@dataclasses.dataclass(frozen=True)
class ACSolution:
    """Optimal Almgren–Chriss schedule and its cost statistics (docs/model.md §12.2).

    Arrays are read-only.
    """

    kappa: float  # κ, 1/day (0 for TWAP)
    times: np.ndarray  # (N+1,) t_k = k·τ, days
    holdings: np.ndarray  # (N+1,) x_k, shares; x_0 = X, x_N = 0
    trades: np.ndarray  # (N,) n_k = x_{k−1} − x_k, shares sold in step k
    expected_cost: float  # E[IS], price units
    variance: float  # Var[IS], price units²
    std: float  # sd[IS], price units
    objective: float  # E + λ·Var, price units


def almgren_chriss(
    initial_shares: float,
    initial_price: float,
    sigma: float,
    horizon_days: float,
    steps: int,
    epsilon: float,
    eta: float,
    gamma: float,
    risk_aversion: float,
) -> ACSolution:
    """Closed-form optimal discrete Almgren–Chriss liquidation (docs/model.md §12.2).

    With τ = T/N, η̃ = η − ½γτ and κ from :func:`ac_kappa`:

    * trajectory x_j = X·sinh(κ(T − t_j))/sinh(κT), j = 0..N (TWAP x_j = X(1 − j/N) when κ = 0);
    * E = ½γX² + εX + η̃X²·tanh(½κτ)·[τ sinh(2κT) + 2T sinh(κτ)] / [2τ² sinh²(κT)]
      (TWAP: E = ½γX² + εX + η̃X²/T);
    * V = ½σ²X²·[τ sinh(κT) cosh(κ(T−τ)) − T sinh(κτ)] / [sinh²(κT) sinh(κτ)]
      (TWAP: V = ⅓σ²X²T(1 − 1/N)(1 − 1/(2N))).

    The hyperbolic ratios are evaluated with exponentials of non-positive arguments, so large κT
    does not overflow; for 0 < κT < 0.1, where the V bracket cancels, V is summed as σ²τΣx_k².

    Args:
        initial_shares: X, shares to sell, > 0.
        initial_price: S_0, > 0; validated only (costs of the arithmetic model do not depend on it).
        sigma: σ, price units per share per sqrt(day), >= 0.
        horizon_days: T, days, > 0.
        steps: N, number of trading intervals, int >= 1.
        epsilon: ε, fixed cost per share (half spread + fees), >= 0.
        eta: η, temporary impact, price per (share/day); η̃ = η − ½γτ must be > 0.
        gamma: γ, permanent impact, price per share, >= 0.
        risk_aversion: λ in E + λ·Var, 1/price unit, >= 0.

    Returns:
        :class:`ACSolution`.

    Raises:
        ValueError: naming the offending parameter.
    """
    X = _finite("initial_shares", initial_shares, low=0.0, strict=True)
    _finite("initial_price", initial_price, low=0.0, strict=True)
    T = _finite("horizon_days", horizon_days, low=0.0, strict=True)
    N = _count("steps", steps)
    eps = _finite("epsilon", epsilon, low=0.0)
    lam = _finite("risk_aversion", risk_aversion, low=0.0)
    tau = T / N
    kappa = ac_kappa(sigma, eta, gamma, tau, lam)
    sigma, gamma = float(sigma), float(gamma)
    eta_tilde = float(eta) - 0.5 * gamma * tau

    j = np.arange(N + 1, dtype=np.float64)
    times = j * tau
    kT, kt = kappa * T, kappa * tau
    if kappa == 0.0:
        holdings = X * (1.0 - j / N)
        expected = 0.5 * gamma * X * X + eps * X + eta_tilde * X * X / T
        variance = sigma * sigma * X * X * T * (1.0 - 1.0 / N) * (1.0 - 0.5 / N) / 3.0
    else:
        holdings = X * _sinh_ratio(kappa * tau * (N - j), kappa * tau * j)
        # [τ sinh 2κT + 2T sinh κτ]/[2τ² sinh² κT] = coth(κT)/τ + T·(sinh κτ/sinh κT)·csch(κT)/τ²
        sinh_ratio = float(_sinh_ratio(kt, kt * (N - 1)))  # sinh(κτ)/sinh(κT)
        bracket = 1.0 / (math.tanh(kT) * tau) + T * sinh_ratio * _csch(kT) / (tau * tau)
        expected = 0.5 * gamma * X * X + eps * X + eta_tilde * X * X * math.tanh(0.5 * kt) * bracket
        if N == 1:
            variance = 0.0  # sold in one step: the bracket is (τ − T)csch²(κT) = 0
        elif kT < _SMALL_KAPPA_T:
            variance = sigma * sigma * tau * float(np.sum(holdings[1:-1] ** 2))
        else:
            # [τ sinh κT cosh κ(T−τ) − T sinh κτ]/[sinh² κT sinh κτ]
            #   = τ·(cosh κ(T−τ)/sinh κT)/sinh κτ − T·csch² κT
            v_bracket = tau * _cosh_over_sinh(kt * (N - 1), kt) * _csch(kt) - T * _csch(kT) ** 2
            variance = 0.5 * sigma * sigma * X * X * v_bracket
    holdings[0], holdings[-1] = X, 0.0
    trades = holdings[:-1] - holdings[1:]
    for a in (times, holdings, trades):
        a.flags.writeable = False
    return ACSolution(
        kappa=kappa,
        times=times,
        holdings=holdings,
        trades=trades,
        expected_cost=float(expected),
        variance=float(variance),
        std=math.sqrt(variance),
        objective=float(expected + lam * variance),
    )


def almgren_chriss_from_config(cfg: Any) -> ACSolution:
    """:func:`almgren_chriss` for a config object (e.g. ``dma_gym.config.params.AlmgrenChrissConfig``).

    Reads the attributes initial_shares, initial_price, sigma, horizon_days, steps, epsilon, eta,
    gamma and risk_aversion; anything else on ``cfg`` is ignored.
    """
    names = (
        "initial_shares", "initial_price", "sigma", "horizon_days", "steps",
        "epsilon", "eta", "gamma", "risk_aversion",
    )
    missing = [n for n in names if not hasattr(cfg, n)]
    if missing:
        raise ValueError(f"cfg ({type(cfg).__name__}) lacks attribute(s) {missing}")
    return almgren_chriss(**{n: getattr(cfg, n) for n in names})


def schedule_cost(
    x: Any, *, sigma: float, tau: float, epsilon: float, eta: float, gamma: float
) -> tuple[float, float]:
    """E[IS] and Var[IS] of any deterministic AC holdings schedule, by brute-force sums (docs/model.md §12.2).

    E = ½γX² + εΣ|n_k| + (η̃/τ)Σn_k²,  V = σ²τ Σ_{k=1..N} x_k²,
    with X = x_0, n_k = x_{k−1} − x_k, η̃ = η − ½γτ.

    Args:
        x: (N+1,) holdings x_0..x_N in shares; must end at x_N = 0.
        sigma, tau, epsilon, eta, gamma: as in :func:`almgren_chriss` (τ = step length, days).

    Returns:
        (E, V) in price units and price units².
    """
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim != 1 or xs.size < 2 or not np.all(np.isfinite(xs)):
        raise ValueError("x: must be a finite 1-D schedule x_0..x_N with N >= 1")
    if xs[-1] != 0.0:
        raise ValueError(f"x: must end at x_N = 0 (got {xs[-1]!r})")
    sigma = _finite("sigma", sigma, low=0.0)
    tau = _finite("tau", tau, low=0.0, strict=True)
    eps = _finite("epsilon", epsilon, low=0.0)
    eta = _finite("eta", eta, low=0.0)
    gamma = _finite("gamma", gamma, low=0.0)
    n = xs[:-1] - xs[1:]
    eta_tilde = eta - 0.5 * gamma * tau
    X = xs[0]
    expected = 0.5 * gamma * X * X + eps * float(np.sum(np.abs(n))) + eta_tilde / tau * float(np.sum(n * n))
    variance = sigma * sigma * tau * float(np.sum(xs[1:] ** 2))
    return float(expected), variance


def ac_continuous_cost(
    initial_shares: float,
    sigma: float,
    horizon_days: float,
    eta: float,
    gamma: float,
    risk_aversion: float,
) -> tuple[float, float]:
    """E and V of the continuous-time AC optimum, ε = 0 (docs/model.md §12.2, continuous-time limit).

    κ = sqrt(λσ²/η), x(t) = X sinh(κ(T−t))/sinh(κT);
    E = ½γX² + ηX²κ[2κT + sinh(2κT)]/[4 sinh²(κT)],  V = σ²X²[sinh(2κT) − 2κT]/[4κ sinh²(κT)];
    κ → 0 gives E = ½γX² + ηX²/T, V = ⅓σ²X²T. The discrete :func:`almgren_chriss` converges to
    these as the number of steps grows.

    Returns:
        (E, V) in price units and price units².
    """
    X = _finite("initial_shares", initial_shares, low=0.0, strict=True)
    sigma = _finite("sigma", sigma, low=0.0)
    T = _finite("horizon_days", horizon_days, low=0.0, strict=True)
    eta = _finite("eta", eta, low=0.0, strict=True)
    gamma = _finite("gamma", gamma, low=0.0)
    lam = _finite("risk_aversion", risk_aversion, low=0.0)
    kappa = math.sqrt(lam * sigma * sigma / eta)
    kT = kappa * T
    if kappa == 0.0:
        return 0.5 * gamma * X * X + eta * X * X / T, sigma * sigma * X * X * T / 3.0
    c2 = _csch(kT) ** 2
    # [2κT + sinh 2κT]/(4 sinh² κT) = (2κT·csch² κT + 2 coth κT)/4, a sum of positive terms
    expected = 0.5 * gamma * X * X + eta * X * X * kappa * (2.0 * kT * c2 + 2.0 / math.tanh(kT)) / 4.0
    if kT < _SMALL_KAPPA_T_CONTINUOUS:  # the V bracket cancels to O(κT): series, error O((κT)⁶)
        u2 = kT * kT
        variance = sigma * sigma * X * X * T / 3.0 * (1.0 - 2.0 * u2 / 15.0 + 2.0 * u2 * u2 / 105.0)
    else:
        variance = sigma * sigma * X * X * (2.0 / math.tanh(kT) - 2.0 * kT * c2) / (4.0 * kappa)
    return expected, variance


# --------------------------------------------------------------------------------------------
# multi-seller Nash (docs/model.md §12.3, §12.4)


def _game_args(n_sellers: int, initial_shares: float, horizon: float, temp_impact: float, perm_impact: float):
    return (
        _count("n_sellers", n_sellers),
        _finite("initial_shares", initial_shares, low=0.0, strict=True),
        _finite("horizon", horizon, low=0.0, strict=True),
        _finite("temp_impact", temp_impact, low=0.0, strict=True),
        _finite("perm_impact", perm_impact, low=0.0),
    )


def nash_risk_neutral(
    n_sellers: int,
    initial_shares: float,
    horizon: float,
    temp_impact: float,
    perm_impact: float,
    times: Any,
) -> np.ndarray:
    """Symmetric open-loop Nash holdings of N risk-neutral sellers (Carlin–Lobo–Viswanathan, docs/model.md §12.3).

    Price p(t) = p₀ + γΣ_j(x_j(t) − x_j(0)) + λΣ_j ẋ_j(t). Each seller's holdings are

        x(t) = X·[1 − (1 − e^{−a t})/(1 − e^{−a T})] = X·e^{−a t}·expm1(−a(T − t))/expm1(−a T),
        a = (γ/λ)(N − 1)/(N + 1),

    so the aggregate selling rate is ∝ e^{−a t} ("race to the exit"); a = 0 (N = 1 or γ = 0)
    gives TWAP x(t) = X(1 − t/T), the continuous limit of the formula.

    Args:
        n_sellers: N, int >= 1.
        initial_shares: X, shares each seller liquidates, > 0.
        horizon: T, > 0 (same time unit as ``times``).
        temp_impact: λ (the AC η), price per (share/time), > 0.
        perm_impact: γ, price per share, >= 0.
        times: times in [0, T] (scalar or array).

    Returns:
        Holdings of one seller at ``times`` (same shape).
    """
    N, X, T, lam, gamma = _game_args(n_sellers, initial_shares, horizon, temp_impact, perm_impact)
    t = _times(times, T)
    a = gamma / lam * (N - 1) / (N + 1)
    if a * T == 0.0:
        return X * (1.0 - t / T)
    # the second form ends at exactly 0 at t = T (expm1(0) = 0), whatever the libm's last ulp
    return X * np.exp(-a * t) * np.expm1(-a * (T - t)) / math.expm1(-a * T)


def nash_risk_averse(
    n_sellers: int,
    initial_shares: float,
    horizon: float,
    temp_impact: float,
    perm_impact: float,
    sigma: float,
    risk_aversion: float,
    times: Any,
) -> np.ndarray:
    """Symmetric open-loop Nash holdings of N risk-averse sellers (Schied–Zhang identical agents, docs/model.md §12.4).

    Each seller minimises E[cost] + (α/2)·Var[cost]; the Euler–Lagrange equation of the symmetric
    equilibrium is λ(N+1)ẍ + γ(N−1)ẋ − ασ²x = 0 with roots

        r± = [−γ(N−1) ± sqrt(γ²(N−1)² + 4λ(N+1)ασ²)] / (2λ(N+1)),

    and x(t) = X[e^{r₊T}e^{r₋t} − e^{r₋T}e^{r₊t}]/(e^{r₊T} − e^{r₋T}). Dividing by e^{r₊T} and
    writing d = r₊ − r₋ >= 0 this is evaluated as

        x(t) = X·e^{r₋t}·expm1(−d(T − t))/expm1(−dT),

    whose exponentials have non-positive arguments (no overflow for any T·r). N = 1 is the AC
    continuous-time optimum with κ² = ασ²/(2λ) (i.e. α = 2λ_AC); α = 0 reduces to
    :func:`nash_risk_neutral`; d = 0 (α = 0 and γ(N−1) = 0) is TWAP.

    Args:
        n_sellers: N, int >= 1.
        initial_shares: X, shares each seller liquidates, > 0.
        horizon: T, > 0.
        temp_impact: λ (the AC η), > 0.
        perm_impact: γ, >= 0.
        sigma: σ, price volatility per sqrt(time unit), >= 0.
        risk_aversion: α in E + (α/2)·Var (= 2× the AC λ), >= 0.
        times: times in [0, T] (scalar or array).

    Returns:
        Holdings of one seller at ``times`` (same shape).
    """
    N, X, T, lam, gamma = _game_args(n_sellers, initial_shares, horizon, temp_impact, perm_impact)
    sigma = _finite("sigma", sigma, low=0.0)
    alpha = _finite("risk_aversion", risk_aversion, low=0.0)
    t = _times(times, T)
    a2 = lam * (N + 1)
    b = gamma * (N - 1)
    c = alpha * sigma * sigma
    root = math.sqrt(b * b + 4.0 * a2 * c)
    r_minus = -(b + root) / (2.0 * a2)  # no cancellation: both terms <= 0
    r_plus = 2.0 * c / (b + root) if b + root > 0.0 else 0.0  # rationalised, no cancellation
    d = r_plus - r_minus
    if d * T == 0.0:
        return X * (1.0 - t / T)
    return X * np.exp(r_minus * t) * np.expm1(-d * (T - t)) / math.expm1(-d * T)


def game_cost(
    holdings: Any, *, sigma: float, tau: float, eta: float, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each seller's E[IS] and Var[IS] in the discrete multi-seller AC game, by direct simulation.

    Step k (k = 1..M) every seller j trades n_{j,k} = x_{j,k−1} − x_{j,k}; with the aggregate
    N_k = Σ_j n_{j,k}, seller i is filled at S_{k−1} − ηN_k/τ, and the unaffected price has already
    fallen by γΣ_{l<k}N_l plus noise σ√τΣ_{l<k}ξ_l. Hence

        E_i = Σ_k n_{i,k}·(γΣ_{l<k}N_l + ηN_k/τ),   V_i = σ²τ Σ_{k=1..M} x_{i,k}².

    For one seller this equals :func:`schedule_cost` with ε = 0. No ε: for pure sellers it adds
    the constant εX_i.

    Args:
        holdings: (n_sellers, M+1) holdings of each seller at t_k = kτ, each ending at 0.
        sigma, tau, eta, gamma: as in :func:`almgren_chriss`.

    Returns:
        (E, V), each (n_sellers,).
    """
    x = np.asarray(holdings, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2 or not np.all(np.isfinite(x)):
        raise ValueError("holdings: must be a finite (n_sellers, M+1) array with M >= 1")
    if np.any(x[:, -1] != 0.0):
        raise ValueError("holdings: every seller must end at 0")
    sigma = _finite("sigma", sigma, low=0.0)
    tau = _finite("tau", tau, low=0.0, strict=True)
    eta = _finite("eta", eta, low=0.0)
    gamma = _finite("gamma", gamma, low=0.0)
    n = x[:, :-1] - x[:, 1:]  # (S, M)
    agg = n.sum(axis=0)  # (M,)
    shortfall_per_share = gamma * (np.cumsum(agg) - agg) + eta * agg / tau  # S_0 − S̃_k before noise
    expected = (n * shortfall_per_share).sum(axis=1)
    variance = sigma * sigma * tau * (x[:, 1:] ** 2).sum(axis=1)
    return expected, variance


def nash_discrete(
    n_sellers: int,
    initial_shares: float,
    horizon: float,
    steps: int,
    temp_impact: float,
    perm_impact: float,
    sigma: float = 0.0,
    risk_aversion: float = 0.0,
) -> np.ndarray:
    """Symmetric open-loop Nash equilibrium of N identical sellers in the discrete AC game.

    The game of :func:`game_cost` with M = ``steps``, τ = T/M; each seller minimises
    J_i = E_i + (α/2)V_i (docs/model.md §12.4 convention). With trades n_i = D y_i + X e_1 (y_i = interior
    holdings x_{i,1..M−1}, D the (M, M−1) difference map), A = γL + (η/τ)I (L strictly lower
    triangular ones) and E_i = n_iᵀ A Σ_j n_j, seller i's first-order condition is

        Dᵀ[(A + Aᵀ) n_i + A Σ_{j≠i} n_j] + ασ²τ y_i = 0.

    Own cost is strictly convex in y_i (Hessian (2η̃/τ)DᵀD + ασ²τI, η̃ = η − ½γτ > 0), so the FOC
    is a best response. Setting n_j = n for all j gives the linear system

        [Dᵀ(NA + Aᵀ)D + ασ²τI] y = −X·Dᵀ(NA + Aᵀ)e_1,

    solved with numpy.linalg.solve. Risk neutral (α = 0), consecutive FOCs make the trades exactly
    geometric, n_{k+1}/n_k = ((N+1)η/τ − Nγ)/((N+1)η/τ − γ) → e^{−aτ} (docs/model.md §12.3). N = 1 reproduces :func:`almgren_chriss` with λ_AC = α/2, ε = 0;
    as M grows it converges to :func:`nash_risk_neutral` (α = 0) and :func:`nash_risk_averse`.

    Args:
        n_sellers: N, int >= 1.
        initial_shares: X, shares each seller liquidates, > 0.
        horizon: T, > 0.
        steps: M, number of trading intervals, int >= 1.
        temp_impact: η (λ in docs/model.md §12.3), price per (share/time); η − ½γτ must be > 0.
        perm_impact: γ, >= 0.
        sigma: σ, >= 0.
        risk_aversion: α in E + (α/2)·Var, >= 0.

    Returns:
        (M+1,) holdings of each seller at t_k = k·T/M.
    """
    N, X, T, eta, gamma = _game_args(n_sellers, initial_shares, horizon, temp_impact, perm_impact)
    M = _count("steps", steps)
    sigma = _finite("sigma", sigma, low=0.0)
    alpha = _finite("risk_aversion", risk_aversion, low=0.0)
    tau = T / M
    _eta_tilde(eta, gamma, tau, eta_name="temp_impact")
    if M == 1:
        return np.array([X, 0.0])
    A = gamma * np.tril(np.ones((M, M)), k=-1) + (eta / tau) * np.eye(M)
    B = N * A + A.T
    D = np.zeros((M, M - 1))
    idx = np.arange(M - 1)
    D[idx, idx] = -1.0  # n_j = x_{j−1} − x_j: −1 on x_j's own step
    D[idx + 1, idx] = 1.0  # +1 on the next step
    DtB = D.T @ B
    H = DtB @ D + alpha * sigma * sigma * tau * np.eye(M - 1)
    y = np.linalg.solve(H, -X * DtB[:, 0])
    return np.concatenate(([X], y, [0.0]))
