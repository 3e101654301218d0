"""Train a stable-baselines3 agent on DMAUnwind-v0, from one command.

    python -m training.train --algo {ppo,sac,td3} --scenario feb2024 --timesteps 300000 \\
        --num-envs 8 --seed 0 --out runs/ppo [--config FILE] [--env-kwargs k=v ...] [--resume DIR]
    python -m training.train --algo ppo --seeds 0-2 --out runs/ppo3      # one folder per seed

The agent trains on the natively batched SB3 adapter (``make_sb3_vec_env``: one core call per
step for all ``--num-envs`` envs) with the hyperparameters of ``training/configs/<algo>.yml``
(``default`` section, then the scenario's section; RL Baselines3 Zoo's layout; ``--config`` gives
another file). What a run writes to ``--out``:

* ``config.yaml``: the run's arguments and the resolved hyperparameters (``--resume`` reads it);
  ``versions.json``: python, platform and package versions;
* ``tb/``: TensorBoard logs: SB3's losses and ``time/fps``, plus ``rollout/ep_nav_mean`` (final
  NAV of the episodes that ended), ``rollout/liquidation_rate``, ``time/env_steps_per_s`` and,
  at each evaluation, ``eval/score``, ``eval/mean_nav``, ``eval/liquidation_rate``,
  ``eval/mean_return``;
* ``best_model.zip`` (the best periodic evaluation), ``final_model.zip`` and
  ``checkpoints/ckpt_<steps>.zip`` (every ``--checkpoint-freq`` env-steps), each with its
  ``.meta.json`` and, with normalisation, ``.vecnormalize.pkl`` (``agents.load`` reads them; off-
  policy checkpoints also keep the latest replay buffer);
* ``eval/``: the final table of the trained policy against the baselines (``training.evaluate``
  on the same seeded episodes: CSVs and plots), and ``results.json``.

Seeds. Training envs are seeded ``1_000_000 + 1000 * seed (+ i)``, periodic evaluations use
``500_000 ..`` and the final table seeds ``0 .. final_episodes - 1``: every evaluation episode is
held out from training. The same seed and config give bit-identical weights on the same machine
(torch on ``--threads`` threads, 1 by default; SB3 seeds python, numpy and torch).

Score. The periodic evaluation (``--eval-episodes`` deterministic episodes) scores a policy by its
mean episode return, the objective it trains on: in a market scenario the mean log final NAV
(rewards sum to ``log(max(NAV, 1e-6))``, so a forced liquidation weighs what it costs a
log-utility manager, where the mean NAV would reward a gamble that wins often and ruins
sometimes); in Almgren-Chriss minus the mean-variance shortfall in percent (docs/model.md §12.1).

Liquidation bound. ``--max-liquidation 0.05`` trains under the constraint that at most 5% of
episodes end in a forced liquidation (docs/model.md §11.2). A Lagrange multiplier
(``dma_gym.adapters.sb3.LiquidationConstraint``, logged as ``train/liquidation_multiplier``) is
charged on the reward at each broker takeover. It follows dual ascent at ``--lagrange-lr`` per
episode end, towards a training-episode rate of ``--lagrange-target`` (the bound unless given).
The best model is then the best-scoring evaluation whose liquidation rate is within the bound
(until one is, the best-scoring one). The market and its reward are unchanged: the evaluations
and the final table score the plain objective.

``--resume DIR`` continues DIR's run from its latest checkpoint up to ``--timesteps`` in total:
model, optimiser, normalisation statistics, step count, the liquidation multiplier (and the
replay buffer of SAC/TD3); the training envs restart with fresh seeds
(``1_000_000 + 1000 * seed + steps``) and the random generators are not restored, so a resumed
run is not bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import json
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from training.cli import parse_args, parse_env_kwargs, run

TRAIN_SEED_BASE = 1_000_000
EVAL_SEED_BASE = 500_000
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
MARKET_BASELINES = "hold,dump,twap,pov,almgren_chriss,margin_trigger,rotate_large,deleverage_target"
AC_BASELINES = "hold,dump,twap,almgren_chriss"
EXTRA_KEYS = ("policy", "normalize", "action_noise_std")  # config keys that are not algorithm keywords
ACTIVATIONS = ("tanh", "relu", "elu", "leaky_relu")


@dataclass
class Args:
    algo: str = "ppo"
    """ppo, sac or td3"""
    scenario: str = "feb2024"
    """scenario name (dma_gym.scenarios.names())"""
    timesteps: int = 300_000
    """env-steps to train (in total, counting a resumed run's earlier steps)"""
    num_envs: int = 8
    """training envs (one batched core call per step)"""
    seed: int = 0
    """training seed"""
    seeds: str = ""
    """several seeds, e.g. 0-4 or 0,2,7: one run per seed in --out/seed_<k>, then mean and CI"""
    out: str = "runs/train"
    """output folder"""
    config: str = ""
    """hyperparameter YAML (default: training/configs/<algo>.yml)"""
    env_kwargs: list = field(default_factory=list)
    """config overrides for the env, as key=value (values parsed as YAML)"""
    resume: str = ""
    """continue this run folder from its latest checkpoint"""
    eval_freq: int = 20_000
    """env-steps between evaluations on held-out seeds (0: none)"""
    eval_episodes: int = 64
    """episodes per periodic evaluation"""
    checkpoint_freq: int = 50_000
    """env-steps between checkpoints (0: none)"""
    final_episodes: int = 64
    """episodes of the final table against the baselines (0: skip it)"""
    progress: bool = True
    """show a progress bar"""
    threads: int = 1
    """torch threads"""
    max_liquidation: float = -1.0
    """bound on the forced-liquidation rate (0..1): a Lagrange multiplier on the reward enforces it
    in training and only evaluations within it can be the best model (below 0: no bound)"""
    lagrange_lr: float = 0.02
    """with --max-liquidation: the multiplier's step per episode end"""
    lagrange_target: float = -1.0
    """with --max-liquidation: the training episodes' liquidation rate the multiplier aims at
    (below 0: the bound itself); lower leaves room for the deterministic policy, which can
    liquidate more often than the exploring one"""


# ---- configuration ---------------------------------------------------------------------
def _algo_class(algo: str):
    import stable_baselines3 as sb3
    classes = {"ppo": sb3.PPO, "sac": sb3.SAC, "td3": sb3.TD3}
    if algo not in classes:
        raise ValueError(f"--algo {algo!r}: choose one of {', '.join(classes)}")
    return classes[algo]


def _yaml():
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ValueError("training.train needs PyYAML: pip install -e '.[train]'") from exc
    return yaml


def hyperparameters(algo: str, scenario: str, config: str = "") -> dict[str, Any]:
    """The ``default`` section of the algorithm's YAML merged with the scenario's section,
    validated against the algorithm's keywords (ValueError naming an unknown key)."""
    algo_cls = _algo_class(algo)
    path = Path(config) if config else CONFIG_DIR / f"{algo}.yml"
    if not path.is_file():
        raise ValueError(f"hyperparameter file {path} not found")
    try:
        doc = _yaml().safe_load(path.read_text()) or {}
    except Exception as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("default", {}), dict):
        raise ValueError(f"{path}: expected a mapping with a 'default' section and per-scenario sections")
    hp = dict(doc.get("default") or {})
    section = doc.get(scenario) or {}
    if not isinstance(section, dict):
        raise ValueError(f"{path}: section {scenario!r} must be a mapping")
    hp.update(section)
    allowed = set(inspect.signature(algo_cls.__init__).parameters) - {"self", "env", "policy"}
    unknown = sorted(set(hp) - allowed - set(EXTRA_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown {algo} hyperparameter(s) {unknown}; allowed: {', '.join(sorted(allowed))}")
    for banned in ("seed", "device", "tensorboard_log", "verbose"):
        if banned in hp:
            raise ValueError(f"{path}: {banned!r} is set by training.train, not the config")
    return hp


def _algo_kwargs(hp: dict[str, Any], act_dim: int) -> dict[str, Any]:
    """Algorithm keywords from resolved hyperparameters: activation names to torch classes, the
    TD3 noise std to an action-noise object."""
    import torch
    kw = {k: v for k, v in hp.items() if k not in EXTRA_KEYS}
    pk = dict(kw.get("policy_kwargs") or {})
    act = pk.get("activation_fn")
    if isinstance(act, str):
        if act not in ACTIVATIONS:
            raise ValueError(f"policy_kwargs.activation_fn={act!r}: choose one of {', '.join(ACTIVATIONS)}")
        pk["activation_fn"] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU,
                               "leaky_relu": torch.nn.LeakyReLU}[act]
    if pk:
        kw["policy_kwargs"] = pk
    if "action_noise_std" in hp:
        from stable_baselines3.common.noise import NormalActionNoise
        std = float(hp["action_noise_std"])
        kw["action_noise"] = NormalActionNoise(np.zeros(act_dim), std * np.ones(act_dim))
    return kw


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("dma_gym", "numpy", "numba", "gymnasium", "stable_baselines3", "torch", "tensorboard"):
        try:
            out[pkg] = importlib.metadata.version(pkg.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


# ---- environments and evaluation ---------------------------------------------------------
def make_train_env(args: Args, env_kwargs: dict[str, Any], hp: dict[str, Any], seed_offset: int = 0):
    """The SB3 training env: the batched adapter under VecMonitor (and VecNormalize when the
    config asks), seeded ``TRAIN_SEED_BASE + 1000 * seed + seed_offset``."""
    from stable_baselines3.common.vec_env import VecMonitor

    from dma_gym.adapters.sb3 import make_sb3_vec_env
    venv = make_sb3_vec_env(args.num_envs, args.scenario, **env_kwargs)
    venv.seed(TRAIN_SEED_BASE + 1000 * args.seed + seed_offset)
    return normalized(constrained(VecMonitor(venv), args), hp)


def constrained(env, args: Args):
    """``env`` under ``LiquidationConstraint`` when ``--max-liquidation`` sets a bound."""
    if args.max_liquidation < 0:
        return env
    from dma_gym.adapters.sb3 import LiquidationConstraint
    target = args.max_liquidation if args.lagrange_target < 0 else args.lagrange_target
    return LiquidationConstraint(env, target, lr=args.lagrange_lr)


def _constraint(env):
    """The ``LiquidationConstraint`` in a wrapper chain, or None."""
    from dma_gym.adapters.sb3 import LiquidationConstraint
    while env is not None and not isinstance(env, LiquidationConstraint):
        env = getattr(env, "venv", None)
    return env


def normalized(env, hp: dict[str, Any]):
    """``env`` under ``VecNormalize`` when the hyperparameters' ``normalize`` asks for it (its
    keywords, ``gamma`` defaulting to the algorithm's)."""
    from stable_baselines3.common.vec_env import VecNormalize

    norm = hp.get("normalize") or False
    if not norm:
        return env
    opts = {} if norm is True else dict(norm)
    opts.setdefault("gamma", hp.get("gamma", 0.99))
    return VecNormalize(env, **opts)


def _vec_normalize(env):
    from stable_baselines3.common.vec_env import VecNormalize
    return env if isinstance(env, VecNormalize) else None


def evaluate_model(model, norm, scenario: str, env_kwargs: dict[str, Any], episodes: int, seed: int) -> dict[str, float]:
    """``episodes`` deterministic episodes (env i seeded ``seed + i``, one batched env): mean final
    NAV, liquidation rate and mean return (NaN NAV and liquidation in Almgren-Chriss)."""
    from dma_gym.envs.vector_env import DMAUnwindVectorEnv
    env = DMAUnwindVectorEnv(episodes, scenario, **env_kwargs)
    obs, _ = env.reset(seed=seed)
    done = np.zeros(episodes, bool)
    ret = np.zeros(episodes)
    nav = np.full(episodes, np.nan)
    liq = np.full(episodes, np.nan)
    market = env.config.model_id == 0  # the DMA market (1: the Almgren-Chriss benchmark)
    while not done.all():
        o = norm.normalize_obs(obs) if norm is not None else obs
        act, _ = model.predict(o, deterministic=True)
        obs, r, term, trunc, info = env.step(act)
        ret += np.where(done, 0.0, r)
        end = (term | trunc) & ~done
        if market:
            nav[end] = np.asarray(info["nav"])[end]
            liq[end] = np.asarray(info["forced_liquidation"], float)[end]
        done |= end
    env.close()
    return {"mean_return": float(ret.mean()), "mean_nav": float(np.mean(nav)) if market else math.nan,
            "liquidation_rate": float(np.mean(liq)) if market else math.nan,
            "score": float(ret.mean())}


def _evaluate(model, norm, args: Args, env_kwargs: dict[str, Any], episodes: int, seed: int) -> dict[str, float]:
    return evaluate_model(model, norm, args.scenario, env_kwargs, episodes, seed)


class Kit(NamedTuple):
    """What a training script plugs into :func:`train`: its training env
    ``make_env(args, env_kwargs, hp, seed_offset)``, its periodic evaluation
    ``evaluate(model, norm, args, env_kwargs, episodes, seed) -> {"score", ...}`` and its final table
    ``final(args, env_kwargs, out, model_path) -> {policy: summary}``."""

    make_env: Callable[..., Any]
    evaluate: Callable[..., dict[str, float]]
    final: Callable[..., dict[str, dict]]


def _make_callback(args: Args, env_kwargs: dict[str, Any], out: Path, kit: Kit):
    """The run's callback (built here so that importing this module does not import SB3)."""
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.trained import save

    class TrainMonitor(BaseCallback):
        """Episode NAV and liquidation rate of the training envs, env-steps/s, periodic held-out
        evaluation with best-model saving, and checkpoints."""

        def __init__(self):
            super().__init__()
            self.navs: list[float] = []
            self.liqs: list[float] = []
            self.best = (False, -math.inf)  # (within --max-liquidation, score)
            self.last_eval = 0
            self.last_ckpt = 0
            self.t0 = 0.0
            self.n0 = 0
            self.history: list[dict[str, float]] = []
            self.lagrange = None  # the training env's LiquidationConstraint, if any

        def _on_training_start(self) -> None:
            self.t0 = time.perf_counter()
            self.n0 = self.num_timesteps
            self.last_eval = self.last_ckpt = self.num_timesteps
            self.lagrange = _constraint(self.training_env)
            best = out / "best_score.json"
            if best.is_file():  # resumed: the best so far stands
                rec = json.loads(best.read_text())
                self.best = (rec.get("feasible", True), rec["score"])

        def _on_step(self) -> bool:
            for done, info in zip(self.locals["dones"], self.locals["infos"]):
                if done and "nav" in info:
                    self.navs.append(float(info["nav"]))
                    self.liqs.append(float(info["forced_liquidation"]))
            n = self.num_timesteps
            if args.eval_freq and n - self.last_eval >= args.eval_freq:
                self.last_eval = n
                self.evaluate()
            if args.checkpoint_freq and n - self.last_ckpt >= args.checkpoint_freq:
                self.last_ckpt = n
                self.checkpoint()
            return True

        def _on_rollout_end(self) -> None:
            if self.navs:
                self.logger.record("rollout/ep_nav_mean", float(np.mean(self.navs[-100:])))
                self.logger.record("rollout/liquidation_rate", float(np.mean(self.liqs[-100:])))
            dt = time.perf_counter() - self.t0
            if dt > 0:
                self.logger.record("time/env_steps_per_s", (self.num_timesteps - self.n0) / dt)
            if self.lagrange is not None:
                self.logger.record("train/liquidation_multiplier", self.lagrange.multiplier)

        def evaluate(self) -> None:
            norm = _vec_normalize(self.training_env)
            res = kit.evaluate(self.model, norm, args, env_kwargs, args.eval_episodes, EVAL_SEED_BASE)
            for k, v in res.items():
                if not math.isnan(v):
                    self.logger.record(f"eval/{k}", v)
            extra = {} if self.lagrange is None else {"liquidation_multiplier": self.lagrange.multiplier}
            self.history.append({"timesteps": self.num_timesteps, **res, **extra})
            # an evaluation beyond the liquidation bound is never preferred to one within it
            beyond = args.max_liquidation >= 0 and res.get("liquidation_rate", math.nan) > args.max_liquidation
            key = (not beyond, res["score"])
            if key > self.best:
                self.best = key
                save(self.model, out / "best_model.zip", algo=args.algo, scenario=args.scenario,
                     env_kwargs=env_kwargs, vec_normalize=norm, seed=args.seed)
                (out / "best_score.json").write_text(json.dumps(
                    {"score": key[1], "feasible": key[0], "timesteps": self.num_timesteps}))

        def checkpoint(self) -> None:
            ck = out / "checkpoints"
            ck.mkdir(exist_ok=True)
            save(self.model, ck / f"ckpt_{self.num_timesteps}.zip", algo=args.algo, scenario=args.scenario,
                 env_kwargs=env_kwargs, vec_normalize=_vec_normalize(self.training_env), seed=args.seed)
            if hasattr(self.model, "save_replay_buffer"):
                self.model.save_replay_buffer(ck / "replay_buffer.pkl")
            if self.lagrange is not None:
                (ck / f"ckpt_{self.num_timesteps}.constraint.json").write_text(
                    json.dumps({"liquidation_multiplier": self.lagrange.multiplier}))

    return TrainMonitor()


def latest_checkpoint(run: Path) -> Path:
    """The checkpoint with the most steps in ``run/checkpoints`` (ValueError if there is none)."""
    cks = sorted((run / "checkpoints").glob("ckpt_*.zip"), key=lambda p: int(p.stem.split("_")[1]))
    if not cks:
        raise ValueError(f"--resume {run}: no checkpoints/ckpt_<steps>.zip to resume from")
    return cks[-1]


# ---- one run ------------------------------------------------------------------------------
def train(args: Args, kit: Kit | None = None) -> dict[str, Any]:
    """One training run (or the continuation of one with ``args.resume``); returns the results
    written to ``results.json``. ``kit``: the script's env, evaluation and final table (default:
    this script's, :data:`SINGLE`)."""
    kit = kit or SINGLE
    import torch
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.trained import save

    torch.set_num_threads(max(1, args.threads))
    resumed = bool(args.resume)
    if resumed:
        out = Path(args.resume)
        cfg_file = out / "config.yaml"
        if not cfg_file.is_file():
            raise ValueError(f"--resume {out}: no config.yaml (not a training.train run folder)")
        saved = _yaml().safe_load(cfg_file.read_text())
        args = dataclasses.replace(type(args)(**saved["args"]), timesteps=args.timesteps, resume=str(out),
                                   progress=args.progress)
        hp, env_kwargs = saved["hyperparameters"], saved["env_kwargs"]
    else:
        out = Path(args.out)
        if not (args.max_liquidation < 1 and args.lagrange_target < 1 and args.lagrange_lr > 0):
            raise ValueError(f"--max-liquidation {args.max_liquidation} and --lagrange-target {args.lagrange_target} "
                             f"must be below 1 (below 0: none) and --lagrange-lr {args.lagrange_lr} above 0")
        env_kwargs = parse_env_kwargs(list(args.env_kwargs))
        import dma_gym
        dma_gym.scenarios.get(args.scenario, **env_kwargs)  # validate before anything is written
        hp = hyperparameters(args.algo, args.scenario, args.config)
        out.mkdir(parents=True, exist_ok=True)
        record = {"args": {**dataclasses.asdict(args), "env_kwargs": list(args.env_kwargs)},
                  "env_kwargs": env_kwargs, "hyperparameters": hp,
                  "seeds": {"train": TRAIN_SEED_BASE + 1000 * args.seed, "eval": EVAL_SEED_BASE, "final": 0}}
        (out / "config.yaml").write_text(_yaml().safe_dump(record, sort_keys=False))
        (out / "versions.json").write_text(json.dumps(versions(), indent=1))
    algo_cls = _algo_class(args.algo)
    if resumed:
        ckpt = latest_checkpoint(out)
        steps_done = int(ckpt.stem.split("_")[1])
        env = kit.make_env(args, env_kwargs, hp, seed_offset=steps_done)
        if isinstance(env, VecNormalize):
            stats = ckpt.with_suffix(".vecnormalize.pkl")
            env = VecNormalize.load(str(stats), env.venv)
        model = algo_cls.load(ckpt, env=env, device="cpu", tensorboard_log=str(out / "tb"))
        buf = out / "checkpoints" / "replay_buffer.pkl"
        if hasattr(model, "load_replay_buffer") and buf.is_file():
            model.load_replay_buffer(buf)
        lagrange, saved_lagrange = _constraint(env), ckpt.with_suffix(".constraint.json")
        if lagrange is not None and saved_lagrange.is_file():
            lagrange.multiplier = json.loads(saved_lagrange.read_text())["liquidation_multiplier"]
    else:
        env = kit.make_env(args, env_kwargs, hp)
        act_dim = int(env.action_space.shape[0])
        model = algo_cls(hp.get("policy", "MlpPolicy"), env, seed=args.seed, device="cpu", verbose=0,
                         tensorboard_log=str(out / "tb"), **_algo_kwargs(hp, act_dim))
    remaining = args.timesteps - model.num_timesteps
    if remaining <= 0:
        raise ValueError(f"--timesteps {args.timesteps}: the run already has {model.num_timesteps} steps")
    cb = _make_callback(args, env_kwargs, out, kit)
    t0 = time.perf_counter()
    model.learn(remaining, callback=cb, reset_num_timesteps=not resumed, tb_log_name="run",
                progress_bar=args.progress)
    seconds = time.perf_counter() - t0
    norm = _vec_normalize(env)
    save(model, out / "final_model.zip", algo=args.algo, scenario=args.scenario, env_kwargs=env_kwargs,
         vec_normalize=norm, seed=args.seed)
    if args.checkpoint_freq:
        cb.checkpoint()  # the end is a checkpoint too: --resume continues from here
    best = out / "best_model.zip"
    if not best.is_file():  # no periodic evaluation ran: the final model is the best known
        save(model, best, algo=args.algo, scenario=args.scenario, env_kwargs=env_kwargs, vec_normalize=norm,
             seed=args.seed)
    results: dict[str, Any] = {"algo": args.algo, "scenario": args.scenario, "seed": args.seed,
                               "timesteps": int(model.num_timesteps), "train_seconds": seconds,
                               "evaluations": cb.history}
    if args.final_episodes:
        results["final"] = kit.final(args, env_kwargs, out, best)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    env.close()
    return results


def final_table(args: Args, env_kwargs: dict[str, Any], out: Path, model_path: Path) -> dict[str, dict]:
    """The trained policy against the baselines on ``final_episodes`` seeded episodes
    (``training.evaluate``; tables and plots to ``out/eval``)."""
    from training import evaluate as ev
    baselines = AC_BASELINES if args.scenario == "almgren_chriss" else MARKET_BASELINES
    eargs = ev.Args(scenario=args.scenario, policies=f"{baselines},{args.algo}:{model_path}",
                    episodes=args.final_episodes, seed=0, out=str(out / "eval"), progress=False,
                    env_kwargs=env_kwargs)
    results = ev.evaluate(eargs)
    print(ev.format_table(results, args.scenario, 0))
    ev.write_outputs(results, Path(eargs.out))
    return {r.name: r.summary() for r in results}


SINGLE = Kit(make_train_env, _evaluate, final_table)


# ---- several seeds ------------------------------------------------------------------------
def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,2,7"`` -> [0, 2, 7]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-"))
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise ValueError(f"--seeds {text!r}: expected e.g. 0-4 or 0,2,7") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r}: expected distinct seeds, e.g. 0-4 or 0,2,7")
    return seeds


