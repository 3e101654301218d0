"""Dependencies point one way: the envs never pull in torch or SB3; only the SB3 adapter imports
stable-baselines3, and without it the adapter says what to install."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "stable_baselines3")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_envs_do_not_import_torch_or_sb3():
    r = _run(
        "import sys, json, gymnasium as gym, dma_gym, dma_gym.envs, dma_gym.adapters\n"
        "e = gym.make('DMAUnwind-v0'); e.reset(seed=0); e.step(e.action_space.sample())\n"
        "v = gym.make_vec('DMAUnwind-v0', num_envs=2, vectorization_mode='vector_entry_point'); v.reset(seed=0)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
        "import dma_gym.adapters.sb3\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    assert r.returncode == 0, r.stderr[-3000:]
    before, after = (json.loads(line) for line in r.stdout.strip().splitlines()[-2:])
    assert before == []
    assert "stable_baselines3" in after


def test_sb3_adapter_without_sb3_says_what_to_install():
    r = _run(
        "import sys\n"
        "sys.modules['stable_baselines3'] = None  # as if not installed\n"
        "from gymnasium.error import DependencyNotInstalled\n"
        "try:\n"
        "    from dma_gym.adapters import make_sb3_vec_env\n"
        "except DependencyNotInstalled as exc:\n"
        "    print('ERR', exc)\n"
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ERR" in r.stdout and "pip install" in r.stdout and "stable-baselines3" in r.stdout


def test_no_torch_or_sb3_in_core_or_envs_sources():
    for path in list((ROOT / "dma_gym" / "core").glob("*.py")) + list((ROOT / "dma_gym" / "envs").glob("*.py")):
        text = path.read_text()
        for name in HEAVY:
            assert f"import {name}" not in text and f"from {name}" not in text, f"{path.name} imports {name}"
