"""The almgren_chriss scenario with N sellers is the discrete multi-seller game of
``agents.closed_form`` (docs/model.md §12.3): every seller filled at the aggregate impact, the
price moved by the aggregate trade. Sellers playing the ``nash`` baseline follow the closed-form
equilibrium, pay exactly its cost, and none of them gains by deviating."""
from __future__ import annotations

import numpy as np
import pytest

import agents
import dma_gym
from agents.closed_form import game_cost, nash_discrete
from dma_gym import Engine

# permanent impact strong against temporary (gamma tau / eta = 0.8): the race to the exit is visible
RACE = {"steps": 10, "horizon_days": 5.0, "eta": 2.5e-6, "gamma": 4e-6, "risk_aversion": 0.0}


def _play(cfg, shares_fn, n_envs: int = 1, seed: int = 0):
    """Run every seller with ``shares_fn(k) -> (N,)`` shares of its remaining holdings to sell at
    step k; returns holdings (M + 1, E, N) and each seller's implementation shortfall (E, N)."""
    N = cfg.n_sellers
    eng = Engine(cfg, n_envs, learners=range(N))
    eng.reset(seed=seed)
    path = [eng.state.hold[:, :, 0].copy()]
    for k in range(cfg.steps):
        act = np.broadcast_to(-np.asarray(shares_fn(k))[None, :, None], (n_envs, N, 1))
        eng.step(np.ascontiguousarray(act))
        path.append(eng.state.hold[:, :, 0].copy())
    shortfall = cfg.initial_shares * cfg.initial_price - eng.state.cash
    return np.array(path), shortfall


def _shares(x: np.ndarray) -> np.ndarray:
    """(M + 1,) holdings -> (M,) share of the remaining holdings sold at each step."""
    n = x[:-1] - x[1:]
    return np.divide(n, x[:-1], out=np.ones_like(n), where=x[:-1] > 0)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_nash_sellers_follow_the_equilibrium_and_pay_its_cost(n):
    cfg = dma_gym.scenarios.get("almgren_chriss", n_sellers=n, sigma=0.0, **RACE)
    pol = agents.make("nash", _env(cfg))
    x = nash_discrete(n, cfg.initial_shares, cfg.horizon_days, cfg.steps, cfg.eta, cfg.gamma)
    np.testing.assert_allclose(pol.holdings, x, rtol=0, atol=1e-9 * cfg.initial_shares)
    path, shortfall = _play(cfg, lambda k: np.full(n, pol._share[k]))
    np.testing.assert_allclose(path[:, 0, :], np.repeat(x[:, None], n, 1), rtol=1e-12, atol=1e-6)
    e, _ = game_cost(np.tile(x, (n, 1)), sigma=0.0, tau=cfg.tau, eta=cfg.eta, gamma=cfg.gamma)
    # no noise: the shortfall is the game's cost plus the fixed cost eps per share sold
    np.testing.assert_allclose(shortfall[0], e + cfg.epsilon * cfg.initial_shares, rtol=1e-9)
    if n > 1:  # the race: more sellers, faster early selling than TWAP
        assert x[1] < cfg.initial_shares * (1 - 1 / cfg.steps)


@pytest.mark.parametrize("n", [2, 5])
def test_no_seller_gains_by_deviating_from_nash(n):
    cfg = dma_gym.scenarios.get("almgren_chriss", n_sellers=n, sigma=0.0, **RACE)
    x = nash_discrete(n, cfg.initial_shares, cfg.horizon_days, cfg.steps, cfg.eta, cfg.gamma)
    share = _shares(x)
    _, base = _play(cfg, lambda k: np.full(n, share[k]))
    rng = np.random.default_rng(n)
    alts = [np.linspace(cfg.initial_shares, 0, cfg.steps + 1)]  # TWAP
    for _ in range(12):  # random monotone perturbations of the Nash path
        y = x.copy()
        y[1:-1] *= np.exp(rng.normal(0, 0.2, cfg.steps - 1))
        y[1:-1] = np.minimum.accumulate(np.minimum(y[1:-1], cfg.initial_shares))
        alts.append(y)
    for y in alts:
        dev = _shares(y)
        _, cost = _play(cfg, lambda k: np.r_[dev[k], np.full(n - 1, share[k])])
        assert cost[0, 0] > base[0, 0], "a deviation beat the equilibrium"
        e, _ = game_cost(np.vstack([y] + [x] * (n - 1)), sigma=0.0, tau=cfg.tau, eta=cfg.eta, gamma=cfg.gamma)
        np.testing.assert_allclose(cost[0], e + cfg.epsilon * cfg.initial_shares, rtol=1e-9)


