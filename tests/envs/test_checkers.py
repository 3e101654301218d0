"""Gymnasium's and stable-baselines3's env checkers pass on every scenario without a single warning."""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from envtools import ENV_ID, SCENARIOS, make
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import PassiveEnvChecker
from stable_baselines3.common.env_checker import check_env as sb3_check_env


def _messages(record: list[warnings.WarningMessage]) -> list[str]:
    return [f"{w.category.__name__}: {w.message}" for w in record]


def _has_wrapper(env: gym.Env, cls: type) -> bool:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, cls):
            return True
        env = env.env
    return False


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_checkers_pass_without_warnings(scenario):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        env = make(scenario)
        check_env(env.unwrapped)
        sb3_check_env(env)
        for mode in ("ansi", "rgb_array"):
            check_env(make(scenario, render_mode=mode).unwrapped)  # also renders once
    assert _messages(record) == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_gym_make_passive_checker_whole_episode_without_warnings(scenario):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        env = gym.make(ENV_ID, scenario=scenario)  # default: disable_env_checker=False
        assert _has_wrapper(env, PassiveEnvChecker)
        env.action_space.seed(0)
        for seed in (0, 1):
            obs, _ = env.reset(seed=seed)
            assert env.observation_space.contains(obs)
            for _ in range(1000):
                obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                assert env.observation_space.contains(obs) and np.isfinite(reward)
                if terminated or truncated:
                    break
            assert terminated or truncated
    assert _messages(record) == []
