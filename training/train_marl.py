"""Train one policy shared by N managers of one market (parameter sharing), from one command.

    python -m training.train_marl --algo ppo --scenario almgren_chriss --n-agents 2 --reward selfish \\
        --timesteps 300000 --num-envs 8 --seed 0 --out runs/marl [--fixed 1:nash] [--frame-stack 4] \\
        [--env-kwargs steps=10 gamma=4e-6 risk_aversion=0] [--seeds 0-2] [--resume DIR]

Every manager of ``--num-envs`` markets is a row of one SB3 VecEnv
(``dma_gym.adapters.sb3.SB3MultiAgentVecEnv``: one batched core call per step for all of them),
so one policy learns from every manager's experience. ``--reward selfish`` pays each manager its
own change of log NAV (in ``almgren_chriss``: its own minus mean-variance shortfall);
``cooperative`` pays each the mean over the market's N managers. ``--fixed 1-4:nash`` drives
managers 1..4 by a baseline (``agents.names()``) instead of the learner: one learner against
fixed peers, e.g. a best response to the Nash schedule. ``--frame-stack K`` gives the policy the
last K observations (memory of recent prices and of its own trades).

Everything else is ``training.train``'s (its module docstring): hyperparameters from
``training/configs/marl_<algo>.yml`` when it exists (else ``<algo>.yml``), TensorBoard logs,
periodic evaluation on held-out markets (``500_000 + e x rows``) with best-model saving by the
mean return of the rows (their training objective; for selfish learners that is the evaluation
at which they did best together, their most collusive moment, not where training leaves them,
which is ``final_model.zip``), checkpoints, ``--resume``, ``--seeds``, config and versions in
``--out``. The final table plays the trained policy (selfish learners sharing a market: the final
model; else the best) and every baseline as a population, in the same ``--final-episodes`` seeded
markets. In ``almgren_chriss`` it also reports the sellers' aggregate inventory at T/4 as
a share of N X and where it lies between the cooperative optimum (TWAP: 0) and the discrete Nash
equilibrium (1): the race-to-the-exit index.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training import train as tr
from training.cli import run

MARKET_POPULATIONS = ("hold", "dump", "twap", "almgren_chriss", "rotate_large", "deleverage_target")
AC_POPULATIONS = ("twap", "nash", "almgren_chriss", "dump")


@dataclass
class Args(tr.Args):
    n_agents: int = 2
    """managers driven by actions in each market (the scenario's others follow their peer rules)"""
    reward: str = "selfish"
    """selfish (own log NAV / shortfall) or cooperative (the mean over the market's managers)"""
    fixed: str = ""
    """managers driven by a baseline instead of the learner, as INDICES:POLICY, e.g. 1-4:nash"""
    frame_stack: int = 1
    """the policy sees its last K observations (memory of prices and own trades); 1: the current one"""


# ---- managers, envs ------------------------------------------------------------------------
def parse_fixed(text: str, n_agents: int) -> dict[int, str]:
    """``"1-4:nash"`` -> {1: "nash", ..., 4: "nash"}; several groups separated by ``;``."""
    out: dict[int, str] = {}
    for group in filter(None, (g.strip() for g in text.split(";"))):
        if ":" not in group:
            raise ValueError(f"--fixed {group!r}: expected INDICES:POLICY, e.g. 1-4:nash")
        idx, name = group.split(":", 1)
        for i in tr.parse_seeds(idx):
            if not 0 <= i < n_agents or i in out:
                raise ValueError(f"--fixed {text!r}: manager {i} is not in [0, {n_agents}) or given twice")
            out[i] = name.strip()
    return out


def _venv(args: Args, env_kwargs: dict[str, Any], num_markets: int, fixed: dict[int, str] | None = None):
    """The rows of ``num_markets`` markets, with ``fixed`` (default: ``args.fixed``) managers
    driven by their baselines."""
    import agents
    from dma_gym.adapters.sb3 import SB3MultiAgentVecEnv

    names = parse_fixed(args.fixed, args.n_agents) if fixed is None else fixed
    if not names:
        return SB3MultiAgentVecEnv(num_markets, args.n_agents, args.scenario, reward=args.reward, **env_kwargs)
    probe = SB3MultiAgentVecEnv(1, args.n_agents, args.scenario, **env_kwargs)  # the config and spaces
    policies = {i: agents.make(n, probe) for i, n in names.items()}
    return SB3MultiAgentVecEnv(num_markets, args.n_agents, args.scenario, reward=args.reward, fixed=policies,
                               **env_kwargs)


def frame_stack(venv, k: int):
    """``venv`` under SB3's ``VecFrameStack(k)`` with the stacked observation space's bounds laid
    out as its observations are (frame after frame: SB3 repeats each feature's bounds k times in a
    row instead, which misplaces them when the features' bounds differ)."""
    from gymnasium import spaces
    from stable_baselines3.common.vec_env import VecFrameStack

    env = VecFrameStack(venv, k)
    box = venv.observation_space
    env.observation_space = spaces.Box(np.tile(box.low, k), np.tile(box.high, k), dtype=box.dtype)
    return env


def _check(args: Args) -> None:
    if args.reward not in ("selfish", "cooperative"):
        raise ValueError(f"--reward {args.reward!r}: choose selfish or cooperative")
    if args.frame_stack < 1:
        raise ValueError(f"--frame-stack {args.frame_stack}: must be >= 1")
    parse_fixed(args.fixed, args.n_agents)


def make_env(args: Args, env_kwargs: dict[str, Any], hp: dict[str, Any], seed_offset: int = 0):
    """Training rows under VecMonitor (then VecFrameStack and VecNormalize when asked), markets
    seeded from ``TRAIN_SEED_BASE + 1000 * seed + seed_offset``."""
    from stable_baselines3.common.vec_env import VecMonitor

    _check(args)
    venv = _venv(args, env_kwargs, args.num_envs)
    venv.seed(tr.TRAIN_SEED_BASE + 1000 * args.seed + seed_offset)
    env = tr.constrained(VecMonitor(venv), args)
    if args.frame_stack > 1:
        env = frame_stack(env, args.frame_stack)
    return tr.normalized(env, hp)


# ---- evaluation ----------------------------------------------------------------------------
def play(policy, norm, args: Args, env_kwargs: dict[str, Any], episodes: int, seed: int, *,
         stack: int = 1, fixed: dict[int, str] | None = None) -> dict[str, Any]:
    """``policy`` (deterministic) drives every learning row of ``episodes`` markets (market e
    seeded ``seed + e * rows``) for one episode each. Returns per-row arrays ``return``, ``nav``,
    ``liquidated`` (NaN in almgren_chriss) and, in almgren_chriss, ``inventory`` (M + 1, episodes):
    all sellers' holdings / (N X) at each step."""
    venv = _venv(args, env_kwargs, episodes, fixed)
    venv.seed(seed)
    env = frame_stack(venv, stack) if stack > 1 else venv
    obs = env.reset()
    g = venv.engine
    ac = g.config.model_id == 1
    R = venv.rows_per_market
    ret = np.zeros(venv.num_envs)
    nav = np.full(venv.num_envs, np.nan)
    liq = np.full(venv.num_envs, np.nan)
    done = np.zeros(venv.num_envs, bool)
    scale = args.n_agents * g.config.initial_shares if ac else 1.0
    inventory = [g.state.hold[:, :, 0].sum(1) / scale] if ac else []
    while not done.all():
        o = norm.normalize_obs(obs) if norm is not None else obs
        act, _ = policy.predict(o, deterministic=True)
        if ac:
            before = done[::R].copy()
        obs, r, d, infos = env.step(act)
        ret += np.where(done, 0.0, r)
        for i in np.flatnonzero(d & ~done):
            if not ac:
                nav[i], liq[i] = infos[i]["nav"], float(infos[i]["forced_liquidation"])
        if ac:  # a market that ended in this step sold out; one already ended is past its episode
            now = g.state.hold[:, :, 0].sum(1) / scale
            inventory.append(np.where(before, np.nan, np.where(d[::R], 0.0, now)))
        done |= d
    venv.close()
    out: dict[str, Any] = {"return": ret, "nav": nav, "liquidated": liq}
    if ac:
        out["inventory"] = np.array(inventory)
    return out


def race_index(args: Args, env_kwargs: dict[str, Any], inventory: np.ndarray) -> dict[str, float]:
    """Aggregate inventory at T/4 (share of N X, mean over markets), the TWAP and discrete-Nash
    values there, and (inventory - TWAP) / (Nash - TWAP): 0 cooperative, 1 Nash."""
    import dma_gym
    from agents.closed_form import nash_discrete

    c = dma_gym.scenarios.get(args.scenario, **env_kwargs)
    M = c.steps
    k = int(round(M / 4))
    x = nash_discrete(args.n_agents, 1.0, c.horizon_days, M, c.eta, c.gamma, c.sigma, 2.0 * c.risk_aversion)
    twap, nash = 1.0 - k / M, float(x[k])
    inv = float(np.nanmean(inventory[k]))
    gap = nash - twap
    return {"inventory_t4": inv, "twap_t4": twap, "nash_t4": nash,
            "race_index": (inv - twap) / gap if abs(gap) > 1e-12 else math.nan}


def summary(res: dict[str, Any], args: Args, env_kwargs: dict[str, Any]) -> dict[str, float]:
    out = {"mean_return": float(res["return"].mean()), "mean_nav": float(np.mean(res["nav"])),
           "liquidation_rate": float(np.mean(res["liquidated"]))}
    if "inventory" in res:
        out.update(race_index(args, env_kwargs, res["inventory"]))
    out["score"] = out["mean_return"]
    return out


def evaluate(model, norm, args: Args, env_kwargs: dict[str, Any], episodes: int, seed: int) -> dict[str, float]:
    """The periodic evaluation: the rows' mean return (their training objective) as the score,
    with NAV, liquidation rate and, in almgren_chriss, the race index."""
    return summary(play(model, norm, args, env_kwargs, episodes, seed, stack=args.frame_stack), args, env_kwargs)


def final(args: Args, env_kwargs: dict[str, Any], out: Path, model_path: Path) -> dict[str, dict]:
    """The trained policy and every baseline population on ``final_episodes`` markets (seeds 0..),
    printed and written to ``out/final.json``."""
    import agents
    from agents.trained import load

    if args.reward == "selfish" and args.n_agents - len(parse_fixed(args.fixed, args.n_agents)) > 1:
        model_path = out / "final_model.zip"  # where the learners' race leaves them (module docstring)
    policy = load(model_path)
    rows = {args.algo: summary(play(policy, None, args, env_kwargs, args.final_episodes, 0, stack=args.frame_stack),
                               args, env_kwargs)}
    probe = _venv(args, env_kwargs, 1)
    ac = probe.engine.config.model_id == 1
    for name in AC_POPULATIONS if ac else MARKET_POPULATIONS:
        pol = agents.make(name, probe)
        rows[name] = summary(play(pol, None, args, env_kwargs, args.final_episodes, 0), args, env_kwargs)
    print(format_table(rows, args))
    (out / "final.json").write_text(json.dumps(rows, indent=1))
    return rows


def format_table(rows: dict[str, dict[str, float]], args: Args) -> str:
    ac = "race_index" in next(iter(rows.values()))
    head = f"{args.scenario}, {args.n_agents} managers, reward {args.reward}" + (
        f", fixed {args.fixed}" if args.fixed else "") + f"; {args.final_episodes} markets (seeds 0..)"
    cols = ("mean_return", "inventory_t4", "race_index") if ac else ("mean_return", "mean_nav", "liquidation_rate")
    lines = [head, f"{'population':<20}" + "".join(f"{c:>18}" for c in cols)]
    for name, r in rows.items():
        lines.append(f"{name:<20}" + "".join(f"{r[c]:>18.4f}" for c in cols))
    if ac:
        r = next(iter(rows.values()))
        lines.append(f"(inventory at T/4 / N X: TWAP {r['twap_t4']:.4f}, discrete Nash {r['nash_t4']:.4f})")
    return "\n".join(lines)


MARL = tr.Kit(make_env, evaluate, final)


def main(args: Args) -> dict[str, Any]:
    _check(args)
    if not args.config and not args.resume:
        own = tr.CONFIG_DIR / f"marl_{args.algo}.yml"
        if own.is_file():
            args = dataclasses.replace(args, config=str(own))
    return tr.main(args, MARL)


if __name__ == "__main__":
    run(Args, main, "python -m training.train_marl", __doc__.split("\n\n")[0])
