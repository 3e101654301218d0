"""Rule baselines: registry and input checks, batching, and each rule's behaviour in the env."""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import agents
import dma_gym  # noqa: F401  (registers DMAUnwind-v0)
from agents.baselines import EXPOSURE, FUTURES, TIME_OF_DAY, VOLUME
from agents.closed_form import almgren_chriss_from_config
from dma_gym.config.params import TIER_NAMES
from dma_gym.envs.vector_env import DMAUnwindVectorEnv
from dma_gym.core.enums import N_OBS

# below PARALLEL_MIN_ENVS (8): the serial core step loads from numba's disk cache, the threaded
# one compiles in every process
N_ENVS = 4
BASELINES = ["almgren_chriss", "deleverage_target", "dump", "hold", "margin_trigger", "nash", "pov", "rotate_large",
             "twap"]
MARKET_ONLY = ["deleverage_target", "margin_trigger", "pov", "rotate_large"]
AC_ONLY = ["nash"]
AC_OK = sorted(set(BASELINES) - set(MARKET_ONLY))
MARKET_OK = sorted(set(BASELINES) - set(AC_ONLY))
TIER = {t: j for j, t in enumerate(TIER_NAMES)}


def venv(scenario: str = "calm", n: int = N_ENVS, **overrides) -> DMAUnwindVectorEnv:
    return DMAUnwindVectorEnv(n, scenario, **overrides)


def rollout(policy, env: DMAUnwindVectorEnv, seed: int, steps: int | None = None):
    """Reset with ``seed`` and step with ``policy``; yields (k, obs before, action, obs after, info)."""
    obs, _ = env.reset(seed=seed)
    for k in range(steps or env.config.steps):
        act, _ = policy.predict(obs)
        nxt, _, term, _, info = env.step(act)
        assert not term.any() or k + 1 == env.config.steps, f"an episode ended early, at step {k + 1}"
        yield k, obs, act, nxt, info
        obs = nxt


# ---- registry, construction, input checks ------------------------------------------------------


def test_names_are_the_baselines():
    assert agents.names() == BASELINES


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as err:
        agents.make("twapp", venv())
    for name in BASELINES:
        assert repr(name)[1:-1] in str(err.value)


def _sb3(**overrides):
    sb3 = pytest.importorskip("stable_baselines3")
    from dma_gym.adapters.sb3 import make_sb3_vec_env
    return sb3.common.vec_env.VecMonitor(make_sb3_vec_env(2, "calm", **overrides))


@pytest.mark.parametrize("maker", [
    lambda **kw: gym.make("DMAUnwind-v0", scenario="calm", **kw),
    lambda **kw: gym.make_vec("DMAUnwind-v0", num_envs=2, vectorization_mode="vector_entry_point",
                              scenario="calm", **kw),
    lambda **kw: DMAUnwindVectorEnv(2, "calm", **kw),
    _sb3,
], ids=["gym.make", "gym.make_vec", "vector_env", "sb3+VecMonitor"])
def test_make_reads_config_and_spaces_from_any_env_kind(maker):
    env = maker(max_trade_frac=0.5)
    p = agents.make("twap", env)
    assert isinstance(p, agents.Policy)
    assert p.config.max_trade_frac == 0.5  # the env's own config, overrides included
    assert p.observation_space.shape == (N_OBS,) and p.action_space.shape == (8,)
    a, _ = p.predict(p.observation_space.low)
    # twap at step 0 of 100 sells 1/100 of each tier: action -(1/100)/max_trade_frac
    np.testing.assert_allclose(a[:5], -0.01 / 0.5, rtol=1e-6)


def test_make_rejects_a_non_env():
    with pytest.raises(ValueError, match="not a DMAUnwind env"):
        agents.make("hold", gym.make("CartPole-v1"))


@pytest.mark.parametrize("name", MARKET_ONLY)
def test_market_only_baselines_refuse_the_ac_scenario(name):
    with pytest.raises(ValueError, match="needs a market scenario"):
        agents.make(name, venv("almgren_chriss"))


@pytest.mark.parametrize("name", AC_ONLY)
def test_ac_only_baselines_refuse_a_market_scenario(name):
    with pytest.raises(ValueError, match="needs the almgren_chriss scenario"):
        agents.make(name, venv("calm"))


