"""``python -m training.stampede``: populations of managers in the same seeded markets, against
their frozen-book counterfactual."""
from __future__ import annotations

import json

import numpy as np
import pytest

import dma_gym
from dma_gym import Engine
from training import stampede as st
from training.calibrate import passive_config

KW = ["warmup_days_range=[0,0]", "horizon_days=8", "shock_day_range=[0,7]", "trend_start_range=[0,7]"]
CFG = dict(warmup_days_range=(0, 0), horizon_days=8, shock_day_range=(0, 7), trend_start_range=(0, 7))


def _args(tmp_path, **kw) -> st.Args:
    base = dict(populations="heuristic,dump", episodes=4, seed=3, env_kwargs=list(KW), out=str(tmp_path / "out"))
    base.update(kw)
    return st.Args(**base)


def test_the_table_is_what_the_markets_did(tmp_path):
    res = st.main(_args(tmp_path))
    cfg = dma_gym.scenarios.get("feb2024", **CFG)
    # the heuristic population is the scenario's own market, no learner
    eng = Engine(cfg, 4, learners=())
    eng.reset(seed=3)
    while not eng.state.done.all():
        eng.step(None)
    dd = 1 - eng.state.tier_level[:, st.MICRO]
    assert res["rows"]["heuristic"]["micro_dd"]["mean"] == pytest.approx(dd.mean(), rel=1e-12)
    assert res["rows"]["heuristic"]["liquidated"]["mean"] == pytest.approx(eng.state.liquidated.mean(), rel=1e-12)
    # the counterfactual: DMA books frozen, no margin ladder
    frozen = st.play(passive_config(cfg), None, 4, 3, frozen=True)
    assert res["counterfactual_micro_dd"]["mean"] == pytest.approx(frozen["micro_dd"].mean(), rel=1e-12)
    for row in res["rows"].values():
        assert row["amplification"]["mean"] == pytest.approx(row["micro_dd"]["mean"] / frozen["micro_dd"].mean())
        assert 0 <= row["liquidated"]["mean"] <= 1 and np.isfinite(row["aggregate_nav"]["ci95"])
    rows = res["rows"]
    for k in ("micro_dd", "liquidated", "aggregate_nav"):  # paired against the first population
        assert rows["dump"]["paired"][k]["mean"] == pytest.approx(rows["dump"][k]["mean"] - rows["heuristic"][k]["mean"])
        assert rows["heuristic"]["paired"][k] == {"mean": 0.0, "ci95": 0.0}
    # dumping every book sells more into the crash than the frozen books: amplification above 1
    assert res["rows"]["dump"]["amplification"]["mean"] > 1.0
    saved = json.loads((tmp_path / "out" / "stampede.json").read_text())
    assert set(saved["rows"]) == {"heuristic", "dump"} and (tmp_path / "out" / "stampede.png").is_file()


def test_a_saved_model_is_a_population(tmp_path):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from agents.trained import save
    from dma_gym.adapters.sb3 import make_sb3_vec_env

    model = PPO("MlpPolicy", make_sb3_vec_env(1, "calm"), n_steps=16, batch_size=16, seed=0, device="cpu",
                policy_kwargs={"net_arch": [8]})
    path = save(model, tmp_path / "m.zip", algo="ppo", scenario="calm", env_kwargs={})
    res = st.main(_args(tmp_path, populations=f"mine:{path}", out=""))
    assert set(res["rows"]) == {"mine"}


@pytest.mark.parametrize("kw, match", [
    ({"populations": "heuristic,nash"}, "unknown population 'nash'"),
    ({"populations": "bogus"}, "unknown population"),
    ({"episodes": 1}, "at least 2"),
    ({"scenario": "almgren_chriss", "env_kwargs": []}, "market scenario"),
])
def test_bad_arguments_are_named(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        st.main(_args(tmp_path, **kw))
