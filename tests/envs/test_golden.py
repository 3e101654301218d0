"""Recorded rollouts reproduced bit for bit: single envs of every scenario (fixed seeds and
actions) and a threaded 9-env vector env with next-step autoresets; observations, rewards,
termination flags and every info value.

The recording (``tests/data/golden_rollouts.npz``) is the contract that refactors of the engine
keep trajectories unchanged. Rewrite it only for an intended change of the dynamics:
``python tests/envs/test_golden.py --record``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from envtools import make, make_vec  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "golden_rollouts.npz"
SINGLE = (("feb2024", 11), ("calm", 12), ("almgren_chriss", 13))
VECTOR = ("feb2024", 9, 21, 130)  # scenario, envs (threaded), seed, steps (spans autoresets)


def _info_arrays(info: dict, keys: list[str]) -> list[np.ndarray]:
    return [np.asarray(info[k], np.float64).ravel() for k in keys]


def record_single(scenario: str, seed: int) -> dict[str, np.ndarray]:
    env = make(scenario)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    keys = sorted(info)
    out = {"obs": [obs], "reward": [], "terminated": [], "info": [np.concatenate(_info_arrays(info, keys))]}
    last_keys = keys
    while True:
        a = rng.uniform(-1.1, 1.1, env.action_space.shape).astype(np.float32)  # some clipped
        obs, r, term, trunc, info = env.step(a)
        last_keys = sorted(info)
        out["obs"].append(obs)
        out["reward"].append(r)
        out["terminated"].append(term)
        out["info"].append(np.concatenate(_info_arrays(info, keys)))
        if term or trunc:
            break
    res = {k: np.array(v) for k, v in out.items()}
    res["final_info_keys"] = np.array(last_keys)
    if "implementation_shortfall" in info:
        res["shortfall"] = np.array([info["implementation_shortfall"]])
    return res


def record_vector(scenario: str, n: int, seed: int, steps: int) -> dict[str, np.ndarray]:
    venv = make_vec(n, scenario)
    rng = np.random.default_rng(seed)
    obs, info = venv.reset(seed=seed)
    keys = sorted(k for k in info if not k.startswith("_"))
    out = {"obs": [obs], "reward": [], "terminated": [], "info": [np.concatenate(_info_arrays(info, keys))]}
    for _ in range(steps):
        a = rng.uniform(-1.0, 1.0, venv.action_space.shape).astype(np.float32)
        obs, r, term, trunc, info = venv.step(a)
        out["obs"].append(obs)
        out["reward"].append(r)
        out["terminated"].append(term)
        out["info"].append(np.concatenate(_info_arrays(info, keys)))
    venv.close()
    return {k: np.array(v) for k, v in out.items()}


def record_all() -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for scenario, seed in SINGLE:
        for k, v in record_single(scenario, seed).items():
            flat[f"single/{scenario}/{k}"] = v
    for k, v in record_vector(*VECTOR).items():
        flat[f"vector/{VECTOR[0]}/{k}"] = v
    return flat


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(DATA) as z:
        return dict(z)


def _assert_equal(got: dict[str, np.ndarray], want: dict[str, np.ndarray], prefix: str) -> None:
    names = sorted(k[len(prefix):] for k in want if k.startswith(prefix))
    assert names and set(names) == set(got), f"{prefix}: recorded {names}, got {sorted(got)}"
    for k in names:
        w, g = want[prefix + k], got[k]
        assert g.shape == w.shape, f"{prefix}{k}: shape {g.shape} vs recorded {w.shape}"
        assert g.dtype == w.dtype and g.tobytes() == w.tobytes(), \
            f"{prefix}{k}: differs from the recording (first at {np.argwhere(g != w)[:1].tolist()})"


@pytest.mark.parametrize("scenario,seed", SINGLE)
def test_single_env_reproduces_recording(golden, scenario, seed):
    _assert_equal(record_single(scenario, seed), golden, f"single/{scenario}/")


def test_threaded_vector_env_reproduces_recording(golden):
    _assert_equal(record_vector(*VECTOR), golden, f"vector/{VECTOR[0]}/")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/envs/test_golden.py --record")
    DATA.parent.mkdir(exist_ok=True)
    np.savez_compressed(DATA, **record_all())
    print(f"wrote {DATA} ({DATA.stat().st_size / 1024:.0f} KiB)")
