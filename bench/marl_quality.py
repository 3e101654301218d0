"""Race to the exit, checked against theory: PPO sellers in the almgren_chriss game (risk neutral).

    python bench/marl_quality.py best-response [--n 2,5] [--timesteps 300000] [--seeds 0-2]
    python bench/marl_quality.py cooperative   [--n 2,5] [--timesteps 300000] [--seeds 0-2]
    python bench/marl_quality.py selfish       [--n 2,5] [--timesteps 300000] [--seeds 0-2] [--frame-stack 1,4]
    python bench/marl_quality.py plot --dirs runs/marl_best-response runs/marl_cooperative runs/marl_selfish \
        [--out docs/race_to_the_exit.png]

Not part of CI (minutes per run on 2 cores); every figure it prints comes from the run.

The game (``GAME``): N sellers of X shares over 10 steps of half a day, temporary impact
eta = 2.5e-6, permanent gamma = 4e-6 (gamma tau / eta = 0.8: the discrete Nash equilibrium sells
60% of the position by T/4 with N = 2, against TWAP's 20%), no price noise (sigma = 0: risk-neutral
equilibria do not depend on it, and the check is of the schedule), no risk aversion. Each run is
``python -m training.train_marl`` with these ``--env-kwargs``; the trained policy is then played
(deterministic) in ``EPISODES`` markets and its sellers' aggregate inventory compared with theory:

* ``best-response``: one PPO seller against N - 1 sellers fixed on the discrete Nash schedule
  (``--fixed 1-(N-1):nash``); the bar: its holdings within 5% of X of the Nash schedule at every
  step (the peers are exactly on it, so this is the aggregate's gap too);
* ``cooperative``: N PPO sellers sharing one policy, each paid the mean of the N rewards; the
  bar: aggregate inventory at T/4 within 10% (of N X) of the joint optimum, TWAP;
* ``selfish``: N PPO sellers sharing one policy, each paid its own reward, from scratch; reports
  the race index at T/4 ((inventory - TWAP) / (Nash - TWAP): 0 cooperative, 1 Nash) with a 95%
  t-interval over training seeds, for each ``--frame-stack`` (memory of the last K observations:
  recent prices and the seller's own holdings, hence its trades).

The best response is its best evaluation (``best_model.zip``: the highest own return against the
fixed peers). Learners sharing a market are played as training leaves them (``final_model.zip``):
the best mean return of a selfish population marks its most collusive moment, which it passes
through on the way to the race, and the script prints the race index at every evaluation.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.closed_form import nash_discrete  # noqa: E402
from agents.trained import load  # noqa: E402
from training import train as tr  # noqa: E402
from training import train_marl as tm  # noqa: E402

GAME = {"steps": 10, "horizon_days": 5.0, "eta": 2.5e-6, "gamma": 4e-6, "sigma": 0.0, "risk_aversion": 0.0}
EPISODES = 64


def _kwargs() -> list[str]:
    return [f"{k}={v}" for k, v in GAME.items()]


def one_run(part: str, n: int, seed: int, timesteps: int, stack: int, out: Path) -> dict:
    """Train one run and play it: its aggregate inventory path (share of N X) and the learner's."""
    reward = "cooperative" if part == "cooperative" else "selfish"
    fixed = f"1-{n - 1}:nash" if part == "best-response" else ""
    args = tm.Args(algo="ppo", scenario="almgren_chriss", n_agents=n, reward=reward, fixed=fixed, frame_stack=stack,
                   timesteps=timesteps, num_envs=8, seed=seed, out=str(out), env_kwargs=_kwargs(),
                   eval_freq=max(timesteps // 10, 10_000), eval_episodes=EPISODES, checkpoint_freq=0,
                   final_episodes=0, progress=False)
    t0 = time.perf_counter()
    tm.main(args)
    minutes = (time.perf_counter() - t0) / 60
    # a best response is the best of its evaluations against the fixed peers; learners that share a
    # market are judged where their training ends: the best mean return of a selfish population is
    # its most collusive moment, which its learners leave
    pol = load(out / ("best_model.zip" if part == "best-response" else "final_model.zip"))
    curve = [(e["timesteps"], e["race_index"]) for e in json.loads((out / "results.json").read_text())["evaluations"]]
    env_kwargs = tr.parse_env_kwargs(_kwargs())
    res = tm.play(pol, None, args, env_kwargs, EPISODES, 0, stack=stack)
    agg = np.nanmean(res["inventory"], axis=1)  # (M + 1,) all sellers / (N X)
    # the learner's own holdings: with fixed peers exactly on Nash, N * agg - (N - 1) * nash
    x = nash_discrete(n, 1.0, GAME["horizon_days"], GAME["steps"], GAME["eta"], GAME["gamma"])
    own = n * agg - (n - 1) * x if part == "best-response" else agg
    race = tm.race_index(args, env_kwargs, res["inventory"])
    return {"part": part, "n": n, "seed": seed, "frame_stack": stack, "minutes": minutes, "timesteps": timesteps,
            "aggregate": agg.tolist(), "own": own.tolist(), "nash": x.tolist(), **race,
            "mean_return": float(res["return"].mean()), "race_curve": curve}


def plot(dirs: list[str], path: Path) -> None:
    """Aggregate inventory (share of N X) by step: the runs of each part (mean over seeds, thin
    lines per seed) against the discrete Nash equilibrium and TWAP, one panel per N."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = [r for d in dirs for r in json.loads((Path(d) / "marl_quality.json").read_text())]
    ns = sorted({r["n"] for r in runs})
    fig, axes = plt.subplots(1, len(ns), figsize=(6 * len(ns), 4.2), squeeze=False)
    M = GAME["steps"]
    t = np.arange(M + 1)
    for ax, n in zip(axes[0], ns):
        x = nash_discrete(n, 1.0, GAME["horizon_days"], M, GAME["eta"], GAME["gamma"])
        ax.plot(t, x, "k--", lw=2, label="discrete Nash")
        ax.plot(t, 1 - t / M, "k:", lw=2, label="TWAP (joint optimum)")
        groups: dict[str, list] = {}
        for r in runs:
            if r["n"] == n:
                key = r["part"] + (f", memory {r['frame_stack']}" if r["frame_stack"] > 1 else "")
                groups.setdefault(key, []).append(np.array(r["aggregate"]))
        for key, paths in groups.items():
            line, = ax.plot(t, np.mean(paths, 0), lw=2, label=f"PPO {key} ({len(paths)} seeds)")
            for pth in paths:
                ax.plot(t, pth, color=line.get_color(), lw=0.6, alpha=0.5)
        ax.axvline(round(M / 4), color="grey", lw=0.5)
        ax.set_title(f"N = {n} sellers: aggregate inventory / (N X)")
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=["best-response", "cooperative", "selfish", "plot"])
    p.add_argument("--dirs", nargs="*", default=[])
    p.add_argument("--n", default="2,5")
    p.add_argument("--timesteps", type=int, default=300_000)
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--frame-stack", default="1")
    p.add_argument("--out", default="")
    a = p.parse_args()
    if a.part == "plot":
        plot(a.dirs, Path(a.out or "docs/race_to_the_exit.png"))
        return
    out = Path(a.out or f"runs/marl_{a.part}")
    out.mkdir(parents=True, exist_ok=True)
    M = GAME["steps"]
    k4 = int(round(M / 4))
    runs = []
    for n in (int(v) for v in a.n.split(",")):
        for stack in (int(v) for v in a.frame_stack.split(",")):
            for seed in tr.parse_seeds(a.seeds):
                r = one_run(a.part, n, seed, a.timesteps, stack, out / f"n{n}_k{stack}_seed{seed}")
                runs.append(r)
                nash, twap = np.array(r["nash"]), 1.0 - np.arange(M + 1) / M
                gap_nash = np.abs(np.array(r["own"]) - nash).max()
                gap_twap = abs(r["aggregate"][k4] - twap[k4])
                print(f"N={n} stack={stack} seed={seed} ({r['minutes']:.1f} min, {a.timesteps:,} steps): "
                      f"inventory at T/4 {r['inventory_t4']:.3f} (TWAP {r['twap_t4']:.3f}, Nash {r['nash_t4']:.3f}), "
                      f"race index {r['race_index']:+.3f}; max |own - Nash| {gap_nash:.3f} X; "
                      f"|aggregate - TWAP| at T/4 {gap_twap:.3f}", flush=True)
                print("   own/X by step:  " + " ".join(f"{v:.3f}" for v in r["own"]), flush=True)
                print("   Nash/X by step: " + " ".join(f"{v:.3f}" for v in nash), flush=True)
                print("   race index during training: " + " ".join(f"{t // 1000}k:{v:+.2f}" for t, v in r["race_curve"]),
                      flush=True)
            sel = [r for r in runs if r["n"] == n and r["frame_stack"] == stack]
            ci = tr._mean_ci([r["race_index"] for r in sel])
            inv = tr._mean_ci([r["inventory_t4"] for r in sel])
            print(f"== N={n} stack={stack}, {len(sel)} seeds: race index {ci['mean']:+.3f} +- {ci['ci95']:.3f}; "
                  f"inventory at T/4 {inv['mean']:.3f} +- {inv['ci95']:.3f}", flush=True)
    (out / "marl_quality.json").write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
