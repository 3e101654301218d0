"""Training quality: PPO against the Almgren-Chriss closed form and against the baselines.

    python bench/train_quality.py ac [--out runs/quality_ac]
    python bench/train_quality.py dma [--timesteps 5000000] [--seeds 0-2] [--episodes 200] [--out runs/quality_dma]
        [--train-kwargs reward_crra=2] [--max-liquidation 0.05 [--lagrange-target 0.02] [--lagrange-lr 0.02]]
    python bench/train_quality.py report --out runs/quality_dma [--seeds 0-2]  # the dma table of trained seeds
    python bench/train_quality.py react --out runs/quality_dma [--seeds 0-2]   # the state reactions again

Not part of CI (minutes to hours on 2 cores); every figure it prints comes from the run.

``ac``: for each parameter set below, ``python -m training.train --algo ppo --scenario
almgren_chriss`` with that set's ``--env-kwargs`` and step budget, then the best model over
``AC_EPISODES`` common-seed episodes: E[IS] + lambda Var[IS] (price units) from the episodes'
implementation shortfalls, against the closed-form static optimum (``agents.closed_form``) and
against the ``almgren_chriss`` baseline (that optimum played in the simulator, on the same seeds).
The gap's standard error is the paired (same seeds) one. A negative gap that exceeds twice its
standard error is a significant improvement on the static optimum, which an adaptive policy can
achieve (Almgren and Lorenz 2007): the script then also reports the correlation between the
policy's sales and the price move before them (an adaptive seller sells more after a rise).

``dma``: PPO on ``feb2024`` for each seed (one ``training.train`` run each, one process), then
``training.evaluate`` on ``--episodes`` held-out seeds (0 ..) with every baseline; prints the table,
the mean and 95% CI across training seeds, and draws ``schedule.png``: mean exposure per tier and
futures over the episode, with a 10-90% band over episodes, for the trained policies and the
baselines, then each seed's actions in given states (margin call, warning line, limit-down queues,
a deep IM discount) against the other steps.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import agents  # noqa: E402
import dma_gym  # noqa: E402
from agents.closed_form import almgren_chriss_from_config, schedule_cost  # noqa: E402
from dma_gym.envs.vector_env import DMAUnwindVectorEnv  # noqa: E402
from training import evaluate as ev  # noqa: E402
from training import train as tr  # noqa: E402

AC_EPISODES = 4000
AC_SEED = 77_000
# name: (config overrides, PPO env-steps). The AC-2000 example, then two sets of 20 and more steps.
AC_SETS = {
    "ac2000 (5 steps)": ({}, 500_000),
    "20 steps, T=5 d": ({"steps": 20}, 600_000),
    "40 steps, T=10 d, lambda=1e-5": ({"steps": 40, "horizon_days": 10.0, "risk_aversion": 1e-5}, 1_500_000),
}


def _kwargs_list(overrides: dict) -> list[str]:
    return [f"{k}={v}" for k, v in overrides.items()]


def ac_rollout(policy, cfg_overrides: dict, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """``episodes`` AC episodes (env i seeded seed + i): per episode the implementation shortfall,
    the summed risk term and, per step, the shares sold and the price move before the sale."""
    env = DMAUnwindVectorEnv(episodes, "almgren_chriss", **cfg_overrides)
    cfg = env.config
    obs, _ = env.reset(seed=seed)
    s = env.engine.state
    N = cfg.steps
    sold = np.zeros((episodes, N))
    move = np.zeros((episodes, N))
    x = np.zeros((episodes, N + 1))
    x[:, 0] = s.hold[:, 0, 0]
    is_ = np.full(episodes, np.nan)
    for k in range(N):
        move[:, k] = obs[:, 2]  # (S - S0) / (sigma sqrt T) before the step
        act, _ = policy.predict(obs, deterministic=True)
        obs, _, term, trunc, info = env.step(act)
        x[:, k + 1] = s.hold[:, 0, 0] if k < N - 1 else 0.0
        sold[:, k] = x[:, k] - x[:, k + 1]
        if k == N - 1:
            is_ = np.asarray(info["implementation_shortfall"], float)
    risk = cfg.sigma ** 2 * cfg.tau * (x[:, 1:] ** 2).sum(1)
    return {"is": is_, "risk": risk, "sold": sold, "move": move}


def ac_part(out: Path) -> None:
    rows = []
    for name, (ov, steps) in AC_SETS.items():
        cfg = dma_gym.scenarios.get("almgren_chriss", **ov)
        sol = almgren_chriss_from_config(cfg)
        lam = cfg.risk_aversion
        run = out / name.split(" ")[0].replace(",", "")
        t0 = time.perf_counter()
        tr.main(tr.Args(algo="ppo", scenario="almgren_chriss", env_kwargs=_kwargs_list(ov), timesteps=steps,
                        num_envs=8, seed=0, out=str(run), eval_freq=max(steps // 10, 10_000), eval_episodes=256,
                        checkpoint_freq=0, final_episodes=0, progress=False))
        minutes = (time.perf_counter() - t0) / 60.0
        ppo = ac_rollout(agents.load(run / "best_model.zip"), ov, AC_EPISODES, AC_SEED)
        base = ac_rollout(agents.make("almgren_chriss", DMAUnwindVectorEnv(1, "almgren_chriss", **ov)), ov,
                          AC_EPISODES, AC_SEED)

        def objective(r):  # E[IS] + lambda Var[IS] from the episodes
            return float(r["is"].mean() + lam * r["is"].var(ddof=1))

        obj_ppo, obj_base = objective(ppo), objective(base)
        # paired per-episode objective terms (IS + lambda (IS - mean)^2): se of the difference
        d = (ppo["is"] + lam * (ppo["is"] - ppo["is"].mean()) ** 2) - (base["is"] + lam * (base["is"] - base["is"].mean()) ** 2)
        se = float(d.std(ddof=1) / math.sqrt(d.size))
        gap = obj_ppo / sol.objective - 1.0
        gap_se = se / sol.objective
        # how: the share of the position sold at each step against the price move seen before it
        # (an adaptive seller; Almgren and Lorenz 2007), and the mean schedule played statically
        x = cfg.initial_shares - np.cumsum(ppo["sold"], 1)
        prev = np.concatenate([np.full((x.shape[0], 1), cfg.initial_shares), x[:, :-1]], 1)
        frac = ppo["sold"] / np.maximum(prev, 1e-12)
        ks = range(1, min(cfg.steps - 1, 11))
        adaptive = float(np.mean([np.corrcoef(frac[:, k], ppo["move"][:, k])[0, 1] for k in ks]))
        xm = np.concatenate([[cfg.initial_shares], x.mean(0)])
        xm[-1] = 0.0
        e_s, v_s = schedule_cost(xm, sigma=cfg.sigma, tau=cfg.tau, epsilon=cfg.epsilon, eta=cfg.eta, gamma=cfg.gamma)
        rows.append({"set": name, "steps": steps, "minutes": minutes, "closed_form": sol.objective,
                     "baseline_in_sim": obj_base, "ppo": obj_ppo, "gap_pct": 100 * gap, "gap_se_pct": 100 * gap_se,
                     "sales_vs_price_move_corr": adaptive,
                     "mean_schedule_static_gap_pct": 100 * ((e_s + lam * v_s) / sol.objective - 1.0),
                     "ppo_mean_is": float(ppo["is"].mean()), "ppo_var_is": float(ppo["is"].var(ddof=1)),
                     "closed_form_mean_is": sol.expected_cost, "closed_form_var_is": sol.variance})
    print(f"\nAlmgren-Chriss: E[IS] + lambda Var[IS] over {AC_EPISODES} common-seed episodes (price units)")
    print(f"{'set':34} {'steps':>8} {'min':>5} {'closed form':>12} {'AC in sim':>12} {'PPO':>12} {'gap %':>7} "
          f"{'+-se':>6} {'corr':>6} {'static %':>8}")
    for r in rows:
        print(f"{r['set']:34} {r['steps']:8d} {r['minutes']:5.1f} {r['closed_form']:12.1f} {r['baseline_in_sim']:12.1f} "
              f"{r['ppo']:12.1f} {r['gap_pct']:7.2f} {r['gap_se_pct']:6.2f} {r['sales_vs_price_move_corr']:6.2f} "
              f"{r['mean_schedule_static_gap_pct']:8.2f}")
    print("gap: PPO's E + lambda Var over the closed form's (se: paired with the closed-form schedule played on the "
          "same seeds); corr: mean over steps 1-10 of the correlation between the share of the position sold and "
          "the price move seen before it (0 for a static schedule); static: the gap of PPO's mean schedule played "
          "as a static one. Significantly below 0 with corr > 0 and static >= 0: the gain is adaptivity "
          "(Almgren and Lorenz 2007), not a better static schedule.")
    for r in rows:
        print(f"  {r['set']}: E[IS] {r['ppo_mean_is']:.4g} vs {r['closed_form_mean_is']:.4g}, "
              f"Var[IS] {r['ppo_var_is']:.4g} vs {r['closed_form_var_is']:.4g}")
    (out / "ac_quality.json").write_text(json.dumps(rows, indent=1))


def _schedule(policy, episodes: int, seed: int, norm=None) -> np.ndarray:
    """(steps, episodes, 8) exposures per tier and futures notionals / initial equity."""
    from dma_gym.core.enums import O
    env = DMAUnwindVectorEnv(episodes, "feb2024")
    obs, _ = env.reset(seed=seed)
    done = np.zeros(episodes, bool)
    path = []
    while not done.all():
        cols = np.concatenate([obs[:, O.EXPOSURE_CSI300:O.EXPOSURE_CSI300 + 5], obs[:, O.FUTURES_IF:O.FUTURES_IF + 3]], 1)
        path.append(np.where(done[:, None], np.nan, cols))
        act, _ = policy.predict(obs, deterministic=True)
        obs, _, term, trunc, _ = env.step(act)
        done |= term | trunc
    return np.array(path)


def dma_train(out: Path, timesteps: int, seeds: list[int], train_kwargs: list[str], config: str = "",
              **bound: float) -> None:
    """One ``training.train`` PPO run on ``feb2024`` per seed, in ``out/seed_<k>``; ``bound``:
    the ``max_liquidation`` / ``lagrange_*`` arguments."""
    for s in seeds:
        tr.main(tr.Args(algo="ppo", scenario="feb2024", timesteps=timesteps, num_envs=8, seed=s,
                        out=str(out / f"seed_{s}"), eval_freq=max(timesteps // 20, 20_000), eval_episodes=256,
                        checkpoint_freq=max(timesteps // 5, 50_000), final_episodes=0, progress=False,
                        env_kwargs=list(train_kwargs), config=config, **bound))


def dma_report(out: Path, seeds: list[int], episodes: int) -> None:
    """The seeds trained in ``out`` against every baseline on ``episodes`` held-out episodes: the
    table, the mean and 95% CI across seeds, the schedule plot and the reactions."""
    done = {s: json.loads((out / f"seed_{s}" / "results.json").read_text()) for s in seeds}
    runs = {s: r["train_seconds"] / 60.0 for s, r in done.items()}
    timesteps = done[seeds[0]]["timesteps"]
    policies = ",".join([tr.MARKET_BASELINES] + [f"ppo{s}:{out / f'seed_{s}' / 'best_model.zip'}" for s in seeds])
    results = ev.evaluate(ev.Args(scenario="feb2024", policies=policies, episodes=episodes, seed=0, out="",
                                  progress=False))
    print(ev.format_table(results, "feb2024", 0))
    ppo = [r for r in results if r.name.startswith("ppo")]
    nav = tr._mean_ci([float(r.final_nav.mean()) for r in ppo])
    liq = tr._mean_ci([float(r.liquidated.mean()) for r in ppo])
    base = [r for r in results if not r.name.startswith("ppo")]
    best_nav = max(base, key=lambda r: r.final_nav.mean())
    best_liq = min(float(r.liquidated.mean()) for r in base)
    print(f"\nPPO over {len(seeds)} training seeds ({timesteps:,} steps each; minutes {[round(m, 1) for m in runs.values()]}): "
          f"final NAV {nav['mean']:.3f} +- {nav['ci95']:.3f}, liquidated {100 * liq['mean']:.1f}% +- {100 * liq['ci95']:.1f}%")
    print(f"best baseline NAV: {best_nav.name} {best_nav.final_nav.mean():.3f}; lowest baseline liquidation rate "
          f"{100 * best_liq:.1f}%")
    summary = {"timesteps": timesteps, "seeds": seeds, "minutes": runs, "episodes": episodes,
               "ppo_nav": nav, "ppo_liquidated": liq, "table": [r.summary() for r in results]}
    (out / "dma_quality.json").write_text(json.dumps(summary, indent=1))
    _plot(out, seeds, base, episodes=64)
    reactions(out, seeds, episodes)


def reactions(out: Path, seeds: list[int], episodes: int = 200) -> None:
    """How each trained seed acts in given states of ``episodes`` held-out episodes (its own
    broker-free steps): mean actions under a margin call and below the warning line, micro-cap
    sales when over 20% of micro-cap names are limit-down, futures actions when the IM discount is
    deeper than 30% annualised, each against the other steps."""
    from dma_gym.core.enums import O
    for s in seeds:
        pol = agents.load(out / f"seed_{s}" / "best_model.zip")
        env = DMAUnwindVectorEnv(episodes, "feb2024")
        obs, _ = env.reset(seed=0)
        done = np.zeros(episodes, bool)
        rows = []
        while not done.all():
            act, _ = pol.predict(obs)
            live = ~done & (obs[:, O.FORCED_LIQUIDATION] < 0.5)
            rows.append(np.c_[obs[live], act[live]])
            obs, _, term, trunc, _ = env.step(act)
            done |= term | trunc
        x = np.concatenate(rows)
        o, a = x[:, :-8], x[:, -8:]

        def cmp(mask, j):
            return f"{a[mask, j].mean():+.2f} (n={int(mask.sum())}) vs {a[~mask, j].mean():+.2f}"

        call = o[:, O.MARGIN_CALL] > 0.5
        warn = o[:, O.WARNING] > 0.5
        queue = (o[:, O.LIMIT_DOWN_MICRO] > 0.2) & (o[:, O.EXPOSURE_MICRO] > 0.05)
        deep = o[:, O.BASIS_ANN_IM] < -0.3
        print(f"seed {s} ({len(o)} steps): actions in a state vs the other steps")
        print(f"  margin call:        CSI300 buy {cmp(call, 0)}   IM {cmp(call, 7)}")
        print(f"  below warning line: CSI300 buy {cmp(warn, 0)}   IM {cmp(warn, 7)}")
        print(f"  micro limit-down > 20% (micro held): micro {cmp(queue, 4)}")
        print(f"  IM discount > 30% ann.: IM {cmp(deep, 7)}   IC {cmp(deep, 6)}")


def _plot(out: Path, seeds: list[int], base, episodes: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = ["CSI300", "CSI500", "CSI1000", "CSI2000", "MICRO", "IF", "IC", "IM"]
    env = DMAUnwindVectorEnv(1, "feb2024")
    paths = {f"ppo{s}": _schedule(agents.load(out / f"seed_{s}" / "best_model.zip"), episodes, 0) for s in seeds}
    for name in ("dump", "almgren_chriss", "rotate_large"):
        paths[name] = _schedule(agents.make(name, env), episodes, 0)
    fig, axes = plt.subplots(2, 4, figsize=(16, 7), sharex=True)
    for j, ax in enumerate(axes.ravel()):
        for name, p in paths.items():
            m = np.nanmean(p[:, :, j], 1)
            lo, hi = np.nanpercentile(p[:, :, j], 10, 1), np.nanpercentile(p[:, :, j], 90, 1)
            line, = ax.plot(m, label=name)
            ax.fill_between(np.arange(m.size), lo, hi, color=line.get_color(), alpha=0.12)
        ax.set_title(f"{labels[j]} / initial equity")
        ax.set_xlabel("step")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("feb2024: exposure per tier and futures over the episode (mean, 10-90% band over 64 episodes)")
    fig.tight_layout()
    fig.savefig(out / "schedule.png", dpi=90)
    print(f"wrote {out / 'schedule.png'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=["ac", "dma", "report", "react"])
    p.add_argument("--out", default="")
    p.add_argument("--timesteps", type=int, default=5_000_000)
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--config", default="", help="dma: hyperparameter YAML (default training/configs/ppo.yml)")
    p.add_argument("--max-liquidation", type=float, default=-1.0,
                   help="dma: train under this bound on the forced-liquidation rate (training.train --max-liquidation)")
    p.add_argument("--lagrange-lr", type=float, default=0.02, help="dma: the bound's multiplier step per episode end")
    p.add_argument("--lagrange-target", type=float, default=-1.0,
                   help="dma: the training episodes' liquidation rate the multiplier aims at (default: the bound)")
    p.add_argument("--train-kwargs", nargs="*", default=[], metavar="KEY=VALUE",
                   help="dma: env overrides of the training env only, e.g. reward_crra=2 (the evaluation "
                        "runs the default feb2024; overrides other than the reward's make it a cross-scenario test)")
    a = p.parse_args()
    out = Path(a.out or f"runs/quality_{a.part}")
    out.mkdir(parents=True, exist_ok=True)
    if a.part == "ac":
        ac_part(out)
    elif a.part == "react":  # reactions of the seeds trained by an earlier ``dma`` run in --out
        reactions(out, tr.parse_seeds(a.seeds), a.episodes)
    elif a.part == "report":  # the table of the seeds trained by earlier ``dma`` runs in --out
        dma_report(out, tr.parse_seeds(a.seeds), a.episodes)
    else:
        seeds = tr.parse_seeds(a.seeds)
        dma_train(out, a.timesteps, seeds, a.train_kwargs, a.config, max_liquidation=a.max_liquidation,
                  lagrange_lr=a.lagrange_lr, lagrange_target=a.lagrange_target)
        dma_report(out, seeds, a.episodes)


if __name__ == "__main__":
    main()
