"""Core benchmark (run as ``python bench/core.py [--min-time S]``).

Prints, on the feb2024 universe:
  * core throughput at E=1 and E=64: ``Engine.step`` calls per second and env-steps per second,
    with the learner (manager 0) on random actions (``Engine(cfg, E, learners=(0,))``; the other
    managers follow their rules) and with no learner at all (``Engine(cfg, E, learners=())``, a
    heuristic market stepped with ``step(None)``). JIT warmed first; learner actions pre-drawn
    outside the timed loop (each step copies them into ``engine.action_buffer``, then one core
    call clips them, draws the step's shocks from each env's stream and steps the market);
    every timed chunk is one whole episode from a fresh ``reset``, and the resets happen outside
    the timing;
  * the size of the state buffers (sf/si/sb) at E=64 and E=256, and the peak traced memory
    (tracemalloc) of building an Engine (its Market included), resetting it and stepping it;
  * the numba / plain-numpy reference speed ratio at E=1, if ``dma_gym.testing.reference`` with
    ``reference_step(market, buf, dims, actions, shocks)`` is importable at run time: the
    reference replays the engine's own steps (the shocks in ``engine.shocks``, the clipped
    learner actions) from a copy of the reset state, and the line says how far the two final
    states are apart.
"""
from __future__ import annotations

import argparse
import importlib
import platform
import time
import tracemalloc

import numpy as np

import dma_gym
from dma_gym import Engine
from dma_gym.config import MarketConfig
from dma_gym.core.layout import Buffers

SCENARIO = "feb2024"
MIN_TIME = 2.0  # seconds of timed stepping per batch size
SEED = 2024
LEARNERS = (0,)  # the learner slot takes random actions; the other managers follow their rules


def _actions(eng: Engine, steps: int, seed: int) -> np.ndarray | None:
    """Pre-drawn learner actions (steps, E, M, act_dim) in [-1, 1]; None without learners."""
    if not eng.num_learners:
        return None
    return np.random.default_rng([seed, 2]).uniform(-1.0, 1.0, (steps, *eng.action_buffer.shape))


def _episode(eng: Engine, act: np.ndarray | None, seed: int) -> float:
    """One whole episode from a fresh reset (not timed); returns the seconds of stepping."""
    eng.reset(seed=seed)
    step, steps = eng.step, eng.market.steps
    if act is None:
        t0 = time.perf_counter()
        for _ in range(steps):
            step(None)
    else:
        ab = eng.action_buffer  # step(ab) reads it without a copy (NaN/inf still caught)
        t0 = time.perf_counter()
        for k in range(steps):
            np.copyto(ab, act[k])
            step(ab)
    dt = time.perf_counter() - t0
    assert eng.state.done.all(), "an episode chunk did not reach the horizon"
    return dt


def time_core(cfg: MarketConfig, n_envs: int, learners=LEARNERS, min_time: float = MIN_TIME
              ) -> tuple[float, float, int]:
    """(``Engine.step`` calls per second, env-steps per second, episodes timed)."""
    eng = Engine(cfg, n_envs, learners=learners)
    steps = eng.market.steps
    act = _actions(eng, steps, SEED)
    _episode(eng, act, SEED)  # warm-up episode (JIT / cache load)
    elapsed, calls, episodes = 0.0, 0, 0
    while elapsed < min_time:
        elapsed += _episode(eng, act, SEED + (1 + episodes) * n_envs)  # env i seeded seed + i: all distinct
        calls += steps
        episodes += 1
    return calls / elapsed, calls * n_envs / elapsed, episodes