def test_cooperation_beats_the_race():
    """Risk neutral, the joint optimum is TWAP: the sellers together pay less than at Nash."""
    n = 5
    cfg = dma_gym.scenarios.get("almgren_chriss", n_sellers=n, sigma=0.0, **RACE)
    x = nash_discrete(n, cfg.initial_shares, cfg.horizon_days, cfg.steps, cfg.eta, cfg.gamma)
    nash_share = _shares(x)
    twap = _shares(np.linspace(cfg.initial_shares, 0, cfg.steps + 1))
    _, race = _play(cfg, lambda k: np.full(n, nash_share[k]))
    _, coop = _play(cfg, lambda k: np.full(n, twap[k]))
    assert coop.sum() < race.sum()


def test_noise_is_common_and_the_variance_is_the_games():
    n, E = 2, 2000
    cfg = dma_gym.scenarios.get("almgren_chriss", n_sellers=n, **RACE)
    x = nash_discrete(n, cfg.initial_shares, cfg.horizon_days, cfg.steps, cfg.eta, cfg.gamma)
    share = _shares(x)
    _, cost = _play(cfg, lambda k: np.full(n, share[k]), n_envs=E, seed=11)
    np.testing.assert_array_equal(cost[:, 0], cost[:, 1])  # one price: identical sellers, identical fills
    e, v = game_cost(np.tile(x, (n, 1)), sigma=cfg.sigma, tau=cfg.tau, eta=cfg.eta, gamma=cfg.gamma)
    m = cost[:, 0] - cfg.epsilon * cfg.initial_shares
    se = m.std(ddof=1) / np.sqrt(E)
    assert abs(m.mean() - e[0]) < 4 * se
    assert abs(m.var(ddof=1) / v[0] - 1) < 4 * np.sqrt(2 / (E - 1))


def test_nash_with_one_seller_is_almgren_chriss():
    cfg = dma_gym.scenarios.get("almgren_chriss", steps=20, risk_aversion=2e-6)
    env = _env(cfg)
    nash, ac = agents.make("nash", env), agents.make("almgren_chriss", env)
    np.testing.assert_allclose(nash._share, ac._share, rtol=1e-8, atol=1e-12)


def test_nash_refuses_a_market_and_bad_parameters():
    with pytest.raises(ValueError, match="needs the almgren_chriss scenario"):
        agents.make("nash", _env(dma_gym.scenarios.get("calm")))
    cfg = dma_gym.scenarios.get("almgren_chriss")
    for kw, match in (({"n_sellers": 0}, "n_sellers"), ({"risk_aversion": -1.0}, "risk_aversion")):
        with pytest.raises(ValueError, match=match):
            agents.make("nash", _env(cfg), **kw)


def _env(cfg):
    from dma_gym.envs.vector_env import DMAUnwindVectorEnv

    overrides = {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}
    scenario = "almgren_chriss" if hasattr(cfg, "n_sellers") else "calm"
    return DMAUnwindVectorEnv(1, scenario, **overrides)


def test_without_noise_the_price_is_observed_against_the_whole_impact():
    """sigma = 0: the observed price move is (S - S0) / (gamma N X), the share of all positions sold."""
    n = 3
    env = dma_gym.parallel_env(n, "almgren_chriss", sigma=0.0, **RACE)
    env.reset(seed=0)
    obs, *_ = env.step({a: np.array([-0.2 * (i + 1)], np.float32) for i, a in enumerate(env.agents)})
    sold = 0.2 + 0.4 + 0.6  # shares of X sold by the three sellers
    for a in env.possible_agents:
        assert obs[a][2] == pytest.approx(-sold / n, rel=1e-6)
