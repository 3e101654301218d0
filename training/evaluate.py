"""Evaluate policies on DMAUnwind-v0 over many seeded episodes, batched.

    python -m training.evaluate --scenario feb2024 --policies hold,dump,twap --episodes 64 --seed 0 --out runs/eval
    python -m training.evaluate --scenario feb2024 --policies ppo:runs/ppo/best_model.zip,twap,hold

``--policies`` names baselines (``agents.names()``) and saved models as ``label:path`` (read with
``agents.load``; the label names the row). Every model is loaded and checked before any episode
runs: its observation and action shapes must be the scenario's, and it must have been trained on
``--scenario`` with the run's ``--env-kwargs`` (config overrides of every episode) unless
``--cross-scenario`` is given (a model saved without its ``.meta.json`` has no known scenario and is
checked on shapes only).

Every policy plays the same episodes: episode j of every policy uses seed ``seed + j`` (same books,
peer types and exogenous shocks), so differences between rows come from the policies. Episodes run
``--num-envs`` at a time in one natively batched vector env (a saved model's actions may differ in
the last bits with ``--num-envs``: torch's batched kernels round differently). For each episode of
the learner (manager 0) it records:

* ``final_nav``: equity / initial equity when the episode ends (horizon or forced liquidation);
* ``liquidated``: the broker force-liquidated the book;
* ``shortfall_pct``: implementation shortfall in % of initial equity: the sum over fills of
  (execution price - price before the step) x signed shares, plus fees: what trading cost against
  the marks it traded from. In the ``almgren_chriss`` scenario it is the exact
  X S_0 - sum n_k S~_k of the closed form, in % of X S_0;
* ``completion``: value sold / value the manager (or the broker) tried to sell (NaN when it never
  tried): what sell restrictions, T+1 and limit-down queues let through;
* ``max_drawdown``: the largest fall of NAV from its running peak within the episode.

Prints a table per policy (mean, std and 5% quantile of final NAV; liquidation rate; mean shortfall;
mean completion; mean max drawdown) and writes into ``--out``: ``episodes.csv`` (one row per policy
and episode), ``summary.csv`` (the table), ``nav_distribution.png`` (final NAV per policy) and
``dashboard_<policy>.png`` (the first episode: tier prices, annualised basis, margin ratio and
positions over time).
"""
from __future__ import annotations

import csv
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import agents
import dma_gym
from dma_gym.envs.vector_env import DMAUnwindVectorEnv
from training.cli import parse_args, run

METRICS = ("final_nav", "liquidated", "shortfall_pct", "completion", "max_drawdown")


@dataclass
class Args:
    scenario: str = "feb2024"
    """scenario name (dma_gym.scenarios.names())"""
    policies: str = "hold,dump,twap,pov,almgren_chriss,margin_trigger,rotate_large,deleverage_target"
    """comma-separated baseline names (agents.names()) and saved models as label:path, e.g.
    ppo:runs/x/best_model.zip (the label names the row)"""
    episodes: int = 64
    """episodes per policy"""
    seed: int = 0
    """episode j uses seed seed + j"""
    num_envs: int = 64
    """episodes stepped together in one vector env"""
    out: str = "runs/eval"
    """output folder for CSV and PNG files ('' for none)"""
    progress: bool = True
    """progress bar on stderr"""
    cross_scenario: bool = False
    """allow label:path models trained on another scenario or with config overrides (their
    observation and action shapes must still match)"""
    env_kwargs: dict = field(default_factory=dict)
    """config overrides of every episode (CLI: --env-kwargs key=value ...), e.g. those a model was
    trained with"""


