"""Core benchmark (run as ``python bench/core.py``).

Prints, on the feb2024 universe:
  * core throughput at E=1 and E=64: batched ``step`` calls per second and env-steps per second
    (JIT warmed first; shocks and actions pre-drawn outside the timed loop; every timed chunk is
    one whole episode from a fresh reset, and the resets happen outside the timing);
  * the size of the state buffers (sf/si/sb) at E=64 and E=256, and the peak traced memory
    (tracemalloc) of allocating, resetting and stepping them;
  * the numba / plain-numpy reference speed ratio at E=1, if ``dma_gym.core.reference`` with
    ``reference_step(market, buf, dims, actions, shocks)`` is importable at run time.
"""
from __future__ import annotations

import importlib
import platform
import time
import tracemalloc

import numpy as np

import dma_gym
from dma_gym.market import Market

SCENARIO = "feb2024"
MIN_TIME = 2.0  # seconds of timed stepping per batch size
SEED = 2024
N_CONTROLLED = 1  # the learner slot takes random actions; the other managers follow their rules


def _fresh(m: Market, n_envs: int, seed: int):
    buf, s, dims = m.allocate(n_envs)
    ctrl = np.zeros(m.n_managers, bool)
    ctrl[:N_CONTROLLED] = True
    for e in range(n_envs):
        m.reset_env(buf, dims, e, np.random.default_rng([seed, e]), ctrl)
    return buf, s, dims


def _inputs(m: Market, n_envs: int, steps: int, seed: int):
    """Pre-drawn shocks (steps, E, n_shocks) and actions (steps, E, A, n_actions)."""
    rngs = [np.random.default_rng([seed, e, 1]) for e in range(n_envs)]
    z = np.zeros((steps, n_envs, m.n_shocks))
    for k in range(steps):
        for e in range(n_envs):
            m.draw_shocks(rngs[e], z[k, e])
    act = np.random.default_rng([seed, 2]).uniform(-1.0, 1.0, (steps, n_envs, m.n_managers, m.n_actions))
    return z, act


def time_core(m: Market, n_envs: int, min_time: float = MIN_TIME) -> tuple[float, float, int]:
    """(batched calls per second, env-steps per second, episodes timed)."""
    steps = m.steps
    z, act = _inputs(m, n_envs, steps, SEED)
    buf, _, dims = _fresh(m, n_envs, SEED)  # warm-up episode (JIT / cache load)
    for k in range(steps):
        m.step(buf, dims, act[k], z[k])
    elapsed, calls, episodes = 0.0, 0, 0
    while elapsed < min_time:
        buf, s, dims = _fresh(m, n_envs, SEED + 1 + episodes)
        step = m.step
        t0 = time.perf_counter()
        for k in range(steps):
            step(buf, dims, act[k], z[k])
        elapsed += time.perf_counter() - t0
        assert s.done.all(), "an episode chunk did not reach the horizon"
        calls += steps
        episodes += 1
    return calls / elapsed, calls * n_envs / elapsed, episodes


def memory(m: Market, n_envs: int) -> tuple[int, int]:
    """(bytes of the state buffers, tracemalloc peak of allocate + reset + 3 steps incl. inputs)."""
    z, act = _inputs(m, n_envs, 3, SEED)
    tracemalloc.start()
    tracemalloc.reset_peak()
    buf, _, dims = _fresh(m, n_envs, SEED)
    for k in range(3):
        m.step(buf, dims, act[k], z[k])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return buf.sf.nbytes + buf.si.nbytes + buf.sb.nbytes, peak


def reference_ratio(m: Market, numba_calls_per_s: float, n_steps: int = 5) -> str:
    """The numba/reference speed ratio at E=1, or why it cannot be measured."""
    try:
        ref = importlib.import_module("dma_gym.core.reference")
    except ImportError as exc:
        return f"reference: not available (cannot import dma_gym.core.reference: {exc})"
    fn = getattr(ref, "reference_step", None)
    if fn is None:
        return "reference: not available (dma_gym.core.reference has no reference_step)"
    z, act = _inputs(m, 1, n_steps, SEED)
    buf, _, dims = _fresh(m, 1, SEED)
    fn(m, buf, dims, act[0], z[0])  # warm-up (imports, caches)
    buf, _, dims = _fresh(m, 1, SEED)
    t0 = time.perf_counter()
    for k in range(n_steps):
        fn(m, buf, dims, act[k], z[k])
    ref_calls_per_s = n_steps / (time.perf_counter() - t0)
    return (f"numba/reference speed ratio at E=1: {numba_calls_per_s / ref_calls_per_s:,.0f}x "
            f"(numba {numba_calls_per_s:,.0f} steps/s, reference {ref_calls_per_s:,.2f} steps/s "
            f"over {n_steps} steps)")


def main() -> None:
    m = Market(dma_gym.scenarios.get(SCENARIO))
    import numba

    print(f"dma_gym core benchmark: scenario {SCENARIO}, E envs x A={m.n_managers} managers x "
          f"N={m.n_stocks} stocks, episode {m.steps} steps")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"{platform.machine()}")
    t0 = time.perf_counter()
    _fresh(m, 1, SEED)
    buf, _, dims = _fresh(m, 1, SEED)
    z, act = _inputs(m, 1, 1, SEED)
    m.step(buf, dims, act[0], z[0])
    print(f"JIT warm-up (compile or cache load): {time.perf_counter() - t0:.2f} s")
    results = {}
    for n_envs in (1, 64):
        calls, env_steps, episodes = time_core(m, n_envs)
        results[n_envs] = calls
        print(f"E={n_envs:<3d}: {env_steps:>12,.0f} env-steps/s  {calls:>10,.1f} batched calls/s  "
              f"({1e6 / env_steps:,.1f} us per env-step; {episodes} episodes timed)")
    for n_envs in (64, 256):
        nbytes, peak = memory(m, n_envs)
        print(f"state buffers E={n_envs:<3d}: {nbytes / 2**20:8.2f} MiB ({nbytes / n_envs / 1024:.1f} KiB/env); "
              f"peak traced memory allocate+reset+3 steps (incl. shocks/actions): {peak / 2**20:.2f} MiB")
    print(reference_ratio(m, results[1]))


if __name__ == "__main__":
    main()
