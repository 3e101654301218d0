"""agents.trained: saved SB3 models load back as policies that act exactly as in training, damaged
files are named, and training.evaluate plays them beside the baselines."""
from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
from stable_baselines3 import A2C, PPO, SAC, TD3  # noqa: E402
from stable_baselines3.common.vec_env import VecNormalize  # noqa: E402

import agents  # noqa: E402
from agents.trained import FORMAT, TrainedPolicy, save  # noqa: E402
from dma_gym.adapters.sb3 import make_sb3_vec_env  # noqa: E402
from dma_gym.envs.vector_env import DMAUnwindVectorEnv  # noqa: E402
from training.evaluate import Args, evaluate  # noqa: E402

ALGOS = {"ppo": PPO, "sac": SAC, "td3": TD3}


def _observations(scenario: str = "calm", n: int = 16, steps: int = 3) -> np.ndarray:
    """(n * (steps + 1), obs_dim) raw observations of seeded episodes, pushed a few steps by random
    actions so that they are not all the start state."""
    venv = DMAUnwindVectorEnv(num_envs=n, scenario=scenario)
    obs, _ = venv.reset(seed=list(range(n)))
    rng = np.random.default_rng(0)
    out = [obs]
    for _ in range(steps):
        obs, *_ = venv.step(rng.uniform(-1, 1, (n, *venv.single_action_space.shape)).astype(np.float32))
        out.append(obs)
    venv.close()
    return np.concatenate(out)


