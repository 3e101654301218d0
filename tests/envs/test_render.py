"""Rendering: a one-line ANSI status, an RGB dashboard that follows the episode, RecordVideo."""
from __future__ import annotations

import numpy as np
import pytest
from envtools import make, random_actions

from dma_gym.envs import DMAUnwindEnv


@pytest.mark.parametrize("scenario", ["feb2024", "almgren_chriss"])
def test_ansi_is_one_changing_line(scenario):
    env = make(scenario, render_mode="ansi")
    env.reset(seed=0)
    first = env.render()
    assert isinstance(first, str) and first and "\n" not in first
    env.step(random_actions(env.action_space.shape, 1, 0)[0])
    second = env.render()
    assert isinstance(second, str) and "\n" not in second and second != first


@pytest.mark.parametrize("scenario", ["feb2024", "almgren_chriss"])
def test_rgb_array_frame_changes_between_steps(scenario):
    env = make(scenario, render_mode="rgb_array")
    env.reset(seed=0)
    acts = random_actions(env.action_space.shape, 3, 0)
    env.step(acts[0])
    a = env.render()
    assert isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert a.shape[0] >= 100 and a.shape[1] >= 100 and a.std() > 0  # not a blank frame
    env.step(acts[1])
    env.step(acts[2])
    b = env.render()
    assert b.shape == a.shape and b.dtype == np.uint8
    assert not np.array_equal(a, b)


def test_render_without_mode_warns_and_bad_mode_raises():
    env = make("feb2024").unwrapped
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
    with pytest.raises(ValueError, match="render_mode"):
        DMAUnwindEnv(render_mode="human")  # (gym.make would wrap it in HumanRendering instead)


def test_record_video(tmp_path):
    pytest.importorskip("moviepy")
    from gymnasium.wrappers import RecordVideo

    folder = tmp_path / "videos"  # a fresh folder: RecordVideo warns about an existing one
    env = RecordVideo(make("almgren_chriss", render_mode="rgb_array"), str(folder), episode_trigger=lambda e: True,
                      disable_logger=True)
    env.reset(seed=0)
    for a in random_actions((1,), 5, 0):
        if env.step(a)[2]:
            break
    env.close()
    videos = list(folder.glob("*.mp4"))
    assert videos and videos[0].stat().st_size > 0
