"""Subprocess probe for the compile-once tests (not a test module).

Rolls engines forward through ``conftest.rollout`` (an ``Engine`` per case: one jitted entry per
step) under several scenarios, overrides (price limits off, sequential clearing, other steps per
day, the Almgren-Chriss mode), batch sizes and numbers of learners (none included), then prints,
as JSON on the last line of stdout, the number of compiled signatures of every numba dispatcher
defined in the core modules: ``{"dma_gym.core.engine_nb.engine_step_nb": 1, ...}``.

Run as ``python tests/core/_compile_probe.py`` (set ``NUMBA_CACHE_DIR`` to an empty folder for a
cold compile). ``compiled_counts`` is also imported by the tests themselves.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

from dma_gym.testing.checks import compiled_signatures

CORE_MODULES = tuple(f"dma_gym.core.{n}" for n in
                     ("engine_nb", "reset_nb", "step", "ac_nb", "market_nb", "futures_nb", "background_nb",
                      "accounts_nb"))

# (scenario, overrides, n_envs, controlled managers, steps)
CASES = (
    ("feb2024", {}, 1, 0, 12),
    ("feb2024", {}, 3, 2, 12),
    ("calm", {"clearing_order": 1}, 2, 1, 12),
    ("feb2024", {"price_limits": False, "steps_per_day": 2}, 2, 3, 12),
    ("feb2024", {"circuit_breaker": True, "regulation_on": True, "reg_from_day": 0}, 4, 1, 12),
    ("almgren_chriss", {}, 2, 1, None),
)


def compiled_counts(modules: list[ModuleType]) -> dict[str, int]:
    """``module.name -> len(signatures)`` for every numba dispatcher defined in ``modules``."""
    return compiled_signatures(modules)


def exercise() -> None:
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for conftest
    from conftest import market, rollout

    for name, overrides, n_envs, n_ctrl, steps in CASES:
        m = market(name, **overrides)
        ctrl = np.zeros(m.n_managers, bool)
        ctrl[:n_ctrl] = True
        arng = np.random.default_rng(0)

        def act(k, s, _rng, m=m, n_envs=n_envs, arng=arng):
            return arng.uniform(-1.0, 1.0, (n_envs, m.n_managers, m.n_actions))

        for _ in rollout(m, n_envs, 1, steps=steps, controlled=ctrl, actions_fn=act):
            pass


def main() -> None:
    exercise()
    mods = [importlib.import_module(n) for n in CORE_MODULES]
    print(json.dumps(compiled_counts(mods)))


if __name__ == "__main__":
    main()
