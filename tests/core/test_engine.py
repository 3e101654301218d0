"""The Engine's public contract: learners and no learners, seeding and partial resets, autoreset
in the core, read-only outputs, and clear errors that leave the state as it was."""
from __future__ import annotations

import numpy as np
import pytest

import dma_gym
from dma_gym import Engine
from dma_gym.core.enums import N_OBS

FEB = dma_gym.scenarios.get("feb2024")
AC = dma_gym.scenarios.get("almgren_chriss")


def _state_bytes(eng: Engine) -> bytes:
    return b"".join(b.tobytes() for b in eng.buf)


def test_heuristic_market_runs_to_the_horizon_with_no_learner():
    eng = Engine(FEB, 3, learners=())
    eng.reset(seed=0)
    assert eng.obs.shape == (3, 0, N_OBS) and eng.reward.shape == (3, 0)
    while not eng.state.done.all():
        eng.step(None)
    assert (eng.state.step == eng.market.steps).all()
    assert np.isfinite(eng.state.equity).all()
    with pytest.raises(ValueError, match="no learners"):
        eng.info_dict(0)
    with pytest.raises(ValueError, match="no learners"):
        eng.infos()


def test_almgren_chriss_with_no_learner_sells_at_the_last_step():
    eng = Engine(AC, 2, learners=())
    eng.reset(seed=0)
    x0 = eng.state.hold[:, 0, 0].copy()
    while not eng.state.done.all():
        eng.step(None)
    assert (eng.state.hold[:, 0, 0] == 0.0).all() and (x0 > 0).all()


def test_all_managers_learning_get_their_own_rows():
    A = FEB.n_managers
    eng = Engine(FEB, 2, learners=range(A))
    eng.reset(seed=1)
    a = np.zeros((2, A, eng.act_dim))
    a[:, 0, :5] = -1.0  # manager 0 sells everything it can; the others hold
    eng.step(a)
    sold = eng.infos()["sold_value"]
    assert sold.shape == (2, A)
    assert (sold[:, 0] > 0).all() and (sold[:, 1:] == 0).all()


def test_same_seed_same_state_and_env_i_gets_seed_plus_i():
    a, b = Engine(FEB, 3, learners=()), Engine(FEB, 1, learners=())
    a.reset(seed=10)
    b.reset(seed=12)
    for _ in range(5):
        a.step(None)
        b.step(None)
    np.testing.assert_array_equal(a.state.price[2], b.state.price[0])
    assert not np.array_equal(a.state.price[0], a.state.price[1])


def test_partial_reset_leaves_other_envs_and_their_pending_autoresets():
    eng = Engine(FEB, 3, autoreset="next_step", max_episode_steps=2)
    eng.reset(seed=0)
    act = np.zeros((3, 1, eng.act_dim))
    eng.step(act)
    eng.step(act)  # every episode truncated: all three restart at the next step
    assert eng.pending.all()
    before = eng.state.price[1:].copy()
    eng.reset(seed=[5], envs=[0])
    assert eng.state.step[0] == 0 and (eng.state.step[1:] == 2).all()
    np.testing.assert_array_equal(eng.state.price[1:], before)
    assert not eng.pending[0] and eng.pending[1:].all()
    eng.step(act)
    assert eng.state.step[0] == 1 and (eng.state.step[1:] == 0).all()  # 1, 2: reset, not stepped
    assert (eng.reward[1:] == 0).all()


def test_step_before_every_env_was_reset_raises():
    eng = Engine(FEB, 2, learners=())
    with pytest.raises(RuntimeError, match="before every env was reset"):
        eng.step(None)
    eng.reset(seed=0, envs=[1])
    with pytest.raises(RuntimeError, match=r"never reset: envs \[0\]"):
        eng.step(None)
    eng.reset(seed=0, envs=[0])
    eng.step(None)