def test_names_by_kind():
    assert agents.names("market") == MARKET_OK
    assert agents.names("almgren_chriss") == AC_OK
    with pytest.raises(ValueError, match="kind="):
        agents.names("fx")


@pytest.mark.parametrize("name, kwargs, param", [
    ("twap", {"horizon_frac": 0.0}, "horizon_frac"),
    ("twap", {"horizon_frac": 1.5}, "horizon_frac"),
    ("pov", {"rate": 0.0}, "rate"),
    ("pov", {"rate": 2.0}, "rate"),
    ("pov", {"book_equity": -1.0}, "book_equity"),
    ("pov", {"rate": float("nan")}, "rate"),
    ("almgren_chriss", {"urgency": -1.0}, "urgency"),
    ("almgren_chriss", {"risk_aversion": 1e-6}, "risk_aversion"),  # market scenario: use urgency
    ("margin_trigger", {"trigger": "panic"}, "trigger"),
    ("margin_trigger", {"intensity": 0.0}, "intensity"),
    ("rotate_large", {"sell_tiers": ("CSI300",)}, "sell_tiers"),
    ("rotate_large", {"sell_tiers": ()}, "sell_tiers"),
    ("rotate_large", {"buy_ratio": -0.5}, "buy_ratio"),
    ("rotate_large", {"intensity": True}, "intensity"),
    ("deleverage_target", {"target": 0.0}, "target"),
    ("deleverage_target", {"speed": 1.5}, "speed"),
])
def test_bad_parameters_name_the_parameter(name, kwargs, param):
    with pytest.raises(ValueError, match=param):
        agents.make(name, venv(), **kwargs)


@pytest.mark.parametrize("kwargs, param", [({"risk_aversion": -1.0}, "risk_aversion"), ({"urgency": 2.0}, "urgency")])
def test_ac_baseline_parameters_in_the_ac_scenario(kwargs, param):
    with pytest.raises(ValueError, match=param):
        agents.make("almgren_chriss", venv("almgren_chriss"), **kwargs)


@pytest.mark.parametrize("obs, match", [
    (np.zeros(59), r"shape \(59,\)"),
    (np.zeros((2, 3, 60)), r"shape \(2, 3, 60\)"),
    (np.zeros((0, 60)), r"shape \(0, 60\)"),
    (np.zeros((60, 2)), r"shape \(60, 2\)"),
    ("not numbers", "numeric"),
])
def test_bad_observation_shape_raises(obs, match):
    with pytest.raises(ValueError, match=match):
        agents.make("hold", venv()).predict(obs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_observation_raises(bad):
    p = agents.make("twap", venv())
    obs = np.tile(p.observation_space.low, (3, 1))
    obs[1, 7] = bad
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \[1, 7\]\)"):
        p.predict(obs)


def test_out_of_bounds_observation_raises():
    p = agents.make("twap", venv())
    obs = p.observation_space.low.copy()
    obs[50] = 3.0  # time_of_day in [0, 1]: e.g. a normalised observation
    with pytest.raises(ValueError, match="outside the observation space at index"):
        p.predict(obs)


def _observations(scenario: str) -> np.ndarray:
    """Observations of a short rollout under random actions, stacked (n, obs_dim)."""
    env = venv(scenario)
    obs, _ = env.reset(seed=7)
    rng = np.random.default_rng(0)
    out = [obs]
    for _ in range(min(12, env.config.steps - 1)):
        obs = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))[0]
        out.append(obs)
    return np.concatenate(out)


@pytest.mark.parametrize("scenario", ["feb2024", "almgren_chriss"])
def test_batched_predict_equals_per_row_predict(scenario):
    obs = _observations(scenario)
    env = venv(scenario)
    for name in MARKET_OK if scenario != "almgren_chriss" else AC_OK:
        p = agents.make(name, env)
        state = ("opaque",)
        batch, out_state = p.predict(obs, state=state, episode_start=np.ones(len(obs), bool))
        assert out_state is state, name
        rows = np.stack([p.predict(o)[0] for o in obs])
        assert batch.dtype == np.float32 and batch.shape == (len(obs), env.single_action_space.shape[0]), name
        np.testing.assert_array_equal(batch, rows, err_msg=name)
        assert np.all(batch >= -1.0) and np.all(batch <= 1.0), name
        assert p.predict(obs[0])[0].shape == env.single_action_space.shape, name


