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
from dma_gym.market import Market


@functools.lru_cache(maxsize=None)
def market(name: str, **overrides) -> Market:
    return Market(dma_gym.scenarios.get(name, **overrides))


def rollout(m: Market, n_envs: int, seed: int, steps: int | None = None, controlled=None, actions_fn=None):
    """Run ``steps`` batched steps from fresh episodes; yields the state after every step."""
    buf, s, dims = m.allocate(n_envs)
    ctrl = np.zeros(m.n_managers, bool) if controlled is None else controlled
    rngs = [np.random.default_rng([seed, e]) for e in range(n_envs)]
    for e in range(n_envs):
        m.reset_env(buf, dims, e, rngs[e], ctrl)
    z = np.zeros((n_envs, m.n_shocks))
    act = np.zeros((n_envs, m.n_managers, m.n_actions))
    for k in range(steps or m.steps):
        for e in range(n_envs):
            m.draw_shocks(rngs[e], z[e])
        if actions_fn is not None:
            act[:] = actions_fn(k, s, rngs[0])
        m.step(buf, dims, act, z)
        yield k, buf, s


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