@pytest.mark.parametrize("seed, phrase", [
    (True, "pass an int"), (1.5, "pass an int"), (-1, "non-negative int"), ("3", "pass an int"),
    ([1, 2], "got 2 seeds for 3 envs"), ([0, 1.0, 2], r"seed\[1\]"), ([0, -2, 1], r"seed\[1\]"),
])
def test_bad_seeds_raise_and_change_nothing(seed, phrase):
    eng = Engine(FEB, 3, learners=())
    eng.reset(seed=0)
    eng.step(None)
    before = _state_bytes(eng)
    with pytest.raises(ValueError, match=phrase):
        eng.reset(seed=seed)
    assert _state_bytes(eng) == before


@pytest.mark.parametrize("kwargs, phrase", [
    (dict(num_envs=0), "num_envs"), (dict(learners=(0, 0)), "distinct"), (dict(learners=(99,)), "learners"),
    (dict(autoreset="sometimes"), "autoreset"), (dict(max_episode_steps=0), "max_episode_steps"),
])
def test_bad_construction_raises(kwargs, phrase):
    args = dict(config=FEB, num_envs=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=phrase):
        Engine(**args)


def test_bad_actions_raise_and_change_nothing():
    eng = Engine(FEB, 2)
    eng.reset(seed=0)
    before = _state_bytes(eng)
    bad = np.zeros((2, 1, eng.act_dim))
    bad[1, 0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        eng.step(bad)
    with pytest.raises(ValueError, match="shape"):
        eng.step(np.zeros((2, eng.act_dim)))
    with pytest.raises(ValueError, match="learners"):
        eng.step(None)
    assert _state_bytes(eng) == before


def test_outputs_and_state_are_read_only():
    eng = Engine(FEB, 2)
    eng.reset(seed=0)
    for arr in (eng.obs, eng.reward, eng.terminated, eng.info, eng.state.price, eng.learners, eng.dims):
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = 0


def test_same_step_autoreset_keeps_the_final_outputs():
    eng = Engine(FEB, 2, autoreset="same_step", max_episode_steps=3)
    eng.reset(seed=0)
    act = np.zeros((2, 1, eng.act_dim))
    for k in range(3):
        eng.step(act)
        assert eng.final.all() == (k == 2)
    assert eng.truncated.all() and (eng.state.step == 0).all()  # restarted in the same call
    assert (eng.info_dict(0, final=True)["step"], eng.info_dict(0)["step"]) == (3, 0)
    assert not np.array_equal(eng.final_obs, eng.obs)


def test_given_shocks_replace_the_draws_and_leave_the_streams():
    a, b = Engine(FEB, 2, learners=()), Engine(FEB, 2, learners=())
    a.reset(seed=3)
    b.reset(seed=3)
    a.step(None)
    z = np.asarray(a.shocks).copy()
    b.step(None, shocks=z)  # the same shocks, given: the same step
    np.testing.assert_array_equal(a.state.price, b.state.price)
    streams = b._io.streams.copy()
    doubled = z.copy()
    doubled[:, :-b.num_managers] *= 2.0  # a harder step: every normal doubled, same priorities
    b.step(None, shocks=doubled)
    np.testing.assert_array_equal(b._io.streams, streams)  # given shocks draw nothing
    a.step(None)
    b2 = Engine(FEB, 2, learners=())
    b2.reset(seed=3)
    b2.step(None, shocks=z)
    b2.step(None)  # the stream was not advanced by the given step: its next draw is a's first
    np.testing.assert_array_equal(np.asarray(b2.shocks), z)


@pytest.mark.parametrize("make_bad, phrase", [
    (lambda z: z[:, :-1], "shape"),
    (lambda z: np.where(np.arange(z.shape[1]) == 0, np.nan, z), "NaN"),
    (lambda z: np.where(np.arange(z.shape[1]) == z.shape[1] - 1, 1.5, z), "uniforms"),
])
def test_bad_given_shocks_raise_and_change_nothing(make_bad, phrase):
    eng = Engine(FEB, 2, learners=())
    eng.reset(seed=0)
    eng.step(None)
    z = np.asarray(eng.shocks).copy()
    before, shocks_before = _state_bytes(eng), z.copy()
    with pytest.raises(ValueError, match=phrase):
        eng.step(None, shocks=make_bad(z))
    assert _state_bytes(eng) == before
    np.testing.assert_array_equal(eng.shocks, shocks_before)