@dataclass
class PolicyResult:
    """Per-episode metrics of one policy (arrays of length ``episodes``) and its first episode's
    dashboard history."""

    name: str
    final_nav: np.ndarray
    liquidated: np.ndarray
    shortfall_pct: np.ndarray
    completion: np.ndarray
    max_drawdown: np.ndarray
    steps: np.ndarray
    history: list = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        nav = self.final_nav
        comp = self.completion[np.isfinite(self.completion)]
        return {
            "policy": self.name,
            "episodes": int(nav.size),
            "nav_mean": float(nav.mean()),
            "nav_std": float(nav.std(ddof=1)) if nav.size > 1 else 0.0,
            "nav_q05": float(np.quantile(nav, 0.05)),
            "liquidated_pct": float(self.liquidated.mean() * 100.0),
            "shortfall_pct": float(self.shortfall_pct.mean()),
            "completion_pct": float(comp.mean() * 100.0) if comp.size else float("nan"),
            "max_drawdown_pct": float(self.max_drawdown.mean() * 100.0),
        }


_LABEL = re.compile(r"[A-Za-z0-9_.-]+")  # a row name, and part of a file name (dashboard_<label>.png)


def _check(args: Args) -> list[tuple[str, str | None]]:
    """The rows of ``args.policies``: (name, None) for a baseline, (label, path) for a saved model."""
    if args.scenario not in dma_gym.scenarios.names():
        raise ValueError(f"unknown scenario {args.scenario!r}; known: {', '.join(dma_gym.scenarios.names())}")
    if not isinstance(args.env_kwargs, dict):
        raise ValueError(f"env_kwargs={args.env_kwargs!r}: must be a dict of config overrides")
    dma_gym.scenarios.get(args.scenario, **args.env_kwargs)  # an invalid override fails here, by name
    entries = [p.strip() for p in args.policies.split(",") if p.strip()]
    if not entries:
        raise ValueError("--policies is empty")
    rows: list[tuple[str, str | None]] = []
    unknown, paths = [], []
    for e in entries:
        if ":" in e:
            label, path = (x.strip() for x in e.split(":", 1))
            if not label:
                raise ValueError(f"--policies entry {e!r}: a model needs a label before the path, e.g. ppo{e}")
            if not _LABEL.fullmatch(label):
                raise ValueError(f"--policies entry {e!r}: label {label!r} may hold only letters, digits, '_', "
                                 "'.' and '-' (it names the row and the dashboard file)")
            if label in agents.names():
                raise ValueError(f"--policies entry {e!r}: label {label!r} is a baseline's name; pick another")
            if not path:
                raise ValueError(f"--policies entry {e!r}: no model path after the label")
            rows.append((label, path))
        elif e in agents.names():
            rows.append((e, None))
        elif "/" in e or e.endswith(".zip"):
            paths.append(e)
        else:
            unknown.append(e)
    if paths:
        raise ValueError(f"--policies entries {paths} look like model paths: give each a label, e.g. ppo:{paths[0]}")
    if unknown:
        raise ValueError(f"unknown policies {unknown}; known: {', '.join(agents.names())}; a saved model is "
                         "given as label:path (e.g. ppo:runs/x/best_model.zip)")
    seen = [name for name, _ in rows]
    dup = sorted({name for name in seen if seen.count(name) > 1})
    if dup:
        raise ValueError(f"--policies names {dup} more than once; every row needs its own name")
    for f in ("episodes", "num_envs"):
        v = getattr(args, f)
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"--{f.replace('_', '-')}={v!r}: must be a positive int")
    return rows


REWARD_FIELDS = ("reward_crra", "reward_nav_floor")  # what the learner is paid, not what the market does


