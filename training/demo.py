"""Main demo: the feb2024 scenario with its heuristic population, day by day, next to calm."""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

import dma_gym
from dma_gym.config import FUTURES_NAMES, TIER_NAMES
from dma_gym.core.layout import State
from dma_gym.market import Market


@dataclass
class Args:
    scenario: str = "feb2024"
    """scenario to replay"""
    compare: str = "calm"
    """second scenario summarised after the table ('' for none)"""
    seed: int = 0
    """episode seed (books, peer types, shocks)"""
    seeds: int = 32
    """seeds in the batched summary (0 to skip it)"""


def run_episode(m: Market, seed: int, on_close=None) -> State:
    """One episode of a fully heuristic market (no learner); calls ``on_close(state)`` daily."""
    buf, s, dims = m.allocate(1)
    rng = np.random.default_rng(seed)
    m.reset_env(buf, dims, 0, rng, np.zeros(m.n_managers, bool))
    z = np.zeros((1, m.n_shocks))
    act = np.zeros((1, m.n_managers, m.n_actions))
    last_day = 0
    while not s.done[0]:
        m.draw_shocks(rng, z[0])
        m.step(buf, dims, act, z)
        if s.day[0] != last_day:
            last_day = int(s.day[0])
            if on_close is not None:
                on_close(s)
    return s


def batch_drawdowns(m: Market, n: int, passive_dma: bool = False) -> tuple[np.ndarray, State]:
    """Final tier drawdowns (n, tiers) over seeds 0..n-1 in one batched run. With ``passive_dma``
    the DMA books are frozen (controlled, zero actions): the same-shock counterfactual."""
    buf, s, dims = m.allocate(n)
    rngs = [np.random.default_rng(seed) for seed in range(n)]
    for e in range(n):
        m.reset_env(buf, dims, e, rngs[e], np.full(m.n_managers, passive_dma))
    z = np.zeros((n, m.n_shocks))
    act = np.zeros((n, m.n_managers, m.n_actions))
    while not s.done.all():
        for e in range(n):
            m.draw_shocks(rngs[e], z[e])
        m.step(buf, dims, act, z)
    return 1.0 - s.tier_level, s


def summary(args: Args) -> None:
    """Means over seeds: the scenario, its passive-DMA counterfactual, and the comparison."""
    cfg = dma_gym.scenarios.get(args.scenario)
    rows = [(args.scenario, batch_drawdowns(Market(cfg), args.seeds))]
    frozen = cfg.replace(margin_liquidation=0.0, margin_call=1e-6, margin_warning=1e-6)
    rows.append((f"{args.scenario}, DMA passive", batch_drawdowns(Market(frozen), args.seeds, True)))
    if args.compare:
        rows.append((args.compare, batch_drawdowns(Market(dma_gym.scenarios.get(args.compare)), args.seeds)))
    print(f"\nmean over {args.seeds} seeds (same shocks per seed across rows): drawdown from start (%)")
    print(f"{'':24} " + " ".join(f"{t:>8}" for t in TIER_NAMES) + "  peak-LD%  liquidated%")
    for name, (dd, s) in rows:
        print(f"{name:24} " + " ".join(f"{d:8.1f}" for d in dd.mean(0) * 100)
              + f"  {s.ld_share_peak.mean() * 100:8.1f}  {s.liquidated.mean() * 100:11.1f}")
    amp = rows[0][1][0][:, 4].mean() / max(rows[1][1][0][:, 4].mean(), 1e-9)
    print(f"micro-cap amplification (scenario / passive-DMA counterfactual): {amp:.2f}x")


def main(args: Args) -> None:
    t0 = time.perf_counter()
    m = Market(dma_gym.scenarios.get(args.scenario))
    prev = {"tier": np.ones(5), "calls": 0}
    head = (f"{'day':>3} | " + " ".join(f"{t:>8}" for t in TIER_NAMES) + " | "
            + " ".join(f"{f + ' ann':>7}" for f in FUTURES_NAMES) + " | ld%   | calls liq | reg")
    print(f"scenario {args.scenario!r}, seed {args.seed}: daily tier returns (%), annualised basis (%),"
          " share of names closing limit-down, margin calls outstanding, managers liquidated")
    print(head)
    print("-" * len(head))

    def on_close(s: State) -> None:
        ret = (s.tier_level[0] / prev["tier"] - 1.0) * 100
        prev["tier"] = s.tier_level[0].copy()
        ann = s.basis[0] * 242.0 / np.maximum(s.days_left[0], 1.0) * 100
        print(f"{int(s.day[0]):>3} | " + " ".join(f"{r:>8.2f}" for r in ret) + " | "
              + " ".join(f"{b:>7.1f}" for b in ann)
              + f" | {s.ld_share_close[0] * 100:5.1f} | {int(s.call_active[0].sum()):>5} {int(s.liquidated[0].sum()):>3}"
              + f" | {'on' if s.reg_active[0] else '-'}")

    s = run_episode(m, args.seed, on_close)
    dd = (1 - s.tier_level[0]) * 100
    print("-" * len(head))
    print("episode drawdown from start (%): " + ", ".join(f"{t} {d:.1f}" for t, d in zip(TIER_NAMES, dd)))
    print(f"peak limit-down share {s.ld_share_peak[0] * 100:.1f}%, managers liquidated "
          f"{int(s.liquidated[0].sum())}/{m.n_managers}, national-team budget used "
          f"{m.config.nt_budget - s.nt_budget[0]:.1f} bn")
    if args.compare:
        c = run_episode(Market(dma_gym.scenarios.get(args.compare)), args.seed)
        cdd = (1 - c.tier_level[0]) * 100
        print(f"\n{args.compare!r} with the same seed, drawdown (%): "
              + ", ".join(f"{t} {d:.1f}" for t, d in zip(TIER_NAMES, cdd))
              + f"; liquidated {int(c.liquidated[0].sum())}/{m.n_managers}")
    if args.seeds > 0:
        summary(args)
    print(f"\n(wall time {time.perf_counter() - t0:.1f}s incl. numba compilation on first run)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    for f, v in Args.__dataclass_fields__.items():
        p.add_argument(f"--{f}", type=type(v.default), default=v.default)
    main(Args(**vars(p.parse_args())))
