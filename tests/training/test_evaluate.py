"""training.evaluate: metrics that mean what they say, files written, reproducible, bad input named."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.evaluate import Args, evaluate, format_table, parse, write_outputs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results():
    args = Args(scenario="feb2024", policies="hold,dump", episodes=6, seed=11, num_envs=3, out="", progress=False)
    return evaluate(args)


def test_same_seeds_same_results(results):
    again = evaluate(Args(scenario="feb2024", policies="hold,dump", episodes=6, seed=11, num_envs=6, out="",
                          progress=False))
    for a, b in zip(results, again):  # batching (3 vs 6 envs at a time) changes nothing
        for k in ("final_nav", "shortfall_pct", "max_drawdown", "steps"):
            np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=f"{a.name}.{k}")


def test_metrics_are_consistent(results):
    hold, dump = results
    for r in results:
        assert r.final_nav.shape == (6,) and np.all(np.isfinite(r.final_nav)) and np.all(r.final_nav > 0)
        assert np.all((r.max_drawdown >= 0) & (r.max_drawdown < 1))
        # a NAV that ends below 1 fell at least that far from its peak (which started at 1)
        assert np.all(r.max_drawdown >= 1.0 - r.final_nav - 1e-12)
        assert np.all((r.steps >= 1) & (r.steps <= 100))
    # hold never trades by itself: zero shortfall and nothing intended unless the broker took
    # over, whose fire sale then counts (the episode goes on until the sale is done)
    liq = hold.liquidated
    assert np.all(hold.shortfall_pct[~liq] == 0.0) and np.all(hold.shortfall_pct[liq] > 0.0)
    assert np.all(np.isnan(hold.completion[~liq]))
    # dump sells into impact: a positive shortfall, and most of what it tried was sold (an
    # episode that starts in a limit-down sell-off can sell little of it)
    assert np.all(dump.shortfall_pct > 0.0)
    assert np.all((dump.completion > 0.0) & (dump.completion <= 1.0 + 1e-12)) and dump.completion.mean() > 0.5


def test_table_and_files(results, tmp_path):
    table = format_table(results, "feb2024", 11)
    assert "hold" in table and "dump" in table and "seeds 11..16" in table
    paths = write_outputs(results, tmp_path)
    names = {p.name for p in paths}
    assert {"episodes.csv", "summary.csv", "nav_distribution.png", "dashboard_hold.png", "dashboard_dump.png"} <= names
    with (tmp_path / "episodes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    nav = [float(r["final_nav"]) for r in rows if r["policy"] == "dump"]
    np.testing.assert_allclose(nav, results[1].final_nav)
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_almgren_chriss_scenario_reports_the_exact_shortfall():
    """In the AC scenario the dump policy sells X at once: shortfall = eps X + eta X^2 / tau exactly."""
    import dma_gym
    c = dma_gym.scenarios.get("almgren_chriss")
    (r,) = evaluate(Args(scenario="almgren_chriss", policies="dump", episodes=3, seed=0, num_envs=3, out="",
                         progress=False))
    exact = (c.epsilon * c.initial_shares + c.eta * c.initial_shares ** 2 / c.tau) / (c.initial_shares * c.initial_price) * 100
    np.testing.assert_allclose(r.shortfall_pct, exact, rtol=1e-9)


@pytest.mark.parametrize("argv, needle", [
    (["--policies", "hold,nope"], "unknown policies ['nope']"),
    (["--scenario", "mars"], "unknown scenario 'mars'"),
    (["--episodes", "0"], "--episodes=0"),
    (["--policies", ","], "--policies is empty"),
])
def test_bad_arguments_are_named(argv, needle):
    with pytest.raises(ValueError, match=None) as exc:
        evaluate(parse(argv + ["--out", "", "--no-progress"]))
    assert needle in str(exc.value)


def test_cli_exit_code_and_message():
    r = subprocess.run([sys.executable, "-m", "training.evaluate", "--policies", "bogus", "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "unknown policies ['bogus']" in r.stderr
