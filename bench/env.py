"""Env-layer benchmark (run as ``python bench/env.py [--cold]``; every figure comes from this run).

Prints, on the feb2024 scenario:
  * microseconds per step of ``gym.make("DMAUnwind-v0")`` and of ``gym.make("CartPole-v1")``
    (default wrappers, random actions pre-drawn from the action space outside the timing, reset
    on episode end inside it) and their ratio;
  * vector env (``vector_entry_point``, next-step autoreset, random actions) env-steps/s at 1,
    16, 64, 256 envs, and the bare core (``Market.step`` on a Batch's buffers, whole episodes from
    fresh resets that are not timed) at 64 envs, with random learner actions (the like-for-like
    workload the bar compares with) and with zero actions;
  * SB3 PPO training env-steps/s on ``make_sb3_vec_env(8)`` vs CartPole-v1 in a ``DummyVecEnv``
    of 8, same PPO settings, after a warm-up ``learn``;
  * peak memory of a 256-env vector env through reset + 100 steps (tracemalloc and RSS, in a
    fresh subprocess);
  * wall time of a fresh ``python -c`` process up to its first step, with the warm numba cache
    and (``--cold``, minutes) with an empty ``NUMBA_CACHE_DIR``;
and the issue-3 bars with PASS/FAIL.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import gymnasium as gym
import numpy as np

import dma_gym
from dma_gym.envs.batch import Batch

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "feb2024"
SEED = 2024
MIN_TIME = 2.0  # seconds of timed stepping per measurement
VECTOR_SIZES = (1, 16, 64, 256)
PPO_KW = dict(n_steps=256, batch_size=256, n_epochs=1, device="cpu", seed=0, verbose=0)
PPO_ENVS, PPO_WARMUP, PPO_STEPS = 8, 2048, 4096
MEM_ENVS, MEM_STEPS = 256, 100
FIRST_STEP = ("import gymnasium as gym, dma_gym; e=gym.make('DMAUnwind-v0'); e.reset(seed=0); "
              "e.step(e.action_space.sample())")


# ---- single env --------------------------------------------------------------------------
def us_per_step(env_id: str, **kwargs) -> tuple[float, int, int, float]:
    """(microseconds per step, steps timed, episodes ended, share of the time in reset())
    through ``gym.make``."""
    env = gym.make(env_id, **kwargs)
    env.action_space.seed(SEED)
    pool = [env.action_space.sample() for _ in range(4096)]
    env.reset(seed=SEED)
    for a in pool[:300]:  # warm-up (JIT cache load, first-step checker)
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    steps = episodes = 0
    elapsed = in_reset = 0.0
    step, reset, clock = env.step, env.reset, time.perf_counter
    while elapsed < MIN_TIME:
        t0 = clock()
        for a in pool:
            _, _, term, trunc, _ = step(a)
            if term or trunc:
                t1 = clock()
                reset()
                in_reset += clock() - t1
                episodes += 1
        elapsed += clock() - t0
        steps += len(pool)
    return elapsed / steps * 1e6, steps, episodes, in_reset / elapsed


# ---- vector env and core -----------------------------------------------------------------
def vector_env_steps_per_s(n_envs: int) -> tuple[float, int, float]:
    """(env-steps per second, episodes ended, share of the time in the autoresets' Batch.reset_env)
    of the natively batched vector env."""
    venv = gym.make_vec("DMAUnwind-v0", num_envs=n_envs, vectorization_mode="vector_entry_point",
                        scenario=SCENARIO)
    pool = np.random.default_rng(SEED).uniform(-1.0, 1.0, (64, n_envs, 8)).astype(np.float32)
    venv.reset(seed=SEED)
    for k in range(10):
        venv.step(pool[k])
    b = venv.unwrapped._b
    in_reset = [0.0]

    def timed_reset(e, rng, _reset=b.reset_env, _clock=time.perf_counter):
        t = _clock()
        _reset(e, rng)
        in_reset[0] += _clock() - t

    b.reset_env = timed_reset  # instance attribute: what the vector env's autoreset calls
    calls = episodes = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < MIN_TIME or calls < 20:
        _, _, term, trunc, _ = venv.step(pool[calls % 64])
        episodes += int((term | trunc).sum())
        calls += 1
    elapsed = time.perf_counter() - t0
    return calls * n_envs / elapsed, episodes, in_reset[0] / elapsed


def core_env_steps_per_s(n_envs: int, random_actions: bool = False) -> float:
    """Env-steps per second of ``Market.step`` on a Batch's buffers: whole episodes from fresh
    resets (not timed), shocks gathered and actions validated beforehand."""
    b = Batch(dma_gym.scenarios.get(SCENARIO), n_envs)
    m = b.market
    act = np.zeros_like(b.actions)
    if random_actions:
        rng = np.random.default_rng(SEED)
        act = np.repeat(act[None], m.steps, axis=0)
        act[:, :, b.learners, :] = rng.uniform(-1.0, 1.0, (m.steps, n_envs, b.n_learners, m.n_actions))
    else:
        act[:, b.learners] = b.validate(np.zeros((n_envs, 1, b.act_dim)), (n_envs, 1, b.act_dim))
        act = np.repeat(act[None], m.steps, axis=0)
    elapsed, steps, episode = 0.0, 0, 0
    while elapsed < MIN_TIME or episode < 2:
        for e in range(n_envs):
            b.reset_env(e, np.random.default_rng([SEED, episode, e]))
        z = np.zeros((m.steps, n_envs, m.n_shocks))  # (steps, E, n_shocks), drawn outside the timing
        for e in range(n_envs):
            m.draw_shock_block(np.random.default_rng([SEED, episode, e, 1]), z[:, e])
        buf, dims, step = b.buf, b.dims, m.step
        t0 = time.perf_counter()
        for k in range(m.steps):
            step(buf, dims, act[k], z[k])
        if episode > 0:  # the first episode is the warm-up
            elapsed += time.perf_counter() - t0
            steps += m.steps * n_envs
        episode += 1
    return steps / elapsed


# ---- SB3 ---------------------------------------------------------------------------------
def ppo_env_steps_per_s(make_env) -> float:
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", make_env(), **PPO_KW)
    model.learn(PPO_WARMUP)
    t0 = time.perf_counter()
    model.learn(PPO_STEPS, reset_num_timesteps=False)
    return PPO_STEPS / (time.perf_counter() - t0)


def sb3_dma():
    from dma_gym.adapters.sb3 import make_sb3_vec_env

    return make_sb3_vec_env(PPO_ENVS, SCENARIO)


def sb3_cartpole():
    from stable_baselines3.common.vec_env import DummyVecEnv

    return DummyVecEnv([functools.partial(gym.make, "CartPole-v1") for _ in range(PPO_ENVS)])


# ---- memory (subprocess) -----------------------------------------------------------------
def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def memory_probe() -> None:
    """In a fresh process: JIT cache loaded first, then the 256-env env measured; prints JSON."""
    e = gym.make("DMAUnwind-v0", scenario=SCENARIO)
    e.reset(seed=0)
    e.step(e.action_space.sample())
    del e
    pool = np.random.default_rng(SEED).uniform(-1.0, 1.0, (MEM_STEPS, MEM_ENVS, 8)).astype(np.float32)
    rss0 = _rss_kib("VmRSS")
    tracemalloc.start()
    venv = gym.make_vec("DMAUnwind-v0", num_envs=MEM_ENVS, vectorization_mode="vector_entry_point",
                        scenario=SCENARIO)
    venv.reset(seed=SEED)
    for a in pool:
        venv.step(a)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    b = venv.unwrapped._b
    print(json.dumps({
        "tracemalloc_peak": peak, "rss_delta": (_rss_kib("VmRSS") - rss0) * 1024,
        "hwm_delta": (_rss_kib("VmHWM") - rss0) * 1024,
        "state_bytes": b.buf.sf.nbytes + b.buf.si.nbytes + b.buf.sb.nbytes,
    }))


def memory() -> dict:
    r = subprocess.run([sys.executable, __file__, "--memory-probe"], capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---- fresh process to first step ---------------------------------------------------------
def first_step_s(cache_dir: str | None) -> float:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", FIRST_STEP], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=1800)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"first-step process failed:\n{r.stderr[-3000:]}")
    return dt


# ---- report ------------------------------------------------------------------------------
def _row(label: str, value: str) -> None:
    print(f"  {label:<58} {value}")


def _bar(ok: bool, text: str) -> bool:
    print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", action="store_true", help="also time a first step with an empty numba cache (minutes)")
    ap.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_probe:
        memory_probe()
        return
    import numba
    import stable_baselines3
    import torch

    m = Batch(dma_gym.scenarios.get(SCENARIO), 1).market
    print(f"dma_gym env benchmark: scenario {SCENARIO} (A={m.n_managers} managers, N={m.n_stocks} stocks, "
          f"{m.steps}-step episodes)")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"gymnasium {gym.__version__}, stable-baselines3 {stable_baselines3.__version__}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), {os.cpu_count()} cpus, "
          f"{platform.machine()}")

    print("single env (gym.make, default wrappers; random actions, reset on episode end)")
    dma_us, dma_n, dma_eps, dma_rs = us_per_step("DMAUnwind-v0", scenario=SCENARIO)
    cp_us, cp_n, cp_eps, cp_rs = us_per_step("CartPole-v1")
    _row("DMAUnwind-v0 feb2024", f"{dma_us:9.1f} us/step  ({dma_n:,} steps, {dma_eps} resets = {dma_rs:.0%} of time)")
    _row("CartPole-v1", f"{cp_us:9.1f} us/step  ({cp_n:,} steps, {cp_eps} resets = {cp_rs:.0%} of time)")
    _row("ratio DMAUnwind / CartPole", f"{dma_us / cp_us:9.1f} x")
    single_sps = 1e6 / dma_us

    print("vector env (gym.make_vec vector_entry_point, next-step autoreset) and bare core")
    vec, vec_rs = {}, {}
    for n in VECTOR_SIZES:
        vec[n], eps, vec_rs[n] = vector_env_steps_per_s(n)
        _row(f"vector env, {n} envs", f"{vec[n]:9,.0f} env-steps/s  ({eps} autoresets = {vec_rs[n]:.0%} of time)")
    core64 = core_env_steps_per_s(64)
    core64_rand = core_env_steps_per_s(64, random_actions=True)
    _row("bare core Market.step, 64 envs, zero actions", f"{core64:9,.0f} env-steps/s")
    _row("bare core Market.step, 64 envs, random learner actions", f"{core64_rand:9,.0f} env-steps/s")
    # the vector env is driven with random actions, so the like-for-like core runs random learner
    # actions too (trading costs core time: zero actions are the cheaper, unlike workload)
    _row("vector64 / core64, both random learner actions", f"{vec[64] / core64_rand:9.0%}  (vs the zero-action "
         f"core: {vec[64] / core64:.0%}; without the autoreset time: {vec[64] / (1 - vec_rs[64]) / core64_rand:.0%})")
    _row("vector64 / single env (gym.make)", f"{vec[64] / single_sps:9.2f} x  (single: {single_sps:,.0f} steps/s)")

    print(f"SB3 PPO training (MlpPolicy, {PPO_ENVS} envs, n_steps=256, batch_size=256, n_epochs=1, cpu; "
          f"{PPO_STEPS} steps timed after a {PPO_WARMUP}-step warm-up)")
    ppo_dma = ppo_env_steps_per_s(sb3_dma)
    ppo_cp = ppo_env_steps_per_s(sb3_cartpole)
    _row(f"make_sb3_vec_env({PPO_ENVS}) feb2024", f"{ppo_dma:9,.0f} env-steps/s")
    _row(f"CartPole-v1 DummyVecEnv({PPO_ENVS})", f"{ppo_cp:9,.0f} env-steps/s")
    _row("ratio DMAUnwind / CartPole", f"{ppo_dma / ppo_cp:9.2f} x")

    mem = memory()
    mib = 2.0 ** 20
    print(f"memory: {MEM_ENVS}-env vector env, reset + {MEM_STEPS} steps (fresh process, JIT cache loaded first)")
    _row("tracemalloc peak", f"{mem['tracemalloc_peak'] / mib:9.1f} MiB")
    _row("RSS delta (now / peak)", f"{mem['rss_delta'] / mib:9.1f} MiB / {mem['hwm_delta'] / mib:.1f} MiB")
    _row("core state buffers", f"{mem['state_bytes'] / mib:9.1f} MiB")

    print("fresh process to first step (python -c: import, gym.make, reset, step)")
    warm = [first_step_s(None) for _ in range(3)]
    warm_s = statistics.median(warm)
    _row("warm numba cache, median of 3", f"{warm_s:9.2f} s  (runs: {', '.join(f'{w:.2f}' for w in warm)})")
    cold_s = None
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="numba_cold_") as d:
            cold_s = first_step_s(d)
        _row("empty NUMBA_CACHE_DIR (cold compile)", f"{cold_s:9.1f} s")
    else:
        _row("empty NUMBA_CACHE_DIR (cold compile)", "   skipped (pass --cold; takes minutes)")

    print("bars (issue 3)")
    mem_peak = max(mem["tracemalloc_peak"], mem["hwm_delta"])
    results = [
        _bar(dma_us <= 5 * cp_us, f"single step <= 5x CartPole: {dma_us / cp_us:.1f}x"),
        _bar(vec[64] >= 3 * single_sps, f"vector64 >= 3x single env: {vec[64] / single_sps:.2f}x"),
        _bar(vec[64] >= 0.8 * core64_rand, f"vector64 >= 80% of core at E=64 (same random actions): "
                                            f"{vec[64] / core64_rand:.0%}"),
        _bar(ppo_dma >= 0.8 * ppo_cp, f"SB3 PPO >= 0.8x CartPole: {ppo_dma / ppo_cp:.2f}x"),
        _bar(mem_peak < 2 ** 30, f"256-env vector env < 1 GiB: {mem_peak / mib:.0f} MiB (larger of tracemalloc "
                                  "and peak RSS delta)"),
        _bar(warm_s <= 3.0, f"warm first step <= 3 s: {warm_s:.2f} s"),
    ]
    print(f"  {sum(results)}/{len(results)} bars pass")


if __name__ == "__main__":
    main()
