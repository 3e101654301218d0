"""Main demo: the feb2024 scenario with its heuristic population, day by day, next to calm."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

import dma_gym
from dma_gym import Engine
from dma_gym.config import FUTURES_NAMES, TIER_NAMES, MarketConfig
from dma_gym.core.layout import State
from dma_gym.market import Market
from training.cli import run


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


def heuristic_engine(market: Market | MarketConfig, n: int, passive_dma: bool = False) -> Engine:
    """An Engine of ``n`` envs of a fully heuristic market (no learner), not reset yet. With
    ``passive_dma`` every DMA book is controlled with zero actions (frozen): step it with
    :func:`zero_actions`."""
    cfg = market.config if isinstance(market, Market) else market
    return Engine(cfg, n, learners=range(cfg.n_managers) if passive_dma else ())


def zero_actions(engine: Engine) -> np.ndarray | None:
    """What ``engine.step`` takes in a heuristic run: None without learners, else zeros."""
    return np.zeros((engine.num_envs, engine.num_learners, engine.act_dim)) if engine.num_learners else None


def run_episode(m: Market | MarketConfig, seed: int, on_close=None, on_start=None) -> State:
    """One episode of a fully heuristic market (no learner), seeded with ``seed``; calls
    ``on_start(state)`` once reset (after any warm-up) and ``on_close(state)`` daily. Returns the
    final state (read-only views)."""
    eng = heuristic_engine(m, 1)
    eng.reset(seed=seed)
    s = eng.state
    if on_start is not None:
        on_start(s)
    last_day = 0
    while not s.done[0]:
        eng.step(None)
        if s.day[0] != last_day:
            last_day = int(s.day[0])
            if on_close is not None:
                on_close(s)
    return s


def batch_drawdowns(m: Market | MarketConfig, n: int, passive_dma: bool = False) -> tuple[np.ndarray, State]:
    """Final tier drawdowns (n, tiers) over seeds 0..n-1 (env i seeded with i) in one engine,
    year-to-date (tier levels start at 1 at the year's start, before any warm-up).
    With ``passive_dma`` the DMA books are frozen (controlled, zero actions): the same-shock
    counterfactual."""
    eng = heuristic_engine(m, n, passive_dma)
    eng.reset(seed=0)
    s = eng.state
    act = zero_actions(eng)
    while not s.done.all():
        eng.step(act)
    return 1.0 - s.tier_level, s


def summary(args: Args) -> None:
    """Means over seeds: the scenario, its passive-DMA counterfactual, and the comparison."""
    cfg = dma_gym.scenarios.get(args.scenario)
    rows = [(args.scenario, batch_drawdowns(cfg, args.seeds))]
    frozen = cfg.replace(margin_liquidation=0.0, margin_call=1e-6, margin_warning=1e-6)
    rows.append((f"{args.scenario}, DMA passive", batch_drawdowns(frozen, args.seeds, True)))
    if args.compare:
        rows.append((args.compare, batch_drawdowns(dma_gym.scenarios.get(args.compare), args.seeds)))
    print(f"\nmean over {args.seeds} seeds (same shocks per seed across rows): year-to-date drawdown (%)")
    print(f"{'':24} " + " ".join(f"{t:>8}" for t in TIER_NAMES) + "  peak-LD%  liquidated%")
    for name, (dd, s) in rows:
        print(f"{name:24} " + " ".join(f"{d:8.1f}" for d in dd.mean(0) * 100)
              + f"  {s.ld_share_peak.mean() * 100:8.1f}  {s.liquidated.mean() * 100:11.1f}")
    amp = rows[0][1][0][:, 4].mean() / max(rows[1][1][0][:, 4].mean(), 1e-9)
    print(f"micro-cap amplification (scenario / passive-DMA counterfactual): {amp:.2f}x")


def main(args: Args) -> None:
    t0 = time.perf_counter()
    cfg = dma_gym.scenarios.get(args.scenario)
    prev = {"tier": np.ones(5), "calls": 0}

    def on_start(s: State) -> None:
        prev["tier"] = s.tier_level[0].copy()
        if s.warmup[0] > 0:
            dd = (1 - s.tier_level[0]) * 100
            print(f"after a {int(s.warmup[0])}-session warm-up, year-to-date (%): "
                  + ", ".join(f"{t} {-d:.1f}" for t, d in zip(TIER_NAMES, dd)))
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

    s = run_episode(cfg, args.seed, on_close, on_start)
    dd = (1 - s.tier_level[0]) * 100
    print("-" * len(head))
    print("year-to-date drawdown at the end (%): " + ", ".join(f"{t} {d:.1f}" for t, d in zip(TIER_NAMES, dd)))
    print(f"peak limit-down share {s.ld_share_peak[0] * 100:.1f}%, managers liquidated "
          f"{int(s.liquidated[0].sum())}/{cfg.n_managers}, national-team budget used "
          f"{cfg.nt_budget - s.nt_budget[0]:.1f} bn")
    if args.compare:
        c = run_episode(dma_gym.scenarios.get(args.compare), args.seed)
        cdd = (1 - c.tier_level[0]) * 100
        print(f"\n{args.compare!r} with the same seed, drawdown (%): "
              + ", ".join(f"{t} {d:.1f}" for t, d in zip(TIER_NAMES, cdd))
              + f"; liquidated {int(c.liquidated[0].sum())}/{cfg.n_managers}")
    if args.seeds > 0:
        summary(args)
    print(f"\n(wall time {time.perf_counter() - t0:.1f}s incl. numba compilation on first run)")


if __name__ == "__main__":
    run(Args, main, "python -m training.demo", __doc__)