def same_market(a: Any, b: Any) -> bool:
    """Configs equal up to the learner's reward (``REWARD_FIELDS``): a model trained with another
    utility of NAV plays the same market, so it is evaluated on it without ``--cross-scenario``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dma_gym.MarketConfig):
        a = a.replace(**{f: getattr(b, f) for f in REWARD_FIELDS})
    return a == b


def _load_models(rows: list[tuple[str, str | None]], args: Args) -> dict:
    """label -> ``agents.load``-ed policy for the rows with a path, each checked against ``--scenario``.

    Raises:
        ValueError: a file ``agents.load`` rejects; observation or action shapes other than the
            scenario's; a model trained on another scenario or other overrides (unless
            ``args.cross_scenario``). The messages name the model's and the evaluation's scenario.
    """
    models = {}
    if all(path is None for _, path in rows):
        return models
    probe = DMAUnwindVectorEnv(num_envs=1, scenario=args.scenario, **args.env_kwargs)
    config = probe.config
    spaces = {"observation": probe.single_observation_space, "action": probe.single_action_space}
    probe.close()
    here = f"--scenario {args.scenario!r}"
    for label, path in rows:
        if path is None:
            continue
        policy = agents.load(path, name=label)
        if policy.scenario is None:
            trained = "an unknown scenario (no .meta.json)"
        else:
            trained = f"scenario {policy.scenario!r}"
            if policy.env_kwargs:
                trained += f" with overrides {policy.env_kwargs}"
        for what, space in spaces.items():
            shape = getattr(policy, f"{what}_space").shape
            if shape != space.shape:
                raise ValueError(f"--policies {label}:{path}: the model (trained on {trained}) has {what}s of shape "
                                 f"{shape}, {here} has {space.shape}")
        if policy.config is not None and not same_market(policy.config, config) and not args.cross_scenario:
            ov = f"overrides {args.env_kwargs}" if args.env_kwargs else "no overrides"
            raise ValueError(f"--policies {label}:{path}: the model was trained on {trained}, the evaluation runs "
                             f"{here} with {ov}; pass the model's --env-kwargs, or --cross-scenario to evaluate "
                             "it there anyway")
        models[label] = policy
    return models


def run_policy(name: str, args: Args, bar=None, policy: agents.Policy | None = None) -> PolicyResult:
    """Play ``args.episodes`` episodes of baseline ``name``, or of ``policy`` (e.g. a loaded model)
    under the row name ``name``; returns its per-episode metrics."""
    from dma_gym.render import snapshot

    n_ep = args.episodes
    out = {k: np.full(n_ep, np.nan) for k in METRICS}
    steps = np.zeros(n_ep, np.int64)
    history: list = []
    E = min(args.num_envs, n_ep)
    venv = DMAUnwindVectorEnv(num_envs=E, scenario=args.scenario, **args.env_kwargs)
    if policy is None:
        policy = agents.make(name, venv)
    eng = venv.engine  # the Engine the vector env steps: its state is read after each step
    s = eng.state
    for start in range(0, n_ep, E):
        n = min(E, n_ep - start)
        obs, info = venv.reset(seed=[args.seed + start + i for i in range(E)])
        active = np.zeros(E, bool)
        active[:n] = True
        peak = np.ones(E)
        max_dd = np.zeros(E)
        cost = np.zeros(E)
        record = start == 0
        if record:
            history.append(snapshot(eng, 0, 0))
        while active.any():
            action, _ = policy.predict(obs, deterministic=True)
            p_pre = s.price.copy()
            obs, _, term, trunc, info = venv.step(action)
            # trading cost against the pre-step marks, learner = manager 0
            cost += np.einsum("en,en->e", s.fill[:, 0, :], s.exec_price - p_pre)
            nav = info["nav"]
            np.maximum(peak, nav, out=peak)
            np.maximum(max_dd, 1.0 - nav / peak, out=max_dd)
            if record and active[0]:
                history.append(snapshot(eng, 0, 0))
            for e in np.flatnonzero(active & (term | trunc)):
                j = start + e
                out["final_nav"][j] = nav[e]
                out["liquidated"][j] = float(info["forced_liquidation"][e])
                out["max_drawdown"][j] = max_dd[e]
                steps[j] = int(info["step"][e])
                if "implementation_shortfall" in info:  # the Almgren-Chriss benchmark
                    c = venv.config
                    out["shortfall_pct"][j] = info["implementation_shortfall"][e] / (c.initial_shares * c.initial_price) * 100
                else:
                    out["shortfall_pct"][j] = (cost[e] + s.cum_fee[e, 0]) / s.equity0[e, 0] * 100.0
                intended = s.intended_cum[e, 0]
                out["completion"][j] = s.sold_cum[e, 0] / intended if intended > 0.0 else np.nan
                active[e] = False
                if e == 0:
                    record = False
                if bar is not None:
                    bar.update(1)
    venv.close()
    return PolicyResult(name, out["final_nav"], out["liquidated"].astype(bool), out["shortfall_pct"],
                        out["completion"], out["max_drawdown"], steps, history)


def evaluate(args: Args) -> list[PolicyResult]:
    """Every policy of ``args.policies`` over the same seeded episodes (saved models are loaded and
    checked before any episode runs)."""
    rows = _check(args)
    models = _load_models(rows, args)
    bar = None
    if args.progress:
        from tqdm import tqdm
        bar = tqdm(total=len(rows) * args.episodes, unit="ep", file=sys.stderr, dynamic_ncols=True)
    results = []
    for name, _ in rows:
        if bar is not None:
            bar.set_description(name)
        results.append(run_policy(name, args, bar, models.get(name)))
    if bar is not None:
        bar.close()
    return results


def format_table(results: list[PolicyResult], scenario: str, seed: int) -> str:
    rows = [r.summary() for r in results]
    n = rows[0]["episodes"] if rows else 0
    head = (f"{'policy':<18} {'NAV mean':>8} {'NAV std':>8} {'NAV q05':>8} {'liquid.%':>8} "
            f"{'shortf.%':>8} {'compl.%':>8} {'maxDD%':>7}")
    lines = [f"scenario {scenario!r}, {n} episodes per policy (seeds {seed}..{seed + n - 1}); "
             "final NAV = equity / initial equity", head, "-" * len(head)]
    for r in rows:
        comp = "-" if math.isnan(r["completion_pct"]) else f"{r['completion_pct']:8.1f}"
        lines.append(f"{r['policy']:<18} {r['nav_mean']:8.4f} {r['nav_std']:8.4f} {r['nav_q05']:8.4f} "
                     f"{r['liquidated_pct']:8.1f} {r['shortfall_pct']:8.3f} {comp:>8} {r['max_drawdown_pct']:7.2f}")
    return "\n".join(lines)


def write_outputs(results: list[PolicyResult], out: Path) -> list[Path]:
    """CSV files and PNG plots into ``out``; returns the written paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    p = out / "episodes.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["policy", "episode", *METRICS, "steps"])
        for r in results:
            for j in range(r.final_nav.size):
                w.writerow([r.name, j, r.final_nav[j], int(r.liquidated[j]), r.shortfall_pct[j],
                            r.completion[j], r.max_drawdown[j], int(r.steps[j])])
    written.append(p)
    p = out / "summary.csv"
    with p.open("w", newline="") as f:
        rows = [r.summary() for r in results]
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    written.append(p)

    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 1.1 * len(results) + 2), 4.2), dpi=100)
    ax = fig.subplots()
    ax.boxplot([r.final_nav for r in results], showmeans=True)
    ax.set_xticks(range(1, len(results) + 1), [r.name for r in results], rotation=25, fontsize=8)
    ax.set_ylabel("final NAV (equity / initial)")
    ax.set_title("final NAV per policy (box: quartiles, triangle: mean)")
    ax.axhline(1.0, color="grey", lw=0.7, ls=":")
    fig.tight_layout()
    p = out / "nav_distribution.png"
    fig.savefig(p)
    written.append(p)

    from dma_gym.render import dashboard
    for r in results:
        frame = dashboard(r.history)
        fig = Figure(figsize=(frame.shape[1] / 100, frame.shape[0] / 100), dpi=100)
        fig.figimage(frame)
        p = out / f"dashboard_{r.name}.png"
        fig.savefig(p)
        written.append(p)
    return written


def main(args: Args) -> list[PolicyResult]:
    t0 = time.perf_counter()
    results = evaluate(args)
    print(format_table(results, args.scenario, args.seed))
    if args.out:
        for p in write_outputs(results, Path(args.out)):
            print(f"wrote {p}")
    print(f"(wall time {time.perf_counter() - t0:.1f}s)")
    return results


def parse(argv: list[str] | None = None) -> Args:
    return parse_args(Args, "python -m training.evaluate", __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    run(Args, main, "python -m training.evaluate", __doc__.split("\n\n")[0])
