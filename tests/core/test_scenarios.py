"""feb2024 crashes micro-caps far more than CSI300, from mechanisms, on every one of its stochastic
paths on average and on the 2024 path in every seed; calm does not; the stochastic paths differ by
episode, repeat by seed, and do not put the crash on a calendar day (docs/model.md §4.2)."""
import numpy as np
import pytest

from conftest import market
from dma_gym import Engine, scenarios
from training.calibrate import calendar_stats, run_batch
from training.demo import batch_drawdowns

SEEDS = 32  # per-seed outcomes are noisy (robust-yet-fragile); the bars are on means


def _final_drawdowns(m, passive_dma: bool = False) -> np.ndarray:
    """(seeds, tiers) year-to-date drawdown after a full episode, one env per seed (shared shocks)."""
    return batch_drawdowns(m, SEEDS, passive_dma)[0]


@pytest.fixture(scope="module")
def replay_dd():
    return _final_drawdowns(market("feb2024_replay"))


@pytest.fixture(scope="module")
def feb_dd():
    return _final_drawdowns(market("feb2024"))


def test_feb2024_micro_caps_crash_more_than_large_caps(replay_dd, feb_dd):
    gap = replay_dd[:, 4] - replay_dd[:, 0]
    assert gap.mean() > 0.12, f"micro minus CSI300 drawdown only {gap.mean():.3f}"
    assert (gap > 0.03).all(), f"some seed of the 2024 path without a small-cap crash: {gap}"
    # drawdowns rise monotonically down the size ladder on average, on both
    for dd in (replay_dd, feb_dd):
        assert np.all(np.diff(dd.mean(0)) > 0), dd.mean(0)
    # the stochastic stress crashes micro-caps on average, not in every episode
    gap = feb_dd[:, 4] - feb_dd[:, 0]
    assert gap.mean() > 0.25 and gap.min() < 0.1, (gap.mean(), gap.min())


def test_calm_has_no_small_cap_crash():
    dd = _final_drawdowns(market("calm"))
    assert dd[:, 4].mean() < 0.08, dd[:, 4]
    assert (dd[:, 4] - dd[:, 0]).mean() < 0.05


def test_feb2024_crash_is_amplified_by_dma_deleveraging(feb_dd):
    """Same seeds and exogenous shocks, DMA books passive (no rule trades, far-off margin lines):
    the micro-cap drawdown must be clearly smaller, so the crash is not a scripted path."""
    passive = _final_drawdowns(market("feb2024", margin_liquidation=0.0, margin_call=1e-6,
                                      margin_warning=1e-6), passive_dma=True)
    assert feb_dd[:, 4].mean() > passive[:, 4].mean() + 0.03, (feb_dd[:, 4].mean(), passive[:, 4].mean())


def _path(cfg, seeds):
    eng = Engine(cfg, len(seeds), learners=())
    eng.reset(seed=list(seeds))
    s = eng.state
    return (s.mkt_drift.copy(), s.size_drift.copy(), s.shock_day.copy(), s.shock_size.copy(), s.warmup.copy(),
            s.trend_start.copy(), s.tier_level.copy())


def test_stochastic_paths_differ_by_episode_and_repeat_by_seed():
    cfg = scenarios.get("feb2024")
    a = _path(cfg, range(16))
    b = _path(cfg, range(16))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)  # same seed, same path and same warmed-up market
    mkt, size, day, shock, warm, trend, level = a
    for x in (mkt, size, day, shock, warm, trend):
        assert np.unique(x).size >= 8, x  # each input varies across episodes
    lo, hi = cfg.shock_day_range
    assert day.min() >= lo and day.max() <= hi
    lo, hi = cfg.warmup_days_range
    assert warm.min() >= lo and warm.max() <= hi
    assert np.all(level[:, 4] != 1.0) and level[:, 4].mean() < 0.95  # warmed up: a YTD drawdown on average
    assert abs(size.mean() - cfg.size_drift) < 3 * cfg.size_drift_sd / 4
    # the replay draws nothing: every episode has the config's path and starts at the year's start
    mkt, size, day, shock, warm, trend, level = _path(scenarios.get("feb2024_replay"), range(16))
    assert np.all(day == 22) and np.all(warm == 0) and np.all(size == -0.004) and np.all(level == 1.0)


def test_the_calendar_does_not_tell_the_crash_day():
    """Daily micro-cap returns over 32 episodes: on the 2024 path the calendar day explains a large
    share of their variance (the crash is always on the same days); on the stochastic stress it
    explains little more than the sampling noise of 32 x 25 returns (about 24 / 800 = 3%)."""
    r2_stoch, worst_stoch, _ = calendar_stats(run_batch(scenarios.get("feb2024"), SEEDS))
    r2_replay, worst_replay, day = calendar_stats(run_batch(scenarios.get("feb2024_replay"), SEEDS))
    assert r2_replay > 0.1 and worst_replay < -0.05, (r2_replay, worst_replay, day)
    assert r2_stoch < 0.06, r2_stoch
    assert worst_stoch > worst_replay + 0.02, (worst_stoch, worst_replay)
