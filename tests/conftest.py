"""Shared fixtures: compiled markets are cached per scenario for the whole session; the
cold-compile probe starts in the background as soon as collection is done."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

import dma_gym
from dma_gym import Engine
from dma_gym.core.layout import views
from dma_gym.market import Market


@functools.lru_cache(maxsize=None)
def market(name: str, **overrides) -> Market:
    return Market(dma_gym.scenarios.get(name, **overrides))


def rollout(m: Market, n_envs: int, seed: int, steps: int | None = None, controlled=None, actions_fn=None):
    """Run ``steps`` steps (default: the episode) of an ``Engine`` of ``n_envs`` fresh episodes
    (env e seeded with ``seed + e``) whose learners are the ``controlled`` managers ((A,) bool;
    default none: heuristic managers only). Before each step ``actions_fn(k, s, rng)`` (if given)
    returns (E, A, n_actions) actions, of which the learners' rows are passed on. Yields
    ``(k, buf, s)`` after every step: the engine's flat buffers and writable named views of them."""
    learners = () if controlled is None else tuple(int(a) for a in np.flatnonzero(controlled))
    eng = Engine(m.config, n_envs, learners)
    eng.reset(seed=seed)
    s = views(eng.buf, eng.dims)
    rng = np.random.default_rng([seed, n_envs, 7919])  # for actions_fn, apart from the envs' streams
    for k in range(steps or m.steps):
        act = None if actions_fn is None else actions_fn(k, s, rng)
        if learners:
            a = np.zeros((n_envs, eng.num_learners, eng.act_dim)) if act is None else \
                np.asarray(act)[:, list(learners), :eng.act_dim]
            eng.step(a)
        else:
            eng.step(None)
        yield k, eng.buf, s


@pytest.fixture(scope="session")
def feb():
    return market("feb2024")


@pytest.fixture(scope="session")
def calm():
    return market("calm")


# ---- the cold-compile probe (tests/slow/test_compile_cold.py) --------------------------------
# A full compile of the core with an empty numba cache, in a subprocess: minutes of one CPU.
# Compiling is single-threaded, so the probe is started right after collection and runs beside
# the session's own first compile on another core; its test only waits for the result.
COLD_PROBE = Path(__file__).resolve().parent / "core" / "_compile_probe.py"
COLD_PROBE_TEST = "test_cold_compile_one_signature_each"
COLD_PROBE_TIMEOUT_S = 1500


class ProbeResult(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


class _ColdProbe:
    """The probe subprocess, its output files and its empty cache folder (removed at the end)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dma_gym_cold_cache_")
        self.out = open(os.path.join(self.dir, "stdout"), "w+")
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(self.dir, "cache"))
        self.proc = subprocess.Popen([sys.executable, str(COLD_PROBE)], stdout=self.out, stderr=self.err,
                                     env=env, cwd=COLD_PROBE.parents[2])

    def result(self) -> ProbeResult:
        rc = self.proc.wait(timeout=COLD_PROBE_TIMEOUT_S)
        self.out.seek(0)
        self.err.seek(0)
        return ProbeResult(rc, self.out.read(), self.err.read())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_cold: list[_ColdProbe] = []


def pytest_collection_finish(session):
    if any(item.name == COLD_PROBE_TEST for item in session.items):
        _cold.append(_ColdProbe())


def pytest_sessionfinish(session, exitstatus):
    while _cold:
        _cold.pop().close()


@pytest.fixture
def cold_probe() -> ProbeResult:
    """Return code, stdout and stderr of the cold-compile probe (started after collection, or
    now if it was not)."""
    if not _cold:
        _cold.append(_ColdProbe())
    return _cold[0].result()
