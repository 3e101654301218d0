"""Smoke tests of ``python -m training.train_marl``: selfish, cooperative, fixed peers and memory
each train a few hundred steps, evaluate, write their run folder, resume and print the final
table; the race index is measured against the closed forms; bad options are named."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("yaml")
pytest.importorskip("pettingzoo")

from training import train as tr  # noqa: E402
from training import train_marl as tm  # noqa: E402
from training.cli import parse_args  # noqa: E402

TINY = {"policy": "MlpPolicy", "n_steps": 32, "batch_size": 64, "n_epochs": 1, "gamma": 1.0,
        "normalize": {"norm_obs": False, "norm_reward": True}, "policy_kwargs": {"net_arch": [16, 16]}}
GAME = ["steps=8", "gamma=4e-6", "sigma=0.0", "risk_aversion=0"]


def _args(tmp_path: Path, **kw) -> tm.Args:
    import yaml
    cfg = tmp_path / "ppo.yml"
    cfg.write_text(yaml.safe_dump({"default": TINY}))
    base = dict(algo="ppo", scenario="almgren_chriss", n_agents=2, timesteps=256, num_envs=2, seed=0,
                out=str(tmp_path / "run"), config=str(cfg), eval_freq=128, eval_episodes=4, checkpoint_freq=128,
                final_episodes=4, progress=False, env_kwargs=list(GAME))
    base.update(kw)
    return tm.Args(**base)


@pytest.mark.parametrize("kw", [
    {"reward": "selfish"},
    {"reward": "cooperative", "frame_stack": 3},
    {"fixed": "1:nash"},
    {"scenario": "calm", "env_kwargs": [], "n_agents": 2, "timesteps": 128, "eval_freq": 64,
     "checkpoint_freq": 64, "final_episodes": 2, "eval_episodes": 2},
], ids=["selfish", "cooperative+memory", "fixed-nash", "market"])
def test_each_mode_trains_evaluates_resumes_and_tables(tmp_path, kw, capsys):
    args = _args(tmp_path, **kw)
    res = tm.main(args)
    run = Path(args.out)
    assert res["timesteps"] == args.timesteps and len(res["evaluations"]) == 2
    for f in ("config.yaml", "versions.json", "best_model.zip", "final_model.zip", "final.json"):
        assert (run / f).is_file(), f
    final = json.loads((run / "final.json").read_text())
    ac = args.scenario == "almgren_chriss"
    assert set(final) == {"ppo", *(tm.AC_POPULATIONS if ac else tm.MARKET_POPULATIONS)}
    out = capsys.readouterr().out
    assert "population" in out and ("race_index" in out) == ac
    if ac:  # the baselines land where theory puts them (float32 actions: to 1e-6)
        share_fixed = len(tm.parse_fixed(args.fixed, args.n_agents)) / args.n_agents  # those sellers are on Nash
        assert final["twap"]["race_index"] == pytest.approx(share_fixed, abs=1e-6)
        assert final["nash"]["race_index"] == pytest.approx(1.0, abs=1e-6)
    else:
        assert 0.0 <= final["ppo"]["liquidation_rate"] <= 1.0 and np.isfinite(final["ppo"]["mean_nav"])
    # resume to twice the steps: the step count continues and the run's options are kept
    res2 = tm.main(tm.Args(resume=str(run), timesteps=2 * args.timesteps, progress=False))
    assert res2["timesteps"] == 2 * args.timesteps
    saved = __import__("yaml").safe_load((run / "config.yaml").read_text())["args"]
    assert (saved["n_agents"], saved["reward"], saved["fixed"], saved["frame_stack"]) == \
        (args.n_agents, args.reward, args.fixed, args.frame_stack)


def test_the_rows_of_fixed_peers_are_not_trained(tmp_path):
    env = tm.make_env(_args(tmp_path, n_agents=5, fixed="1-4:nash"), tr.parse_env_kwargs(GAME), TINY)
    assert env.num_envs == 2  # two markets, one learner each
    env = tm.make_env(_args(tmp_path, n_agents=3, frame_stack=4), tr.parse_env_kwargs(GAME), {})
    assert env.num_envs == 6 and env.observation_space.shape == (12,)


def test_race_index_is_zero_for_twap_and_one_for_nash(tmp_path):
    args = _args(tmp_path, n_agents=3)
    kw = tr.parse_env_kwargs(GAME)
    import agents
    probe = tm._venv(args, kw, 1)
    for name, want in (("twap", 0.0), ("nash", 1.0)):
        res = tm.play(agents.make(name, probe), None, args, kw, 6, 0)
        inv = res["inventory"]
        assert inv.shape == (9, 6) and np.allclose(inv[0], 1.0) and np.allclose(inv[-1], 0.0)
        assert tm.race_index(args, kw, inv)["race_index"] == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("kw, match", [
    ({"reward": "greedy"}, "--reward"),
    ({"fixed": "0-2:nash"}, "not in"),
    ({"fixed": "1nash"}, "INDICES:POLICY"),
    ({"frame_stack": 0}, "--frame-stack"),
])
def test_bad_options_are_named(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        tm.main(_args(tmp_path, **kw))


def test_the_command_line_has_every_option_with_help():
    args = parse_args(tm.Args, "train_marl", "", ["--n-agents", "5", "--reward", "cooperative", "--fixed", "1-4:nash",
                                                  "--frame-stack", "4", "--timesteps", "1000"])
    assert (args.n_agents, args.reward, args.fixed, args.frame_stack, args.timesteps) == \
        (5, "cooperative", "1-4:nash", 4, 1000)
    from training.cli import field_docs
    docs = field_docs(tm.Args)
    assert {"n_agents", "reward", "timesteps", "eval_episodes"} <= set(docs)  # inherited fields keep their help


def test_the_liquidation_bound_wraps_the_manager_rows(tmp_path):
    """``--max-liquidation`` puts every learning manager's row under the Lagrange multiplier, aimed
    at ``--lagrange-target``; without it the rows are unwrapped."""
    bounded = _args(tmp_path, scenario="feb2024", env_kwargs=[], n_agents=3, max_liquidation=0.05,
                    lagrange_target=0.02)
    env = tm.make_env(bounded, {}, {})
    lagrange = tr._constraint(env)
    assert lagrange is not None and lagrange.max_rate == 0.02 and lagrange.num_envs == env.num_envs == 2 * 3
    assert tr._constraint(tm.make_env(_args(tmp_path, scenario="feb2024", env_kwargs=[]), {}, {})) is None
    assert parse_args(tm.Args, "train_marl", "", ["--max-liquidation", "0.05"]).max_liquidation == 0.05