def _model(algo: str, scenario: str = "calm", venv=None):
    venv = make_sb3_vec_env(1, scenario) if venv is None else venv
    kw = {} if algo == "ppo" else {"buffer_size": 100, "learning_starts": 0}
    return ALGOS[algo]("MlpPolicy", venv, seed=0, device="cpu", **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A PPO trained 128 steps under VecNormalize on calm, saved with its statistics."""
    venv = VecNormalize(make_sb3_vec_env(2, "calm"))
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu").learn(128)
    path = save(model, tmp_path_factory.mktemp("ppo") / "best_model", algo="ppo", scenario="calm",
                env_kwargs={}, vec_normalize=venv, seed=0)
    return path, model, venv


@pytest.fixture
def copy(trained, tmp_path):
    """A private copy of the saved files (zip, meta, statistics) to damage."""
    src = trained[0]
    for f in src.parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / src.name


def test_saved_files_and_meta(trained):
    path, model, venv = trained
    assert path.name == "best_model.zip"  # the suffix was added
    assert sorted(f.name for f in path.parent.iterdir()) == [
        "best_model.meta.json", "best_model.vecnormalize.pkl", "best_model.zip"]  # no temporary left
    meta = json.loads(path.with_name("best_model.meta.json").read_text())
    assert meta["format"] == FORMAT and meta["algo"] == "ppo" and meta["scenario"] == "calm"
    assert meta["env_kwargs"] == {} and meta["seed"] == 0 and meta["num_timesteps"] == 128
    assert meta["observation_shape"] == [61] and meta["action_shape"] == [8]
    assert meta["vecnormalize"] == "best_model.vecnormalize.pkl"
    assert set(meta["versions"]) == {"dma_gym", "stable_baselines3", "torch", "numpy", "gymnasium"}


def test_loaded_policy_acts_as_the_model_on_normalised_observations(trained):
    path, model, venv = trained
    policy = agents.load(path)
    assert isinstance(policy, TrainedPolicy) and isinstance(policy, agents.Policy)
    assert (policy.name, policy.algo, policy.scenario, policy.num_timesteps) == ("ppo", "ppo", "calm", 128)
    assert policy.config == __import__("dma_gym").scenarios.get("calm") and policy.path == path
    assert "ppo" in repr(policy) and "calm" in repr(policy) and "VecNormalize" in repr(policy)
    obs = _observations()
    np.testing.assert_array_equal(policy.normalize(obs), venv.normalize_obs(obs))
    act, state = policy.predict(obs)
    expected, _ = model.predict(venv.normalize_obs(obs), deterministic=True)
    assert act.dtype == np.float32 and act.shape == (obs.shape[0], 8) and state is None
    np.testing.assert_array_equal(act, expected)
    # the statistics matter: the raw observations give other actions
    assert not np.array_equal(model.predict(obs, deterministic=True)[0], act)
    single, _ = policy.predict(obs[5])
    assert single.shape == (8,)
    np.testing.assert_allclose(single, act[5], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("algo", ["ppo", "sac", "td3"])
def test_round_trip_without_normalisation(algo, tmp_path):
    model = _model(algo)
    path = save(model, tmp_path / f"{algo}.zip", algo=algo, scenario="calm", env_kwargs={"leverage": 3.0})
    assert not (tmp_path / f"{algo}.vecnormalize.pkl").exists()
    policy = agents.load(path, name="mine")
    assert isinstance(policy.model, ALGOS[algo]) and policy.obs_mean is None
    assert policy.name == "mine" and policy.algo == algo and policy.env_kwargs == {"leverage": 3.0}
    assert policy.config.leverage == 3.0
    obs = _observations(n=4, steps=1)
    np.testing.assert_array_equal(policy.predict(obs)[0], model.predict(obs, deterministic=True)[0])


def test_reward_only_normalisation_loads_and_leaves_observations_raw(tmp_path):
    """VecNormalize(norm_obs=False) keeps no observation statistics (no ``obs_rms``): the loader
    must read the unpickled wrapper's own attributes (its ``__getattr__`` would recurse)."""
    venv = VecNormalize(make_sb3_vec_env(1, "calm"), norm_obs=False, norm_reward=True)
    model = _model("ppo", venv=venv)
    path = save(model, tmp_path / "r.zip", algo="ppo", scenario="calm", env_kwargs={}, vec_normalize=venv)
    assert (tmp_path / "r.vecnormalize.pkl").is_file()
    policy = agents.load(path)
    assert policy.obs_mean is None
    obs = _observations(n=4, steps=1)
    np.testing.assert_array_equal(policy.predict(obs)[0], model.predict(obs, deterministic=True)[0])


def test_resave_without_statistics_removes_the_old_ones(trained, copy):
    model = agents.load(copy).model
    save(model, copy, algo="ppo", scenario="calm", env_kwargs={})
    assert not copy.with_name("best_model.vecnormalize.pkl").exists()
    assert agents.load(copy).obs_mean is None


def test_without_meta_the_algorithm_is_read_from_the_zip(copy, tmp_path):
    copy.with_name("best_model.meta.json").unlink()
    policy = agents.load(copy)
    assert policy.algo == "ppo" and policy.scenario is None and policy.config is None and policy.meta is None
    copy.with_name("best_model.meta.json").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable"):
        assert agents.load(copy).algo == "ppo"
    for algo in ("sac", "td3"):
        _model(algo).save(tmp_path / f"{algo}_bare.zip")
        assert agents.load(tmp_path / f"{algo}_bare.zip").algo == algo


def test_a2c_without_meta_cannot_be_told_apart(tmp_path):
    A2C("MlpPolicy", make_sb3_vec_env(1, "calm"), device="cpu").save(tmp_path / "a2c.zip")
    with pytest.raises(ValueError) as exc:
        agents.load(tmp_path / "a2c.zip")
    msg = str(exc.value)
    assert str(tmp_path / "a2c.zip") in msg and "cannot tell which algorithm" in msg and "A2C" in msg


def _edit_meta(copy: Path, **changes) -> Path:
    meta_path = copy.with_name("best_model.meta.json")
    meta = json.loads(meta_path.read_text())
    meta.update(changes)
    meta_path.write_text(json.dumps(meta))
    return meta_path


def _rezip(copy: Path, replace: dict[str, bytes]) -> None:
    with zipfile.ZipFile(copy) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members.update(replace)
    with zipfile.ZipFile(copy, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def _damage(kind: str, copy: Path) -> tuple[Path, str]:
    """Damage the copy in one way; returns (the path the message must name, a needle of it)."""
    data = copy.read_bytes()
    vn = copy.with_name("best_model.vecnormalize.pkl")
    if kind == "missing":
        return copy.with_name("nope.zip"), "no such model file"
    if kind == "empty":
        copy.write_bytes(b"")
        return copy, "not a zip file"
    if kind == "truncated":
        copy.write_bytes(data[: len(data) // 2])
        return copy, "not a zip file, or a truncated"
    if kind == "not_a_zip":
        copy.write_bytes(np.random.default_rng(0).bytes(4096))
        return copy, "not a zip file"
    if kind == "unrelated_zip":
        with zipfile.ZipFile(copy, "w") as z:
            z.writestr("notes.txt", "hello")
        return copy, "no 'data' member"
    if kind == "crc":
        with zipfile.ZipFile(copy) as z:
            info = z.getinfo("policy.pth")
        raw = bytearray(data)
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        raw[start + info.compress_size // 2] ^= 0xFF
        copy.write_bytes(bytes(raw))
        return copy, "damaged"
    if kind == "bad_weights":
        _rezip(copy, {"policy.pth": b"not torch"})
        return copy, "stable-baselines3 could not load it"
    if kind == "meta_shapes":
        return _edit_meta(copy, observation_shape=[60]), "observation_shape (60,)"
    if kind == "meta_algo":
        return _edit_meta(copy, algo="sac"), "algo 'sac'"
    if kind == "meta_format":
        return _edit_meta(copy, format="dma_gym-sb3/9"), "format 'dma_gym-sb3/9'"
    if kind == "meta_scenario":
        return _edit_meta(copy, scenario="mars"), "unknown scenario 'mars'"
    if kind == "meta_missing_key":
        meta_path = copy.with_name("best_model.meta.json")
        meta = json.loads(meta_path.read_text())
        del meta["action_shape"]
        meta_path.write_text(json.dumps(meta))
        return meta_path, "missing keys ['action_shape']"
    if kind == "vecnormalize_missing":
        vn.unlink()
        return copy.with_name("best_model.meta.json"), "does not exist"
    if kind == "vecnormalize_corrupt":
        vn.write_bytes(vn.read_bytes()[:40])
        return vn, "cannot be unpickled"
    if kind == "vecnormalize_other_object":
        vn.write_bytes(pickle.dumps({"mean": 0}))
        return vn, "not a stable_baselines3 VecNormalize"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", [
    "missing", "empty", "truncated", "not_a_zip", "unrelated_zip", "crc", "bad_weights", "meta_shapes",
    "meta_algo", "meta_format", "meta_scenario", "meta_missing_key", "vecnormalize_missing",
    "vecnormalize_corrupt", "vecnormalize_other_object",
])
def test_damaged_files_are_named(kind, copy):
    agents.load(copy)  # intact before the damage
    named, needle = _damage(kind, copy)
    target = copy.with_name("nope.zip") if kind == "missing" else copy
    with pytest.raises(ValueError) as exc:
        agents.load(target)
    msg = str(exc.value)
    assert str(named) in msg and needle in msg, msg


@pytest.mark.parametrize("obs, needle", [
    (np.zeros(60), "shape (60,)"),
    (np.zeros((2, 3)), "shape (2, 3)"),
    (np.full(61, np.nan), "NaN or inf"),
    (np.full(61, -50.0), "outside the observation space"),
    ("abc", "must be numeric"),
])
def test_predict_rejects_bad_observations(trained, obs, needle):
    policy = agents.load(trained[0])
    with pytest.raises(ValueError, match=None) as exc:
        policy.predict(obs)
    assert needle in str(exc.value)


def test_save_rejects_bad_arguments(trained, tmp_path):
    _, model, venv = trained
    for kwargs, needle in [
        (dict(algo="sac", scenario="calm", env_kwargs={}), "model is a PPO"),
        (dict(algo="a2c", scenario="calm", env_kwargs={}), "algo='a2c'"),
        (dict(algo="ppo", scenario="mars", env_kwargs={}), "unknown scenario 'mars'"),
        (dict(algo="ppo", scenario="calm", env_kwargs={"warp": 1}), "warp"),
        (dict(algo="ppo", scenario="calm", env_kwargs={}, vec_normalize=venv.venv), "VecNormalize"),
    ]:
        with pytest.raises(ValueError) as exc:
            save(model, tmp_path / "m.zip", **kwargs)
        assert needle in str(exc.value), (kwargs, str(exc.value))
    assert list(tmp_path.iterdir()) == []  # nothing written on bad arguments


def _single_env_navs(policy, scenario: str, seeds: list[int]) -> np.ndarray:
    """Final NAV of each seeded episode of ``policy`` in a plain gym env, stepped one at a time."""
    navs = []
    env = gym.make("DMAUnwind-v0", scenario=scenario)
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            action, _ = policy.predict(obs)
            obs, _, term, trunc, info = env.step(action)
            done = term or trunc
        navs.append(info["nav"])
    env.close()
    return np.asarray(navs)


def test_evaluate_plays_a_saved_model_beside_the_baselines(trained):
    path = trained[0]
    args = Args(scenario="calm", policies=f"hold,ppo:{path}", episodes=4, seed=3, num_envs=4, out="", progress=False)
    hold, ppo = evaluate(args)
    assert hold.name == "hold" and ppo.name == "ppo"
    assert np.all(np.isfinite(ppo.final_nav)) and not np.array_equal(ppo.final_nav, hold.final_nav)
    np.testing.assert_allclose(ppo.final_nav, _single_env_navs(agents.load(path), "calm", [3, 4, 5, 6]),
                               rtol=1e-9)
    again = evaluate(args)[1]
    np.testing.assert_array_equal(again.final_nav, ppo.final_nav)
    # other batches: torch's batched kernels may round the network's outputs differently
    two = evaluate(Args(scenario="calm", policies=f"ppo:{path}", episodes=4, seed=3, num_envs=2, out="",
                        progress=False))[0]
    np.testing.assert_allclose(two.final_nav, ppo.final_nav, rtol=1e-7)


def test_evaluate_rejects_a_model_of_another_scenario(trained, tmp_path):
    ac = save(_model("ppo", "almgren_chriss"), tmp_path / "ac.zip", algo="ppo", scenario="almgren_chriss",
              env_kwargs={})
    with pytest.raises(ValueError) as exc:
        evaluate(Args(scenario="calm", policies=f"hold,ac:{ac}", episodes=1, num_envs=1, out="", progress=False))
    msg = str(exc.value)
    assert "'almgren_chriss'" in msg and "'calm'" in msg and "(3,)" in msg and "(61,)" in msg and str(ac) in msg
    # same shapes, other scenario: refused unless asked for
    args = Args(scenario="feb2024", policies=f"ppo:{trained[0]}", episodes=1, num_envs=1, out="", progress=False)
    with pytest.raises(ValueError) as exc:
        evaluate(args)
    assert "'calm'" in str(exc.value) and "'feb2024'" in str(exc.value) and "--cross-scenario" in str(exc.value)
    args.cross_scenario = True
    (r,) = evaluate(args)
    assert r.name == "ppo" and np.isfinite(r.final_nav).all()


@pytest.mark.parametrize("policies, needle", [
    ("hold,runs/x/best_model.zip", "give each a label, e.g. ppo:runs/x/best_model.zip"),
    ("hold,:runs/x.zip", "needs a label"),
    ("twap:runs/x.zip", "label 'twap' is a baseline's name"),
    ("a b:runs/x.zip", "label 'a b' may hold only"),
    ("ppo:", "no model path"),
    ("hold,hold", "names ['hold'] more than once"),
    ("ppo:/nonexistent/m.zip", "/nonexistent/m.zip: no such model file"),
])
def test_bad_policy_entries_are_named(policies, needle):
    with pytest.raises(ValueError) as exc:
        evaluate(Args(scenario="calm", policies=policies, episodes=1, num_envs=1, out="", progress=False))
    assert needle in str(exc.value)
