"""Smoke tests of ``python -m training.train``: every algorithm trains a few hundred steps, writes
its run folder, resumes, saves and loads; hyperparameter files are merged and validated; the same
seed gives the same weights."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("yaml")

import agents  # noqa: E402
from training import train as tr  # noqa: E402

TINY = {
    "ppo": {"policy": "MlpPolicy", "n_steps": 64, "batch_size": 64, "n_epochs": 1,
            "normalize": {"norm_obs": True, "norm_reward": True}, "policy_kwargs": {"net_arch": [16, 16]}},
    "sac": {"policy": "MlpPolicy", "learning_starts": 64, "buffer_size": 2000, "batch_size": 32,
            "policy_kwargs": {"net_arch": [16, 16], "activation_fn": "relu"}},
    "td3": {"policy": "MlpPolicy", "learning_starts": 64, "buffer_size": 2000, "batch_size": 32,
            "action_noise_std": 0.1, "policy_kwargs": {"net_arch": [16, 16]}},
}


def _config(tmp_path: Path, algo: str) -> str:
    import yaml
    p = tmp_path / f"{algo}.yml"
    p.write_text(yaml.safe_dump({"default": TINY[algo]}))
    return str(p)


def _args(tmp_path: Path, algo: str, **kw) -> tr.Args:
    base = dict(algo=algo, scenario="calm", timesteps=256, num_envs=2, seed=0, out=str(tmp_path / "run"),
                config=_config(tmp_path, algo), eval_freq=128, eval_episodes=2, checkpoint_freq=128,
                final_episodes=0, progress=False)
    base.update(kw)
    return tr.Args(**base)


def test_hyperparameters_merge_the_scenario_section_and_validate(tmp_path):
    hp = tr.hyperparameters("ppo", "feb2024")
    assert hp["gamma"] == 0.999 and hp["n_steps"] == 256  # scenario over default
    assert tr.hyperparameters("ppo", "calm")["gamma"] == 0.99
    bad = tmp_path / "bad.yml"
    bad.write_text("default:\n  n_stepz: 5\n")
    with pytest.raises(ValueError, match="n_stepz"):
        tr.hyperparameters("ppo", "calm", str(bad))
    bad.write_text("default:\n  seed: 5\n")
    with pytest.raises(ValueError, match="seed"):
        tr.hyperparameters("ppo", "calm", str(bad))
    bad.write_text("default: [1, 2\n")
    with pytest.raises(ValueError, match="YAML"):
        tr.hyperparameters("ppo", "calm", str(bad))
    with pytest.raises(ValueError, match="not found"):
        tr.hyperparameters("ppo", "calm", str(tmp_path / "missing.yml"))
    with pytest.raises(ValueError, match="algo"):
        tr.hyperparameters("dqn", "calm")


def test_parse_seeds_and_env_kwargs():
    assert tr.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert tr.parse_seeds("0,2,7") == [0, 2, 7]
    for bad in ("", "3-1", "a", "1,1"):
        with pytest.raises(ValueError, match="--seeds"):
            tr.parse_seeds(bad)
    assert tr.parse_env_kwargs(["leverage=3", "shock_day_range=[5, 20]"]) == {"leverage": 3, "shock_day_range": [5, 20]}
    assert tr.parse_env_kwargs(["risk_aversion=1e-05", "scenario_name=x"]) == {"risk_aversion": 1e-5, "scenario_name": "x"}
    with pytest.raises(ValueError, match="key=value"):
        tr.parse_env_kwargs(["leverage"])


@pytest.mark.parametrize("algo", ["ppo", "sac", "td3"])
def test_each_algorithm_trains_resumes_saves_and_loads(tmp_path, algo):
    res = tr.main(_args(tmp_path, algo))
    run = tmp_path / "run"
    assert res["timesteps"] == 256 and len(res["evaluations"]) == 2
    for name in ("config.yaml", "versions.json", "results.json", "best_model.zip", "best_model.meta.json",
                 "final_model.zip", "checkpoints/ckpt_256.zip"):
        assert (run / name).is_file(), name
    assert list((run / "tb").rglob("events.out.tfevents*")), "no TensorBoard log"
    versions = json.loads((run / "versions.json").read_text())
    assert versions["stable_baselines3"] != "not installed" and versions["torch"] != "not installed"
    normalized = algo == "ppo"
    assert (run / "final_model.vecnormalize.pkl").is_file() == normalized
    # resume: the step count, the normalisation statistics and the weights carry on
    pol = agents.load(run / "checkpoints" / "ckpt_256.zip")
    assert pol.num_timesteps == 256
    res2 = tr.main(tr.Args(resume=str(run), timesteps=384, progress=False))
    assert res2["timesteps"] == 384 and (run / "checkpoints" / "ckpt_384.zip").is_file()
    final = agents.load(run / "final_model.zip")
    assert final.num_timesteps == 384 and final.algo == algo and final.scenario == "calm"
    if normalized:
        import pickle
        n256 = pickle.loads((run / "checkpoints" / "ckpt_256.vecnormalize.pkl").read_bytes())
        n384 = pickle.loads((run / "final_model.vecnormalize.pkl").read_bytes())
        assert n384.obs_rms.count > n256.obs_rms.count  # the statistics kept accumulating
    obs = np.tile(final.observation_space.sample(), (3, 1))
    act, _ = final.predict(obs)
    assert act.shape == (3, 8) and np.all(np.abs(act) <= 1.0)
    with pytest.raises(ValueError, match="already has 384"):
        tr.main(tr.Args(resume=str(run), timesteps=300, progress=False))


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    def weights(seed, sub):
        tr.main(_args(tmp_path, "ppo", seed=seed, out=str(tmp_path / sub), eval_freq=0, checkpoint_freq=0))
        model = agents.load(tmp_path / sub / "final_model.zip").model
        return [p.detach().numpy().copy() for p in model.policy.parameters()]

    a, b, c = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_several_seeds_report_mean_and_interval(tmp_path, capsys):
    summary = tr.main(_args(tmp_path, "ppo", seeds="0-1", timesteps=128, eval_freq=0, checkpoint_freq=0,
                            final_episodes=2))
    assert summary["seeds"] == [0, 1]
    for s in (0, 1):
        assert (tmp_path / "run" / f"seed_{s}" / "eval" / "summary.csv").is_file()
    nav = summary["across_seeds"]["nav_mean"]
    assert nav["n"] == 2 and np.isfinite(nav["mean"]) and np.isfinite(nav["ci95"])
    assert "95% CI across seeds" in capsys.readouterr().out


def test_bad_arguments_raise_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="leverage"):
        tr.main(_args(tmp_path, "ppo", env_kwargs=["leverage=99"]))
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="no config.yaml"):
        tr.main(tr.Args(resume=str(tmp_path), timesteps=10, progress=False))


def test_a_run_with_env_overrides_gets_its_final_table_on_those_overrides(tmp_path):
    """The final table plays the run's --env-kwargs (training.evaluate --env-kwargs), so a model
    trained with overrides is compared with the baselines on the same market."""
    res = tr.main(_args(tmp_path, "ppo", env_kwargs=["leverage=3.0"], timesteps=128, eval_freq=0,
                        checkpoint_freq=0, final_episodes=2))
    assert set(res["final"]) >= {"hold", "dump", "ppo"}
    from training import evaluate as ev
    with pytest.raises(ValueError, match="overrides"):
        ev.evaluate(ev.Args(scenario="calm", policies=f"ppo:{tmp_path / 'run' / 'best_model.zip'}", episodes=2,
                            out="", progress=False))
    assert ev.parse(["--env-kwargs", "leverage=3.0"]).env_kwargs == {"leverage": 3.0}


class _Zero:
    """A stand-in model: always the zero action."""

    def __init__(self, act_dim):
        self.act_dim = act_dim

    def predict(self, obs, deterministic=True):
        return np.zeros((obs.shape[0], self.act_dim), np.float32), None


def test_the_evaluation_score_is_the_mean_return_the_agent_trains_on():
    ac = tr.evaluate_model(_Zero(1), None, "almgren_chriss", {}, episodes=3, seed=5)
    assert ac["score"] == ac["mean_return"] and np.isnan(ac["mean_nav"]) and np.isnan(ac["liquidation_rate"])
    mk = tr.evaluate_model(_Zero(8), None, "feb2024", {}, episodes=6, seed=5)
    # in the market the return is the mean log NAV: below the log of the mean NAV (Jensen), and
    # strictly so when the episodes' NAVs differ
    assert mk["score"] == mk["mean_return"] < math.log(mk["mean_nav"]) and np.isfinite(mk["liquidation_rate"])


def test_a_liquidation_bound_selects_within_it_and_its_multiplier_survives_resume(tmp_path):
    """With --max-liquidation the best model is the best-scoring evaluation within the bound (the
    best-scoring one while none is), the multiplier is logged with every evaluation and saved with
    every checkpoint, and --resume continues from the saved multiplier."""
    res = tr.main(_args(tmp_path, "ppo", scenario="feb2024", timesteps=512,
                        eval_freq=128, eval_episodes=8, max_liquidation=0.2, lagrange_lr=0.5))
    run = tmp_path / "run"
    ev = res["evaluations"]
    assert len(ev) == 4 and all(e["liquidation_multiplier"] >= 0 for e in ev)
    key = [(e["liquidation_rate"] <= 0.2, e["score"]) for e in ev]
    best = json.loads((run / "best_score.json").read_text())
    assert (best["feasible"], best["score"]) == max(key) and best["timesteps"] == ev[key.index(max(key))]["timesteps"]
    saved = json.loads((run / "checkpoints" / "ckpt_512.constraint.json").read_text())["liquidation_multiplier"]
    assert math.isfinite(saved) and saved >= 0.0
    # in calm, with a bound of 0, no episode moves the multiplier: a resumed run keeps the saved value
    calm = tmp_path / "calm"
    tr.main(_args(tmp_path, "ppo", out=str(calm), max_liquidation=0.0))
    assert json.loads((calm / "checkpoints" / "ckpt_256.constraint.json").read_text())["liquidation_multiplier"] == 0.0
    (calm / "checkpoints" / "ckpt_256.constraint.json").write_text(json.dumps({"liquidation_multiplier": 1.25}))
    again = tr.main(tr.Args(resume=str(calm), timesteps=384, progress=False))
    assert again["evaluations"][-1]["liquidation_multiplier"] == 1.25
    assert json.loads((calm / "checkpoints" / "ckpt_384.constraint.json").read_text())["liquidation_multiplier"] == 1.25
    with pytest.raises(ValueError, match="max-liquidation"):
        tr.main(_args(tmp_path, "ppo", out=str(tmp_path / "bad"), max_liquidation=1.0))
    assert not (tmp_path / "bad").exists()