# ---- behaviour in the market ------------------------------------------------------------------


def test_hold_never_sells():
    env = venv("feb2024", terminate_on_liquidation=False)
    p = agents.make("hold", env)
    env.reset(seed=3)
    h0 = env.state.hold[:, 0].copy()
    kept = 0
    for k, _, act, _, info in rollout(p, env, seed=3):
        assert np.all(act == 0.0)
        own = ~info["forced_liquidation"]  # the broker sells a liquidated book, not the policy
        assert np.all(info["sold_value"][own] == 0.0), f"step {k}: hold sold {info['sold_value']}"
        np.testing.assert_array_equal(env.state.hold[own, 0], h0[own], err_msg=f"step {k}")
        kept += int(own.sum())
    assert kept > env.num_envs * 10


def test_dump_sells_the_most_the_action_space_allows_at_once():
    env = venv("calm")
    p = agents.make("dump", env)
    obs, _ = env.reset(seed=0)
    nxt, _, _, _, info = env.step(p.predict(obs)[0])
    assert np.all(info["sold_value"] > 0.0)
    # max_trade_frac = 0.25 of every tier and of every futures short in one step (prices move ~1%)
    np.testing.assert_allclose(nxt[:, EXPOSURE] / obs[:, EXPOSURE], 0.75, atol=0.03)
    short = obs[:, FUTURES] < 0
    np.testing.assert_allclose(nxt[:, FUTURES][short] / obs[:, FUTURES][short], 0.75, atol=0.03)

    env = venv("calm", max_trade_frac=1.0)
    obs, _ = env.reset(seed=0)
    h0 = env.state.hold[:, 0].copy()
    nxt, _, _, _, info = env.step(agents.make("dump", env).predict(obs)[0])
    assert np.all(env.state.hold[:, 0] <= 1e-12 * h0) and np.all(nxt[:, EXPOSURE] < 1e-12)
    assert np.all(info["unfilled_sell_value"] < 1e-9)
    long0 = obs[:, EXPOSURE].sum(axis=1) * env.state.equity0[:, 0]  # CNY bn
    assert np.all(info["sold_value"] > 0.9 * long0) and np.all(info["sold_value"] < long0)


def test_twap_sells_linearly_and_completes_by_the_horizon():
    env = venv("calm", max_trade_frac=1.0, max_futures_frac=1.0, terminate_on_liquidation=False)
    p = agents.make("twap", env)
    env.reset(seed=11)
    h0, f0 = env.state.hold[:, 0].copy(), env.state.fut[:, 0].copy()
    N = env.config.steps
    worst = 0.0
    for k, _, _, _, info in rollout(p, env, seed=11):
        held = env.state.hold[:, 0].sum(axis=1) / h0.sum(axis=1)  # shares: every name sold alike
        worst = max(worst, float(np.abs(held - (1.0 - (k + 1) / N)).max()))
    assert worst < 0.02, f"holdings strayed {worst:.4f} from the linear schedule"
    assert np.all(env.state.done)
    assert np.all(env.state.hold[:, 0] <= 1e-12 * h0) and np.all(env.state.fut[:, 0] == 0.0), "not flat at the horizon"
    assert np.all(f0[:, 1:] < 0.0)


def test_twap_with_a_shorter_horizon_is_flat_early():
    env = venv("calm", max_trade_frac=1.0, terminate_on_liquidation=False)
    p = agents.make("twap", env, horizon_frac=0.5)
    env.reset(seed=2)
    h0 = env.state.hold[:, 0].copy()
    for k, _, _, _, _ in rollout(p, env, seed=2, steps=50):
        if k == 48:
            assert np.all(env.state.hold[:, 0].sum(1) > 0.01 * h0.sum(1))
    # flat, but for names whose last sale locked limit-down (a thin micro-cap can)
    left = env.state.hold[:, 0] > 1e-12 * h0
    assert np.all(env.state.limit_locked[left]) and left.sum() <= 2, np.argwhere(left)


def _volume_per_step(obs: np.ndarray, cfg) -> np.ndarray:
    # the documented estimate, written out again: today's volume / steps it covers (a day's first
    # step still shows the whole previous day)
    spd = cfg.steps_per_day
    tod = np.rint(obs[TIME_OF_DAY] * spd)
    return obs[VOLUME] * np.asarray(cfg.tier_adv) / (tod if tod > 0 else spd)