def summarize_seeds(runs: dict[int, dict[str, Any]], algo: str) -> dict[str, Any]:
    """Mean and 95% CI over seeds of the trained policy's final NAV (market) or return (AC) and
    liquidation rate."""
    rows: dict[str, list[float]] = {}
    for res in runs.values():
        row = (res.get("final") or {}).get(algo) or {}
        for k, v in row.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                rows.setdefault(k, []).append(float(v))
    return {k: _mean_ci(v) for k, v in rows.items()}


_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def _mean_ci(x: list[float]) -> dict[str, float]:
    a = np.asarray(x, float)
    n = a.size
    if n < 2:
        return {"mean": float(a.mean()), "ci95": math.nan, "n": n}
    dfree = n - 1
    t = _T975.get(dfree) or _T975[max(k for k in _T975 if k <= dfree)]
    return {"mean": float(a.mean()), "ci95": float(t * a.std(ddof=1) / math.sqrt(n)), "n": n}


def main(args: Args, kit: Kit | None = None) -> dict[str, Any]:
    if args.seeds and not args.resume:
        seeds = parse_seeds(args.seeds)
        base = Path(args.out)
        runs = {s: train(dataclasses.replace(args, seed=s, seeds="", out=str(base / f"seed_{s}")), kit)
                for s in seeds}
        summary = {"algo": args.algo, "scenario": args.scenario, "seeds": seeds,
                   "across_seeds": summarize_seeds(runs, args.algo)}
        base.mkdir(parents=True, exist_ok=True)
        (base / "summary.json").write_text(json.dumps(summary, indent=1))
        print(f"\n{args.algo} on {args.scenario}, {len(seeds)} seeds: mean and 95% CI across seeds")
        for k, st in summary["across_seeds"].items():
            print(f"  {k:20} {st['mean']:10.4f} +- {st['ci95']:.4f}")
        return summary
    return train(args, kit)


def parse(argv: list[str] | None = None) -> Args:
    return parse_args(Args, "python -m training.train", __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    run(Args, main, "python -m training.train", __doc__.split("\n\n")[0])
