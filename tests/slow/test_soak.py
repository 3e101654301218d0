"""Randomized soak of the core: >= 100,000 env-steps in batches over feb2024 / calm and randomized
config overrides, with random actions for some managers.

After every batched step: every float of the state buffer is finite and every price is > 0 (and
inside the day's band when limits are on). At the end of every episode: the accounting identity,
the cash audit, non-negative holdings and locks, and every env done at the horizon.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import market, rollout

from dma_gym.core.layout import State
from dma_gym.core.enums import P

pytestmark = pytest.mark.slow

TOTAL_ENV_STEPS = 100_000
N_CONFIGS = 10  # distinct parameter sets (<= 12); dims/params are runtime arrays: no recompiles
REL = 1e-9


def random_configs(seed: int = 20240205, n: int = N_CONFIGS) -> list[tuple[str, dict]]:
    """The scenario defaults first, then ``n - 2`` randomized override sets."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, dict]] = [("feb2024", {}), ("calm", {})]
    for _ in range(n - 2):
        lev = round(float(rng.uniform(1.5, 6.0)), 3)
        cb = bool(rng.random() < 0.4)
        ov = {
            "leverage": lev,
            # the highest initial leverage lev*(1+dispersion) must stay under the cap
            "leverage_cap": max(6.0, round(lev * 1.1 + 0.01, 3)),
            "impact_exponent": round(float(rng.uniform(0.5, 0.7)), 3),
            "price_limits": bool(rng.random() < 0.7),
            "clearing_order": int(rng.integers(0, 2)),
            "liquidity_spiral": bool(rng.random() < 0.7),
            "steps_per_day": int(rng.integers(2, 9)),
            "regulation_on": bool(rng.random() < 0.7),
            "no_reduction": bool(rng.random() < 0.3),
            "circuit_breaker": cb,
        }
        if rng.random() < 0.3:
            ov["reg_from_day"] = int(rng.integers(0, 10))
        if cb:  # a breaker with a crash day to trip it
            ov["cb_threshold"] = round(float(rng.uniform(0.02, 0.05)), 3)
            ov["shock_day"] = int(rng.integers(0, 20))
            ov["shock_market"] = round(float(rng.uniform(-0.15, -0.06)), 3)
        elif rng.random() < 0.3:
            ov["shock_day"] = int(rng.integers(0, 20))
            ov["shock_market"] = round(float(rng.uniform(-0.15, 0.0)), 3)
        out.append((str(rng.choice(["feb2024", "calm"])), ov))
    return out


def _check_step(k: int, buf, s: State, limits_on: bool, tag: str) -> None:
    if not np.isfinite(buf.sf).all():
        bad = [n for n, a in zip(State._fields, s) if a.dtype.kind == "f" and not np.isfinite(a).all()]
        raise AssertionError(f"{tag} step {k}: non-finite floats in {bad}")
    for name in ("price", "exec_price", "prev_close", "fut_price"):
        a = getattr(s, name)
        assert (a > 0.0).all(), f"{tag} step {k}: {name} <= 0 at {np.argwhere(a <= 0.0)[:5].tolist()}"
    if limits_on:
        ok = (s.price >= s.lo * (1 - 1e-9)) & (s.price <= s.hi * (1 + 1e-9))
        assert ok.all(), f"{tag} step {k}: price outside the band at {np.argwhere(~ok)[:5].tolist()}"


def _check_episode_end(m, s: State, tag: str) -> None:
    assert s.done.all() and (s.step == m.steps).all(), f"{tag}: not every env reached the horizon"
    eq0 = np.abs(s.equity0)
    ident = (s.cash + (s.hold * s.price[:, None, :]).sum(-1)
             + (s.fut * (s.fut_price - s.fut_settle)[:, None, :]).sum(-1))
    err = np.abs(s.equity - ident) - REL * np.abs(ident) - REL * eq0
    assert (err <= 0).all(), f"{tag}: accounting identity broken at {np.argwhere(err > 0)[:5].tolist()}"
    audit = s.cash0 - s.cum_buy + s.cum_sell + s.cum_fut - s.cum_fin - s.cum_fee
    err = np.abs(s.cash - audit) - REL * np.abs(audit) - REL * eq0
    assert (err <= 0).all(), f"{tag}: cash audit broken at {np.argwhere(err > 0)[:5].tolist()}"
    assert (s.hold >= 0.0).all() and (s.locked >= 0.0).all()
    assert (s.locked <= s.hold * (1 + 1e-12) + 1e-15).all()


def test_random_soak():
    configs = random_configs()
    assert len({repr(c) for c in configs}) == len(configs) <= 12
    rng = np.random.default_rng(7)
    total = 0
    episodes = 0
    stats = {"liquidated": 0, "limit_down_steps": 0, "halted_steps": 0, "reg_active": 0}
    while total < TOTAL_ENV_STEPS:
        name, ov = configs[episodes % len(configs)]
        m = market(name, **ov)
        n_envs = int(rng.choice([32, 64]))
        n_ctrl = int(rng.integers(0, 5))
        ctrl = np.zeros(m.n_managers, bool)
        ctrl[:n_ctrl] = True
        lo_act = float(rng.choice([-1.0, -1.0, -0.2]))  # some batches mostly sell
        arng = np.random.default_rng([7, episodes])
        act = np.zeros((n_envs, m.n_managers, m.n_actions))

        def actions_fn(k, s, _rng):
            act[:, :n_ctrl] = arng.uniform(lo_act, 1.0, (n_envs, n_ctrl, m.n_actions))
            return act

        limits_on = bool(m.pf[P.LIMITS_ON] > 0.5)
        tag = f"episode {episodes} {name} {ov} E={n_envs} controlled={n_ctrl}"
        for k, buf, s in rollout(m, n_envs, 1000 + episodes, controlled=ctrl, actions_fn=actions_fn):
            _check_step(k, buf, s, limits_on, tag)
            stats["limit_down_steps"] += int(s.at_ld.any(axis=1).sum())
            stats["halted_steps"] += int(s.halted.sum())
        _check_episode_end(m, s, tag)
        stats["liquidated"] += int(s.liquidated.sum())
        stats["reg_active"] += int(s.reg_active.sum())
        total += n_envs * m.steps
        episodes += 1
    print(f"soak: {total} env-steps, {episodes} episodes, {len(configs)} configs, {stats}")
    assert total >= TOTAL_ENV_STEPS
    assert episodes >= len(configs), "every config must have run at least once"
    # the soak reached the stressed branches, not only calm markets
    assert all(v > 0 for v in stats.values()), stats