@pytest.mark.parametrize("seed", [0, 1])
def test_pov_sells_within_its_participation_cap(seed):
    env = gym.make("DMAUnwind-v0", scenario="calm")
    obs, _ = env.reset(seed=seed)
    cfg = env.unwrapped.config
    eq0 = float(env.unwrapped.state.equity0[0, 0])
    p = agents.make("pov", env, rate=0.1, book_equity=eq0)
    binding = 0
    for k in range(30):
        act, _ = p.predict(obs)
        cap = 0.1 * _volume_per_step(obs, cfg)  # CNY bn per tier
        held = obs[EXPOSURE] * eq0
        intended = np.minimum(cap, cfg.max_trade_frac * held)
        binding += int(np.any(cap < cfg.max_trade_frac * held))
        obs, _, term, _, info = env.step(act)
        sold = info["sold_value"]
        if k == 0:
            assert sold == 0.0, "nothing traded yet, so the cap is 0"
            continue
        # fills at the step's prices (after impact) vs the cap at the observed prices: within a few %
        assert sold <= 1.05 * cap.sum(), f"step {k}: sold {sold:.4f} > cap {cap.sum():.4f}"
        assert 0.95 * intended.sum() <= sold <= 1.05 * intended.sum(), f"step {k}"
        assert not term
    assert binding >= 25, "the participation cap should bind, not max_trade_frac"


def test_margin_trigger_sells_nothing_before_the_first_flag():
    env = venv("feb2024", n=6, terminate_on_liquidation=False)
    p = agents.make("margin_trigger", env)
    seen = np.zeros(env.num_envs, bool)
    first = np.full(env.num_envs, -1)
    for k, obs, _, _, info in rollout(p, env, seed=0):
        flag = (obs[:, 6] > 0.5) | (obs[:, 8] > 0.5)  # margin_call, warning
        np.testing.assert_array_equal(p.triggered(obs), flag)
        now = flag & ~seen
        first[now] = k
        own = ~info["forced_liquidation"]
        assert np.all(info["sold_value"][~seen & ~flag & own] == 0.0), f"step {k}: sold before any flag"
        assert np.all(info["sold_value"][now & own] > 0.0), f"step {k}: did not sell on its first flag"
        seen |= flag
    assert (first >= 2).sum() >= 3, f"seed should give late first warnings, got {first}"


def test_margin_trigger_on_calls_ignores_warnings():
    env = venv("feb2024", terminate_on_liquidation=False)
    p = agents.make("margin_trigger", env, trigger="call")
    warned = 0
    for k, obs, act, _, info in rollout(p, env, seed=0):
        call = obs[:, 6] > 0.5
        only_warned = (obs[:, 8] > 0.5) & ~call
        warned += int(only_warned.sum())
        assert np.all(act[only_warned | ~call] == 0.0)
        own = ~info["forced_liquidation"]
        assert np.all(info["sold_value"][~call & own] == 0.0)
    assert warned > 0


def test_rotate_large_moves_small_caps_into_csi300():
    env = venv("calm")
    tier = env.market.universe.tier
    held = {t: tier == j for t, j in TIER.items()}
    env.reset(seed=5)
    h0, f0 = env.state.hold[:, 0].copy(), env.state.fut[:, 0].copy()
    mr_rotate = []
    for k, obs, _, nxt, info in rollout(agents.make("rotate_large", env), env, seed=5, steps=6):
        mr_rotate.append(info["margin_ratio"])
    h = env.state.hold[:, 0]
    assert np.all(h[:, held["CSI300"]].sum(1) > 1.5 * h0[:, held["CSI300"]].sum(1))
    for t in ("CSI2000", "MICRO"):  # 0.75^6 of the shares left
        np.testing.assert_allclose(h[:, held[t]].sum(1) / h0[:, held[t]].sum(1), 0.75**6, rtol=1e-9)
    for t in ("CSI500", "CSI1000"):
        np.testing.assert_array_equal(h[:, held[t]], h0[:, held[t]])
    # rotation sends no futures orders: the shorts move only where the neutral mandate buys back
    # what exceeds max_hedge_ratio x the (shrunk) long book (at the step's prices before the basis
    # moves: within 1% at the close)
    st = env.state
    f = st.fut[:, 0]
    assert np.all(f <= 0.0) and np.all(f >= f0 - 1e-12)
    short = -(f * st.fut_price).sum(1)
    assert np.all(short <= env.config.max_hedge_ratio * st.gross[:, 0] * 1.01)
    moved = np.any(f != f0, axis=1)
    np.testing.assert_allclose(short[moved], env.config.max_hedge_ratio * st.gross[moved, 0], rtol=0.05)
    mr_hold = [info["margin_ratio"] for *_, info in rollout(agents.make("hold", env), env, seed=5, steps=6)]
    assert np.all(mr_rotate[-1] > mr_hold[-1] + 0.05), "rotation should raise the margin ratio"