def memory(cfg: MarketConfig, n_envs: int) -> tuple[int, int]:
    """(bytes of the state buffers, tracemalloc peak of Engine(...) + reset + 3 steps incl. actions)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    eng = Engine(cfg, n_envs, learners=LEARNERS)
    act = _actions(eng, 3, SEED)
    eng.reset(seed=SEED)
    for k in range(3):
        eng.step(act[k])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    buf = eng.buf
    return buf.sf.nbytes + buf.si.nbytes + buf.sb.nbytes, peak


def reference_ratio(cfg: MarketConfig, numba_calls_per_s: float, n_steps: int = 5) -> str:
    """The numba/reference speed ratio at E=1, or why it cannot be measured."""
    try:
        ref = importlib.import_module("dma_gym.testing.reference")
    except ImportError as exc:
        return f"reference: not available (cannot import dma_gym.testing.reference: {exc})"
    fn = getattr(ref, "reference_step", None)
    if fn is None:
        return "reference: not available (dma_gym.testing.reference has no reference_step)"
    eng = Engine(cfg, 1, learners=LEARNERS)
    m = eng.market
    act = _actions(eng, n_steps, SEED)
    eng.reset(seed=SEED)
    start = Buffers(*(a.copy() for a in eng.buf))
    # the engine's steps as the reference takes them: the actions the core read and the shocks it drew
    core_act = np.zeros((n_steps, 1, m.n_managers, m.n_actions))
    shocks = np.zeros((n_steps, 1, m.n_shocks))
    for k in range(n_steps):
        eng.step(act[k])
        core_act[k] = eng.core_actions
        shocks[k] = eng.shocks
    warm = Buffers(*(a.copy() for a in start))
    fn(m, warm, eng.dims, core_act[0], shocks[0])  # warm-up (imports, caches)
    buf = Buffers(*(a.copy() for a in start))
    t0 = time.perf_counter()
    for k in range(n_steps):
        fn(m, buf, eng.dims, core_act[k], shocks[k])
    ref_calls_per_s = n_steps / (time.perf_counter() - t0)
    diff = float(np.max(np.abs(buf.sf - eng.buf.sf) / np.maximum(np.abs(eng.buf.sf), 1.0)))
    same = np.array_equal(buf.si, eng.buf.si) and np.array_equal(buf.sb, eng.buf.sb)
    return (f"numba/reference speed ratio at E=1: {numba_calls_per_s / ref_calls_per_s:,.0f}x "
            f"(numba {numba_calls_per_s:,.0f} steps/s, reference {ref_calls_per_s:,.2f} steps/s "
            f"over {n_steps} steps; final states: max relative float difference {diff:.1e}, int/bool "
            f"{'identical' if same else 'DIFFER'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-time", type=float, default=MIN_TIME,
                    help=f"seconds of timed stepping per throughput row (default {MIN_TIME})")
    args = ap.parse_args()
    cfg = dma_gym.scenarios.get(SCENARIO)
    import numba

    t0 = time.perf_counter()
    eng = Engine(cfg, 1, learners=LEARNERS)
    eng.reset(seed=SEED)
    eng.step(np.zeros(eng.action_buffer.shape))
    warm_s = time.perf_counter() - t0
    m = eng.market
    print(f"dma_gym core benchmark: scenario {SCENARIO}, E envs x A={m.n_managers} managers x "
          f"N={m.n_stocks} stocks, episode {m.steps} steps")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__} "
          f"({numba.get_num_threads()} threads), {platform.machine()}")
    print(f"JIT warm-up (Engine, reset and first step: compile or cache load): {warm_s:.2f} s")
    results = {}
    for learners, label in ((LEARNERS, "learner 0 random"), ((), "no learner")):
        for n_envs in (1, 64):
            calls, env_steps, episodes = time_core(cfg, n_envs, learners, args.min_time)
            results[learners, n_envs] = calls
            print(f"E={n_envs:<3d} {label:<16}: {env_steps:>12,.0f} env-steps/s  {calls:>10,.1f} Engine.step "
                  f"calls/s  ({1e6 / env_steps:,.1f} us per env-step; {episodes} episodes timed)")
    for n_envs in (64, 256):
        nbytes, peak = memory(cfg, n_envs)
        print(f"state buffers E={n_envs:<3d}: {nbytes / 2**20:8.2f} MiB ({nbytes / n_envs / 1024:.1f} KiB/env); "
              f"peak traced memory Engine+reset+3 steps (incl. Market, actions): {peak / 2**20:.2f} MiB")
    print(reference_ratio(cfg, results[LEARNERS, 1]))


if __name__ == "__main__":
    main()
