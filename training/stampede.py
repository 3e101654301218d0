"""The stampede experiment: whole populations of DMA managers in the same seeded markets.

    python -m training.stampede --populations heuristic,selfish:runs/sf/best_model.zip,cooperative:runs/co/best_model.zip \\
        --episodes 64 --seed 0 --out runs/stampede [--env-kwargs warmup_days_range=[0,0]]

Each population drives all ``n_managers`` DMA managers of ``--scenario``: ``heuristic`` is the
scenario's own peer rules (the core's Cont-Schaanning, leverage-target and margin-herd managers);
a baseline name (``agents.names("market")``) or ``label:path`` to a saved model
(``training.train_marl``, trained with as many managers) makes every manager a learner playing
that policy on its own observation. Episode j of every population uses seed ``seed + j`` (same
books, same exogenous path), and each is paired with its same-seed counterfactual in which the DMA
books are frozen and no margin call or liquidation happens (``training.calibrate``'s passive
DMA). For each population it reports, with 95% confidence intervals over episodes:

* ``amplification``: micro-cap drawdown (year-to-date, at the end) / the counterfactual's
  (ratio of means; CI by the delta method on the paired episodes);
* ``micro_dd``: the micro-cap drawdown itself;
* ``liquidated``: share of the managers force-liquidated by their brokers;
* ``aggregate_nav``: the managers' total equity / their total initial equity at the end;

and each population's differences from the first one listed, episode by episode (same seeds),
with their 95% confidence intervals.

Every population starts from the same books at the episode's start: the default
``--env-kwargs warmup_days_range=[0,0]`` starts episodes at the year's start, because learners
take fresh books after a warm-up while the heuristic managers trade through it. Writes
``stampede.json`` and ``stampede.png`` (one episode per population: micro-cap level, the DMA books'
gross long, the IM basis, the count of liquidated managers) to ``--out``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

import agents
import dma_gym
from dma_gym import Engine
from dma_gym.market import TRADING_DAYS
from training.calibrate import passive_config
from training.cli import parse_args, run

MICRO = 4
IM = 2


@dataclass
class Args:
    scenario: str = "feb2024"
    """a market scenario (dma_gym.scenarios.names())"""
    populations: str = "heuristic,hold,dump,rotate_large"
    """comma-separated: heuristic, baseline names, label:path of models trained with train_marl"""
    episodes: int = 64
    """markets per population (seeds seed .. seed + episodes - 1)"""
    seed: int = 0
    """first seed"""
    env_kwargs: list = field(default_factory=lambda: ["warmup_days_range=[0,0]"])
    """config overrides, as key=value"""
    out: str = "runs/stampede"
    """output folder ('' for none)"""


def _population(spec: str, cfg) -> tuple[str, Any]:
    """(label, policy or None for the heuristic rules)."""
    if spec == "heuristic":
        return spec, None
    if ":" in spec:
        label, path = spec.split(":", 1)
        pol = agents.load(path, name=label)
        if pol.meta is not None and pol.scenario is not None:
            want = dma_gym.scenarios.get(pol.scenario, **pol.env_kwargs)
            if type(want) is not type(cfg):
                raise ValueError(f"{path}: trained on {pol.scenario!r}, not a market scenario")
        return label, pol
    if spec not in agents.names("market"):
        raise ValueError(f"unknown population {spec!r}: heuristic, one of {', '.join(agents.names('market'))}, "
                         "or label:path to a saved model")
    return spec, spec


def play(cfg, policy, episodes: int, seed: int, *, frozen: bool = False) -> dict[str, np.ndarray]:
    """One episode per market (seeds seed + j) with every DMA manager heuristic (``policy`` None),
    playing ``policy``, or frozen (``frozen``: zero actions; pass ``passive_config(cfg)``).
    Returns per-episode arrays and one path (episode 0) for the plot."""
    A = int(cfg.n_managers)
    learners = () if policy is None and not frozen else range(A)
    eng = Engine(cfg, episodes, learners=learners)
    eng.reset(seed=seed)
    s = eng.state
    if isinstance(policy, str):  # a baseline, built for one manager's spaces in this config
        act_space, obs_space = eng.single_spaces()
        policy = agents.make(policy, SimpleNamespace(config=cfg, single_observation_space=obs_space,
                                                     single_action_space=act_space))
    eq0 = s.equity0.sum(1).copy()
    act = np.zeros((episodes, A, eng.act_dim)) if learners else None
    path: dict[str, list] = {"micro": [], "gross": [], "im_basis": [], "liquidated": []}
    while not s.done.all():
        if policy is not None:
            a, _ = policy.predict(eng.obs.reshape(episodes * A, -1), deterministic=True)
            act[:] = np.asarray(a, np.float64).reshape(act.shape)
        eng.step(act)
        path["micro"].append(float(s.tier_level[0, MICRO]))
        path["gross"].append(float(s.gross[0].sum()))
        path["im_basis"].append(float(s.basis[0, IM] * TRADING_DAYS / max(s.days_left[0, IM], 1.0)))
        path["liquidated"].append(int(s.liquidated[0].sum()))
    return {"micro_dd": 1.0 - s.tier_level[:, MICRO].copy(), "liquidated": s.liquidated.mean(1),
            "aggregate_nav": s.equity.sum(1) / eq0, "path": {k: np.array(v) for k, v in path.items()}}


def _ci(x: np.ndarray) -> dict[str, float]:
    return {"mean": float(x.mean()), "ci95": float(1.96 * x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan}


def _ratio_ci(num: np.ndarray, den: np.ndarray) -> dict[str, float]:
    """Ratio of means with a delta-method 95% CI over paired episodes."""
    r = num.mean() / den.mean()
    resid = (num - r * den) / den.mean()
    return {"mean": float(r), "ci95": float(1.96 * resid.std(ddof=1) / math.sqrt(num.size)) if num.size > 1 else math.nan}


def stampede(args: Args) -> dict[str, Any]:
    from training.train import parse_env_kwargs
    kw = parse_env_kwargs(list(args.env_kwargs))
    cfg = dma_gym.scenarios.get(args.scenario, **kw)
    if not isinstance(cfg, dma_gym.MarketConfig):
        raise ValueError(f"--scenario {args.scenario!r}: the stampede needs a market scenario")
    if args.episodes < 2:
        raise ValueError(f"--episodes {args.episodes}: need at least 2 for confidence intervals")
    pops = [_population(p.strip(), cfg) for p in args.populations.split(",") if p.strip()]
    base = play(passive_config(cfg), None, args.episodes, args.seed, frozen=True)
    rows: dict[str, Any] = {}
    first: dict[str, np.ndarray] | None = None
    for label, pol in pops:
        r = play(cfg, pol, args.episodes, args.seed)
        first = first or r
        rows[label] = {"amplification": _ratio_ci(r["micro_dd"], base["micro_dd"]), "micro_dd": _ci(r["micro_dd"]),
                       "liquidated": _ci(r["liquidated"]), "aggregate_nav": _ci(r["aggregate_nav"]),
                       # against the first population, episode by episode (same seeds)
                       "paired": {k: _ci(r[k] - first[k]) for k in ("micro_dd", "liquidated", "aggregate_nav")},
                       "path": {k: v.tolist() for k, v in r["path"].items()}}
    res = {"scenario": args.scenario, "env_kwargs": kw, "episodes": args.episodes, "seed": args.seed,
           "n_managers": int(cfg.n_managers), "counterfactual_micro_dd": _ci(base["micro_dd"]), "rows": rows}
    print(format_table(res))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "stampede.json").write_text(json.dumps(res, indent=1))
        plot(res, out / "stampede.png")
    return res


def format_table(res: dict[str, Any]) -> str:
    lines = [f"{res['scenario']} {res['env_kwargs']}: {res['n_managers']} DMA managers per market, "
             f"{res['episodes']} markets (seeds {res['seed']}..); mean +- 95% CI over markets",
             f"{'population':<16}{'amplification':>18}{'micro-cap DD %':>18}{'liquidated %':>18}{'aggregate NAV':>18}"]
    for name, r in res["rows"].items():
        a, d, q, n = r["amplification"], r["micro_dd"], r["liquidated"], r["aggregate_nav"]
        lines.append(f"{name:<16}{a['mean']:>10.3f} +- {a['ci95']:.3f}{100 * d['mean']:>11.1f} +- {100 * d['ci95']:.1f}"
                     f"{100 * q['mean']:>11.1f} +- {100 * q['ci95']:.1f}{n['mean']:>11.3f} +- {n['ci95']:.3f}")
    c = res["counterfactual_micro_dd"]
    lines.append(f"(counterfactual, DMA books frozen and no margin: micro-cap drawdown {100 * c['mean']:.1f}%)")
    names = list(res["rows"])
    lines.append(f"paired against {names[0]} (same seeds), mean +- 95% CI of the difference:")
    for name in names[1:]:
        p = res["rows"][name]["paired"]
        d, q, n = p["micro_dd"], p["liquidated"], p["aggregate_nav"]
        lines.append(f"{name:<16}{'':>18}{100 * d['mean']:>+11.1f} +- {100 * d['ci95']:.1f}"
                     f"{100 * q['mean']:>+11.1f} +- {100 * q['ci95']:.1f}{n['mean']:>+11.3f} +- {n['ci95']:.3f}")
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    titles = {"micro": "micro-cap level (year start = 1)", "gross": "DMA gross long, CNY bn",
              "im_basis": "IM basis, annualised", "liquidated": "managers liquidated"}
    for ax, (key, title) in zip(axes, titles.items()):
        for name, r in res["rows"].items():
            ax.plot(r["path"][key], label=name)
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{res['scenario']}: one episode (seed {res['seed']}) per population")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(args: Args) -> dict[str, Any]:
    return stampede(args)


if __name__ == "__main__":
    run(Args, main, "python -m training.stampede", __doc__.split("\n\n")[0])
