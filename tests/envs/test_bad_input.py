"""Bad actions raise a ValueError naming the problem and change nothing; out-of-range actions are
clipped, counted in ``info["action_clipped"]`` and move the market exactly as the clipped action."""
from __future__ import annotations

import numpy as np
import pytest
from envtools import assert_same_info, assert_same_step, buffers, make, make_vec, random_actions


def _nan():
    a = np.zeros(8, np.float32)
    a[3] = np.nan
    return a


def _inf(sign):
    def f():
        a = np.zeros(8)
        a[6] = sign * np.inf
        return a
    return f


BAD = {
    "nan": (_nan, "NaN"),
    "inf": (_inf(1), "inf"),
    "-inf": (_inf(-1), "inf"),
    "shape (7,)": (lambda: np.zeros(7, np.float32), r"shape \(7,\)"),
    "shape (9,)": (lambda: np.zeros(9), r"shape \(9,\)"),
    "shape (2, 8)": (lambda: np.zeros((2, 8), np.float32), r"shape \(2, 8\)"),
    "shape (2, 4)": (lambda: np.zeros((2, 4), np.float32), r"shape \(2, 4\)"),  # 8 values, wrong shape
    "shape (1, 8)": (lambda: np.zeros((1, 8), np.float32), r"shape \(1, 8\)"),
    "scalar": (lambda: 0.5, r"shape \(\)"),
    "None": (lambda: None, "shape|NaN"),
    "string": (lambda: "sell everything", "numeric"),
    "strings": (lambda: ["a"] * 8, "numeric"),
    "dict": (lambda: {"CSI300": -1.0}, "numeric"),
    "ragged": (lambda: [[0.0] * 5, [0.0] * 3], "numeric"),
}


def _pair(scenario="feb2024", seed=4, warm=3):
    """Two identical envs a few steps into an episode."""
    envs = [make(scenario), make(scenario)]
    acts = random_actions(envs[0].action_space.shape, warm, 9)
    for env in envs:
        env.reset(seed=seed)
        for a in acts:
            env.step(a)
    return envs


@pytest.mark.parametrize("name", list(BAD))
def test_bad_action_raises_and_leaves_env_unchanged(name):
    env, twin = _pair()
    bad, phrase = BAD[name]
    b = env.unwrapped.engine._io
    before = buffers(env), b.prev.copy(), b.clipped.copy()
    with pytest.raises(ValueError, match=phrase):
        env.step(bad())
    assert buffers(env) == before[0], "state buffers changed"
    np.testing.assert_array_equal(b.prev, before[1])
    np.testing.assert_array_equal(b.clipped, before[2])
    good = random_actions((8,), 2, 77)
    for a in good:  # the failed call left no trace: the env still follows its twin
        assert_same_step(env.step(a), twin.step(a), f"after {name}")


@pytest.mark.parametrize("bad, phrase", [
    (np.full((4, 8), np.nan), "NaN"),
    (np.zeros((4, 7)), r"shape \(4, 7\)"),
    (np.zeros((8, 4)), r"shape \(8, 4\)"),  # transposed: right size, wrong shape
    (np.zeros(32), r"shape \(32,\)"),
    ("x", "numeric"),
])
def test_vector_bad_action_raises_and_leaves_env_unchanged(bad, phrase):
    venv, twin = make_vec(4), make_vec(4)
    acts = random_actions((4, 8), 3, 2)
    for v in (venv, twin):
        v.reset(seed=1)
        v.step(acts[0])
    before = buffers(venv)
    with pytest.raises(ValueError, match=phrase):
        venv.step(bad)
    assert buffers(venv) == before
    for a in acts[1:]:
        x, y = venv.step(a), twin.step(a)
        assert x[0].tobytes() == y[0].tobytes() and np.array_equal(x[1], y[1])


@pytest.mark.parametrize("action, count", [
    ([1.5, -2.0, 0.3, 1.0, -1.0, 7.0, 0.0, 0.0], 3),  # exactly +-1 is in range
    ([1.0001, -1.0001, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 2),
    ([5.0] * 8, 8),
    ([-1e6] * 4 + [1e6] * 4, 8),
    ([0.2, -0.9, 1.0, -1.0, 0.0, 0.5, -0.5, 0.99], 0),
])
def test_out_of_range_actions_are_clipped_and_counted(action, count):
    env, twin = _pair()
    a = np.array(action, np.float32)
    x = env.step(a)
    y = twin.step(np.clip(a, -1.0, 1.0))
    assert x[-1]["action_clipped"] == count
    assert y[-1]["action_clipped"] == 0
    same = dict(x[-1], action_clipped=0)
    assert_same_step(x[:-1] + (same,), y, "clipped vs pre-clipped")
    nxt = random_actions((8,), 1, 5)[0]
    assert env.step(nxt)[-1]["action_clipped"] == 0  # counts one step, not cumulative
    assert_same_info(env.unwrapped.engine.info_dict(0), twin.step(nxt)[-1])


def test_almgren_chriss_clipping_and_vector_counts():
    env, twin = _pair("almgren_chriss", warm=1)
    x = env.step(np.array([-3.0], np.float32))
    y = twin.step(np.array([-1.0], np.float32))
    assert x[-1]["action_clipped"] == 1 and x[1] == y[1] and x[0].tobytes() == y[0].tobytes()
    venv = make_vec(3)
    venv.reset(seed=0)
    a = np.zeros((3, 8), np.float32)
    a[0, :2] = 2.0
    a[2, :] = -1.5
    _, _, _, _, info = venv.step(a)
    np.testing.assert_array_equal(info["action_clipped"], [2, 0, 8])