def test_deleverage_target_reaches_its_target_and_keeps_the_hedge():
    env = venv("calm")
    p = agents.make("deleverage_target", env, target=3.0)
    obs, _ = env.reset(seed=0)
    lev0 = obs[:, 1] * 10
    hedge0 = -obs[:, FUTURES].sum(1) / obs[:, EXPOSURE].sum(1)
    assert np.all(lev0 > 3.4)
    for k, _, _, nxt, info in rollout(p, env, seed=0, steps=12):
        if k == 0:
            assert np.all(info["sold_value"] > 0.0)
    np.testing.assert_allclose(info["leverage"], 3.0, atol=0.15)
    hedge = -nxt[:, FUTURES].sum(1) / nxt[:, EXPOSURE].sum(1)
    np.testing.assert_allclose(hedge, hedge0, rtol=0.03)

    p = agents.make("deleverage_target", env, target=8.0)
    for _, _, act, _, info in rollout(p, env, seed=0, steps=12):
        assert np.all(act == 0.0) and np.all(info["sold_value"] == 0.0)


# ---- the Almgren-Chriss benchmark -------------------------------------------------------------


@pytest.mark.parametrize("lam", [1e-6, 2e-6, 0.0])
def test_ac_baseline_realises_the_closed_form_holdings(lam):
    env = venv("almgren_chriss", risk_aversion=lam)
    p = agents.make("almgren_chriss", env)
    sol = almgren_chriss_from_config(env.config)
    assert sol.expected_cost == p.solution.expected_cost
    for k, *_ in rollout(p, env, seed=0):
        x = env.state.hold[:, 0, 0]
        if k + 1 < env.config.steps:
            np.testing.assert_allclose(x, sol.holdings[k + 1], rtol=1e-6, atol=0, err_msg=f"x_{k + 1}")
        else:
            assert np.all(x == 0.0)


def test_twap_and_dump_in_the_ac_scenario():
    env = venv("almgren_chriss")
    twap = almgren_chriss_from_config(env.config.replace(risk_aversion=0.0))
    for k, *_ in rollout(agents.make("twap", env), env, seed=0):
        np.testing.assert_allclose(env.state.hold[:, 0, 0], twap.holdings[k + 1], rtol=1e-6, atol=1e-6)
    c = env.config
    *_, info = list(rollout(agents.make("dump", env), env, seed=0))[-1]
    one_shot = c.epsilon * c.initial_shares + c.eta * c.initial_shares**2 / c.tau  # sold at once: no risk
    np.testing.assert_allclose(info["implementation_shortfall"], one_shot, rtol=1e-9)


def test_ac_baseline_shortfall_matches_the_closed_form_over_200_seeds():
    env = venv("almgren_chriss", risk_aversion=1e-6)
    p = agents.make("almgren_chriss", env)
    sol = p.solution
    shortfall = []
    for j in range(200 // N_ENVS):
        *_, info = list(rollout(p, env, seed=1000 + N_ENVS * j))[-1]
        assert info["_implementation_shortfall"].all()
        shortfall.append(info["implementation_shortfall"])
    x = np.concatenate(shortfall)
    n = x.size
    se = sol.std / math.sqrt(n)
    assert abs(x.mean() - sol.expected_cost) < 3 * se, (x.mean(), sol.expected_cost, se)
    # the sample sd of n normals has sd ~ sigma / sqrt(2(n - 1))
    assert abs(x.std(ddof=1) - sol.std) < 3 * sol.std / math.sqrt(2 * (n - 1)), (x.std(ddof=1), sol.std)
    # and the test tells the AC schedule from TWAP (E = 662,500): ~6 standard errors apart
    assert abs(sol.expected_cost - 662_500) > 5 * se
