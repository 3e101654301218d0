"""Env-layer benchmark (run as ``python bench/env.py [--no-cold]``; every figure comes from this run).

Prints, on the feb2024 scenario:
  * microseconds per step of ``gym.make("DMAUnwind-v0")`` and of ``gym.make("CartPole-v1")``
    (default wrappers, random actions pre-drawn from the action space outside the timing, reset
    on episode end inside it) and their ratio;
  * vector env (``vector_entry_point``, next-step autoreset, random actions) env-steps/s at 1,
    16, 64, 256 envs, and the bare core (``Engine(cfg, 64, learners=(0,))`` stepped directly:
    actions copied into its action buffer, one core call per step; whole episodes from fresh
    resets, timed, since a reset runs the scenario's warm-up in the core) at 64 envs, with random learner actions (the like-for-like
    workload the bar compares with) and with zero actions, and the random-action core on one
    thread: numba threads x its env-steps/s over the single env's steps/s is the ceiling of
    vector64 / single on this machine (a facade that cost nothing, threads that scaled perfectly);
  * SB3 PPO training env-steps/s on ``make_sb3_vec_env(8)`` vs CartPole-v1 in a ``DummyVecEnv``
    of 8, same PPO settings, after a warm-up ``learn``;
  * peak memory of a 256-env vector env through reset + 100 steps (tracemalloc and RSS, in a
    fresh subprocess);
  * wall time of a fresh ``python -c`` process up to its first step, with the warm numba cache
    and (unless ``--no-cold``; tens of seconds) with an empty ``NUMBA_CACHE_DIR``, whose stderr
    must carry the engine's compile notice ("compiling the market core");
and the issue-3 bars with PASS/FAIL.

Each compared pair (DMAUnwind-v0 vs CartPole-v1; vector env vs bare core vs single env at 64 envs;
PPO on both) is measured in ``ROUNDS`` interleaved rounds, and a bar takes the median of the
rounds' ratios, so that a drift of the machine's speed during the run (a shared host) hits both
sides of a ratio alike. The per-round ratios are printed.
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
from dma_gym import Engine
from dma_gym.market import Market

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "feb2024"
SEED = 2024
MIN_TIME = 2.0  # seconds of timed stepping per throughput table entry
# every compared pair is measured in interleaved rounds and the bars use the median of the rounds'
# ratios: the machine's speed can drift by tens of percent within a run on a shared host
ROUNDS, ROUND_S = 5, 0.5
VECTOR_SIZES = (1, 16, 64, 256)
PPO_KW = dict(n_steps=256, batch_size=256, n_epochs=1, device="cpu", seed=0, verbose=0)
PPO_ENVS, PPO_WARMUP, PPO_STEPS = 8, 2048, 4096
MEM_ENVS, MEM_STEPS = 256, 100
FIRST_STEP = ("import gymnasium as gym, dma_gym; e=gym.make('DMAUnwind-v0'); e.reset(seed=0); "
              "e.step(e.action_space.sample())")
COMPILE_NOTICE = "compiling the market core"  # what a real compile prints on stderr (dma_gym.engine)
WARM_FIRST_STEP_S, COLD_FIRST_STEP_S = 1.5, 30.0  # bars: fresh process to its first step


# ---- runners: each keeps its env between timed slices, so measurements can be interleaved ----
class SingleRunner:
    """``gym.make(env_id)`` stepped with random actions pre-drawn from its action space (reset on
    episode end, inside the timing)."""

    def __init__(self, env_id: str, **kwargs):
        self.env = env = gym.make(env_id, **kwargs)
        env.action_space.seed(SEED)
        self.pool = [env.action_space.sample() for _ in range(1024)]
        env.reset(seed=SEED)
        self.steps = self.episodes = 0
        self.elapsed = self.in_reset = 0.0
        self.run(0.0)  # warm-up (JIT cache load, first-step checker), not counted
        self.steps = self.episodes = 0
        self.elapsed = self.in_reset = 0.0

    def run(self, seconds: float) -> float:
        """Step for about ``seconds`` (whole passes over the action pool); returns us/step."""
        step, reset, clock = self.env.step, self.env.reset, time.perf_counter
        elapsed = 0.0
        steps = 0
        while elapsed <= seconds:
            t0 = clock()
            for a in self.pool:
                _, _, term, trunc, _ = step(a)
                if term or trunc:
                    t1 = clock()
                    reset()
                    self.in_reset += clock() - t1
                    self.episodes += 1
            elapsed += clock() - t0
            steps += len(self.pool)
        self.elapsed += elapsed
        self.steps += steps
        return elapsed / steps * 1e6

    @property
    def us(self) -> float:
        return self.elapsed / self.steps * 1e6


class VectorRunner:
    """The natively batched vector env (``vector_entry_point``, next-step autoreset; from 8 envs
    the autoresets run on the step's threads), random actions."""

    def __init__(self, n_envs: int):
        self.n = n_envs
        self.venv = venv = gym.make_vec("DMAUnwind-v0", num_envs=n_envs, vectorization_mode="vector_entry_point",
                                        scenario=SCENARIO)
        self.pool = np.random.default_rng(SEED).uniform(-1.0, 1.0, (64, n_envs, 8)).astype(np.float32)
        venv.reset(seed=SEED)
        for k in range(10):
            venv.step(self.pool[k])
        self.calls = self.episodes = 0
        self.elapsed = 0.0

    def run(self, seconds: float) -> float:
        """Step for about ``seconds`` (at least 20 calls); returns env-steps/s."""
        venv, pool = self.venv, self.pool
        calls = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds or calls < 20:
            _, _, term, trunc, _ = venv.step(pool[(self.calls + calls) % 64])
            self.episodes += int((term | trunc).sum())
            calls += 1
        elapsed = time.perf_counter() - t0
        self.calls += calls
        self.elapsed += elapsed
        return calls * self.n / elapsed

    @property
    def steps_per_s(self) -> float:
        return self.calls * self.n / self.elapsed


class CoreRunner:
    """The bare core: ``Engine(cfg, n_envs, learners=(0,))`` stepped directly, whole episodes from
    fresh resets (timed: a reset runs the scenario's warm-up sessions in the core, as the vector
    env's autoresets do), learner actions (random, or zeros) pre-drawn and copied into the
    engine's action buffer (``step(engine.action_buffer)`` skips the facade's validation; the
    core still rejects NaN/inf). ``parallel``: the engine's ``threads`` (None: from
    ``PARALLEL_MIN_ENVS`` envs)."""

    def __init__(self, n_envs: int, random_actions: bool, parallel: bool | None = None):
        self.n = n_envs
        self.parallel = parallel
        self.eng = eng = Engine(dma_gym.scenarios.get(SCENARIO), n_envs, learners=(0,), threads=parallel)
        shape = (eng.market.steps, *eng.action_buffer.shape)  # (steps, E, 1, act_dim)
        if random_actions:
            self.act = np.random.default_rng(SEED).uniform(-1.0, 1.0, shape)
        else:
            self.act = np.zeros(shape)
        self.episode = 0
        self.steps = 0
        self.elapsed = 0.0
        self._episode()  # warm-up
        self.steps = 0
        self.elapsed = 0.0

    def _episode(self) -> tuple[float, int]:
        eng, act = self.eng, self.act
        steps = eng.market.steps
        ab, step, copyto = eng.action_buffer, eng.step, np.copyto
        t0 = time.perf_counter()
        eng.reset(seed=SEED + self.episode * self.n)  # env i seeded seed + i: every episode distinct
        for k in range(steps):
            copyto(ab, act[k])
            step(ab)
        dt = time.perf_counter() - t0
        self.episode += 1
        self.elapsed += dt
        self.steps += steps * self.n
        return dt, steps * self.n

    def run(self, seconds: float) -> float:
        """Whole episodes for about ``seconds`` of stepping; returns env-steps/s."""
        elapsed = 0.0
        steps = 0
        while elapsed < seconds:
            dt, n = self._episode()
            elapsed += dt
            steps += n
        return steps / elapsed

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.elapsed


# ---- SB3 ---------------------------------------------------------------------------------
class PPORunner:
    """SB3 PPO on ``make_env()`` with ``PPO_KW``, after a warm-up ``learn``."""

    def __init__(self, make_env):
        from stable_baselines3 import PPO

        self.model = PPO("MlpPolicy", make_env(), **PPO_KW)
        self.model.learn(PPO_WARMUP)

    def run(self) -> float:
        """Env-steps/s of one ``learn(PPO_STEPS)``."""
        t0 = time.perf_counter()
        self.model.learn(PPO_STEPS, reset_num_timesteps=False)
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
    buf = venv.unwrapped.engine.buf
    print(json.dumps({
        "tracemalloc_peak": peak, "rss_delta": (_rss_kib("VmRSS") - rss0) * 1024,
        "hwm_delta": (_rss_kib("VmHWM") - rss0) * 1024,
        "state_bytes": buf.sf.nbytes + buf.si.nbytes + buf.sb.nbytes,
    }))


def memory() -> dict:
    r = subprocess.run([sys.executable, __file__, "--memory-probe"], capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---- fresh process to first step ---------------------------------------------------------
def first_step_s(cache_dir: str | None) -> float:
    """Seconds of a fresh ``python -c FIRST_STEP`` (import, gym.make, reset, step), with the
    given ``NUMBA_CACHE_DIR`` (None: this process's)."""
    return _first_step(cache_dir)[0]


def _first_step(cache_dir: str | None) -> tuple[float, str]:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", FIRST_STEP], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=1800)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"first-step process failed:\n{r.stderr[-3000:]}")
    return dt, r.stderr


def cold_first_step() -> tuple[float, bool, str]:
    """A fresh process to its first step with an empty ``NUMBA_CACHE_DIR`` (a temporary folder):
    (seconds, whether its stderr carries the compile notice, the engine's own compile-time line
    or '')."""
    with tempfile.TemporaryDirectory(prefix="numba_cold_") as d:
        dt, err = _first_step(d)
    compiled = [ln.strip() for ln in err.splitlines() if "market core compiled in" in ln]
    return dt, COMPILE_NOTICE in err, compiled[-1] if compiled else ""


# ---- report ------------------------------------------------------------------------------
def _row(label: str, value: str) -> None:
    print(f"  {label:<58} {value}")


def _bar(ok: bool, text: str) -> bool:
    print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", action=argparse.BooleanOptionalAction, default=True,
                    help="time a first step with an empty numba cache (a cold compile, tens of seconds; "
                         "--no-cold skips it)")
    ap.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_probe:
        memory_probe()
        return
    import numba
    import stable_baselines3
    import torch

    m = Market(dma_gym.scenarios.get(SCENARIO))
    n_threads = numba.get_num_threads()
    print(f"dma_gym env benchmark: scenario {SCENARIO} (A={m.n_managers} managers, N={m.n_stocks} stocks, "
          f"{m.steps}-step episodes)")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"gymnasium {gym.__version__}, stable-baselines3 {stable_baselines3.__version__}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), {os.cpu_count()} cpus, "
          f"{platform.machine()}")

    med = statistics.median
    print(f"single env (gym.make, default wrappers; random actions, reset on episode end), {ROUNDS} rounds of "
          f"{ROUND_S} s each, interleaved")
    dma, cp = SingleRunner("DMAUnwind-v0", scenario=SCENARIO), SingleRunner("CartPole-v1")
    single_ratios = []
    for _ in range(ROUNDS):
        d = dma.run(ROUND_S)
        single_ratios.append(d / cp.run(ROUND_S))
    single_ratio = med(single_ratios)
    _row("DMAUnwind-v0 feb2024", f"{dma.us:9.1f} us/step  ({dma.steps:,} steps, {dma.episodes} resets = "
         f"{dma.in_reset / dma.elapsed:.0%} of time)")
    _row("CartPole-v1", f"{cp.us:9.1f} us/step  ({cp.steps:,} steps, {cp.episodes} resets = "
         f"{cp.in_reset / cp.elapsed:.0%} of time)")
    _row("ratio DMAUnwind / CartPole, median of rounds", f"{single_ratio:9.1f} x  (rounds: "
         f"{', '.join(f'{r:.1f}' for r in single_ratios)})")

    print("vector env (gym.make_vec vector_entry_point, next-step autoreset) and bare core")
    vec = {}
    for n in VECTOR_SIZES:
        v = VectorRunner(n)
        vec[n] = v
        v.run(MIN_TIME)
        _row(f"vector env, {n} envs", f"{v.steps_per_s:9,.0f} env-steps/s  ({v.episodes} autoresets)")
    core_zero = CoreRunner(64, random_actions=False)
    core_zero.run(MIN_TIME)
    _row("bare core Engine.step, 64 envs, zero actions", f"{core_zero.steps_per_s:9,.0f} env-steps/s")
    # the vector env is driven with random actions, so the like-for-like core runs random learner
    # actions too (trading costs core time: zero actions are the cheaper, unlike workload)
    core = CoreRunner(64, random_actions=True)
    serial = CoreRunner(64, random_actions=True, parallel=False)
    v64 = vec[64]
    print(f"  vector env 64 vs bare core 64 (random learner actions; threaded, and on one thread) vs single "
          f"env: {ROUNDS} interleaved rounds")
    facade, speedup, ceiling = [], [], []
    for _ in range(ROUNDS):
        rv = v64.run(ROUND_S)
        rc = core.run(ROUND_S)
        r1 = serial.run(ROUND_S)
        rs = 1e6 / dma.run(ROUND_S)
        facade.append(rv / rc)
        speedup.append(rv / rs)
        ceiling.append(n_threads * r1 / rs)
    _row("bare core Engine.step, 64 envs, random learner actions", f"{core.steps_per_s:9,.0f} env-steps/s  "
         f"({n_threads} numba threads)")
    _row("  the same on one thread", f"{serial.steps_per_s:9,.0f} env-steps/s  (threaded / one thread: "
         f"{core.steps_per_s / serial.steps_per_s:.2f} x)")
    _row("vector64 / core64, median of rounds", f"{med(facade):9.0%}  (rounds: "
         f"{', '.join(f'{r:.0%}' for r in facade)})")
    _row("vector64 / single env (gym.make), median of rounds", f"{med(speedup):9.2f} x  (rounds: "
         f"{', '.join(f'{r:.2f}' for r in speedup)})")
    # what no facade can beat on this machine: the core's own work per env-step, spread perfectly
    # over the threads, against the single env's whole step
    _row(f"  ceiling: {n_threads} threads x one-thread core64 / single env", f"{med(ceiling):9.2f} x  "
         "(a free facade and perfect thread scaling)")

    print(f"SB3 PPO training (MlpPolicy, {PPO_ENVS} envs, n_steps=256, batch_size=256, n_epochs=1, cpu; "
          f"{PPO_STEPS} steps per round after a {PPO_WARMUP}-step warm-up; {ROUNDS} interleaved rounds)")
    ppo_d, ppo_c = PPORunner(sb3_dma), PPORunner(sb3_cartpole)
    rd, rc = [], []
    for _ in range(ROUNDS):
        rd.append(ppo_d.run())
        rc.append(ppo_c.run())
    ppo_ratios = [x / y for x, y in zip(rd, rc)]
    _row(f"make_sb3_vec_env({PPO_ENVS}) feb2024, median", f"{med(rd):9,.0f} env-steps/s")
    _row(f"CartPole-v1 DummyVecEnv({PPO_ENVS}), median", f"{med(rc):9,.0f} env-steps/s")
    _row("ratio DMAUnwind / CartPole, median of rounds", f"{med(ppo_ratios):9.2f} x  (rounds: "
         f"{', '.join(f'{r:.2f}' for r in ppo_ratios)})")

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
    cold_s = cold_notice = None
    if args.cold:
        cold_s, cold_notice, compiled = cold_first_step()
        _row("empty NUMBA_CACHE_DIR (cold compile)", f"{cold_s:9.1f} s  (compile notice on stderr: "
             f"{'yes' if cold_notice else 'NO'}{'; ' + compiled if compiled else ''})")
    else:
        _row("empty NUMBA_CACHE_DIR (cold compile)", "   skipped (--no-cold)")

    print("bars")
    mem_peak = max(mem["tracemalloc_peak"], mem["hwm_delta"])
    results = [
        _bar(single_ratio <= 5, f"single step <= 5x CartPole: {single_ratio:.1f}x"),
        _bar(med(speedup) >= 3, f"vector64 >= 3x single env: {med(speedup):.2f}x (ceiling on {n_threads} "
                                f"threads: {med(ceiling):.2f}x)"),
        _bar(med(facade) >= 0.8, f"vector64 >= 80% of core at E=64 (same random actions): {med(facade):.0%}"),
        _bar(med(ppo_ratios) >= 0.8, f"SB3 PPO >= 0.8x CartPole: {med(ppo_ratios):.2f}x"),
        _bar(mem_peak < 2 ** 30, f"256-env vector env < 1 GiB: {mem_peak / mib:.0f} MiB (larger of tracemalloc "
                                  "and peak RSS delta)"),
        _bar(warm_s <= WARM_FIRST_STEP_S, f"warm first step <= {WARM_FIRST_STEP_S:g} s: {warm_s:.2f} s"),
    ]
    if cold_s is not None:
        results.append(_bar(cold_notice and cold_s <= COLD_FIRST_STEP_S,
                            f"cold first step (empty numba cache, compile notice shown) <= "
                            f"{COLD_FIRST_STEP_S:g} s: {cold_s:.1f} s"
                            + ("" if cold_notice else f" (no '{COMPILE_NOTICE}' notice on stderr)")))
    print(f"  {sum(results)}/{len(results)} bars pass")


if __name__ == "__main__":
    main()
