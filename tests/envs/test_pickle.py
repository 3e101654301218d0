"""Pickled or deep-copied envs, mid-episode, continue bit-identically to the original and
independently of it (their state views point into their own buffers)."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from envtools import SCENARIOS, assert_same_step, make, make_vec, random_actions

CLONES = {"pickle": lambda env: pickle.loads(pickle.dumps(env)), "deepcopy": copy.deepcopy}


def _owns_its_buffers(env, other) -> None:
    b, ob = env.unwrapped.engine, other.unwrapped.engine
    assert not np.shares_memory(b.buf.sf, ob.buf.sf)
    assert np.shares_memory(b.state.price, b.buf.sf) and np.shares_memory(b.state.step, b.buf.si)
    assert np.shares_memory(b.market.universe.price0, b.market.uf)


@pytest.mark.parametrize("how", list(CLONES))
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_single_env_clone_continues_identically(scenario, how):
    env = make(scenario)
    acts = random_actions(env.action_space.shape, 1000, 21)
    env.reset(seed=21)
    k = env.unwrapped.market.steps // 4
    for a in acts[:k]:
        env.step(a)
    clone = CLONES[how](env)
    _owns_its_buffers(clone, env)
    ended = 0
    for j, a in enumerate(acts[k:]):  # alternate the two: shared memory would show at once
        x, y = env.step(a), clone.step(a)
        assert_same_step(x, y, f"step {k + j}")
        if x[2] or x[3]:
            ended += 1
            if ended == 2:
                break
            assert_same_step(env.reset(), clone.reset(), "unseeded reset")  # the RNG was copied too
    assert ended == 2


@pytest.mark.parametrize("how", list(CLONES))
def test_vector_env_clone_continues_identically(how):
    venv = make_vec(4)
    acts = random_actions((4, 8), 150, 8)
    venv.reset(seed=3)
    for a in acts[:10]:
        venv.step(a)
    clone = CLONES[how](venv)
    _owns_its_buffers(clone, venv)
    dones = 0
    for a in acts[10:]:  # runs across autoresets (pending flags and per-env RNGs)
        x, y = venv.step(a), clone.step(a)
        for u, v in zip(x[:4], y[:4]):
            assert u.tobytes() == v.tobytes()
        assert x[4].keys() == y[4].keys()
        for key in x[4]:
            np.testing.assert_array_equal(x[4][key], y[4][key], err_msg=key)
        dones += int(x[2].sum())
    assert dones >= 4


def test_pickled_env_keeps_its_render_history():
    env = make("feb2024", render_mode="rgb_array")
    env.reset(seed=0)
    for a in random_actions(env.action_space.shape, 3, 1):
        env.step(a)
    clone = pickle.loads(pickle.dumps(env))
    assert len(clone.unwrapped._history) == len(env.unwrapped._history) == 4
    clone.step(random_actions(env.action_space.shape, 1, 2)[0])
    assert len(clone.unwrapped._history) == 5 and len(env.unwrapped._history) == 4
