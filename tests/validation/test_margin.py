"""Validation of the required margin and the initial margin (docs/model.md §8.3): the swap's
margin on the long leg (per-name rate x stress add-on), the futures' exchange margin on gross
contract value (the larger side, never netted against the long book), and new exposure (stock
buys, a learner's added futures shorts) scaled so that the requirement stays within
equity / margin_initial."""
from __future__ import annotations

import numpy as np

import dma_gym
from dma_gym import Engine

CSI300, CSI500, CSI1000, CSI2000, MICRO = range(5)  # tier indices (action slots 0-4)
IF, IC, IM = range(3)  # contract indices (action slots 5-7)
T = 5  # futures actions start at slot T


def _long_leg(cfg, u, s, stress) -> np.ndarray:
    """(E, A) swap margin on the long leg: sum_i m_i (1 + mvs stress[tier_i]) hold_i P_i, the
    add-on only with the liquidity spiral on."""
    m = np.broadcast_to(u.margin_rate, s.price.shape)
    if cfg.liquidity_spiral:
        m = m * (1.0 + cfg.margin_vol_sensitivity * stress[:, u.tier])
    return np.einsum("en,ean->ea", m, s.hold * s.price[:, None, :])


def _futures_leg(u, s) -> np.ndarray:
    """(E, A) exchange margin: the larger of the long and the short sides' margined value."""
    val = u.fut_margin * s.fut_price[:, None, :]
    return np.maximum((val * np.maximum(s.fut, 0.0)).sum(-1), (val * np.maximum(-s.fut, 0.0)).sum(-1))


def test_futures_margin_is_charged_on_gross_contract_value():
    """§8.3: ``required`` equals the formula recomputed in numpy from the state after every step
    (the stress add-on uses the stress the step's accounting saw: the one before the step's
    liquidity update), with the spiral on and off; the per-name rate is swap_margin_share x the
    tier's haircut. A book rotated into CSI300 names, short IM only, posts the full IM margin on
    top of its long leg: the hedge is not netted against the long book."""
    cases = (("calm", {}), ("feb2024_replay", {}), ("feb2024_replay", dict(liquidity_spiral=False)))
    for name, ov in cases:
        cfg = dma_gym.scenarios.get(name, **ov)
        eng = Engine(cfg, 4, learners=(0,))
        eng.reset(seed=3)
        s, u = eng.state, eng.market.universe
        assert np.array_equal(u.margin_rate, cfg.swap_margin_share * np.asarray(cfg.tier_haircut)[u.tier])
        assert np.array_equal(u.fut_margin, np.asarray(cfg.futures_margin))
        assert np.all(s.fut[:, :, IM] < 0.0)  # hedged books: the futures term is not zero
        np.testing.assert_allclose(_long_leg(cfg, u, s, s.stress) + _futures_leg(u, s), s.required, rtol=1e-12)
        addon = 0.0
        for _ in range(8):
            stress = s.stress.copy()
            eng.step(np.zeros((4, 1, eng.act_dim)))
            want = _long_leg(cfg, u, s, stress) + _futures_leg(u, s)
            np.testing.assert_allclose(want, s.required, rtol=1e-12)
            np.testing.assert_allclose(s.margin_ratio, s.equity / s.required, rtol=1e-12)
            addon = max(addon, float(np.max(cfg.margin_vol_sensitivity * stress)))
        if cfg.liquidity_spiral:
            assert addon > 0.01, (name, addon)  # the add-on is part of what was checked
    # the rate follows the config
    cfg = dma_gym.scenarios.get("calm", swap_margin_share=0.4, tier_haircut=(0.1, 0.2, 0.3, 0.4, 0.6))
    u = Engine(cfg, 1, learners=(0,)).market.universe
    np.testing.assert_allclose(u.margin_rate, 0.4 * np.array([0.1, 0.2, 0.3, 0.4, 0.6])[u.tier], rtol=1e-15)

    # long CSI300, short IM: sell every other tier, buy CSI300, cover IC; IM is left alone
    cfg = dma_gym.scenarios.get("calm", correlation_rule=False, max_trade_frac=1.0, max_futures_frac=1.0)
    eng = Engine(cfg, 1, learners=(0,))
    eng.reset(seed=3)
    s, u = eng.state, eng.market.universe
    act = np.array([1.0, -1.0, -1.0, -1.0, -1.0, 0.0, 1.0, 0.0]).reshape(1, 1, 8)
    for _ in range(6):
        stress = s.stress.copy()
        eng.step(act)
    assert not s.liquidated[0, 0]
    val = s.hold[0, 0] * s.price[0]
    assert val[u.tier == CSI300].sum() > 0.99 * val.sum(), val[u.tier != CSI300].sum() / val.sum()
    assert s.fut[0, 0, IC] == 0.0 and s.fut[0, 0, IF] == 0.0 and s.fut[0, 0, IM] < 0.0
    im_margin = u.fut_margin[IM] * -s.fut[0, 0, IM] * s.fut_price[0, IM]
    long_leg = _long_leg(cfg, u, s, stress)[0, 0]
    fut_term = s.required[0, 0] - long_leg
    assert fut_term >= im_margin * (1.0 - 1e-12), (fut_term, im_margin)
    np.testing.assert_allclose(s.required[0, 0], long_leg + im_margin, rtol=1e-12)
    assert im_margin > 0.5 * long_leg  # a netted hedge would visibly lower the requirement


# ---- the initial margin ------------------------------------------------------------------------

E = 16


def _buy_run(margin_initial: float, steps: int = 24, futures: bool = False, zero_shocks: bool = False):
    """calm, correlation rule off, leverage_cap 20 (only the initial margin binds): the learner
    buys +1 on every tier (or adds IM shorts at -1 with ``futures``) every step. Per step and env,
    before the step: equity, required, stress, futures prices; after it: cut_step, margin ratio,
    futures position, liquidation."""
    # max_hedge_ratio 10: the neutral mandate's cap on shorts / long book stays out of the way
    cfg = dma_gym.scenarios.get("calm", correlation_rule=False, leverage_cap=20.0, margin_initial=margin_initial,
                                max_hedge_ratio=10.0)
    eng = Engine(cfg, E, learners=(0,))
    eng.reset(seed=11)
    s = eng.state
    act = np.zeros((E, 1, eng.act_dim))
    if futures:
        act[:, 0, T + IM] = -1.0
    else:
        act[:, 0, :T] = 1.0
    rec = []
    for _ in range(steps):
        before = dict(eq=s.equity[:, 0].copy(), req=s.required[:, 0].copy(), stress=s.stress.copy(),
                      fp=s.fut_price.copy(), fut=s.fut[:, 0].copy(), live=~s.liquidated[:, 0],
                      reg=s.reg_active.copy())
        eng.step(act, shocks=np.zeros_like(eng.shocks) if zero_shocks else None)
        rec.append(dict(before, cut=s.cut_step[:, 0].copy(), mr=s.margin_ratio[:, 0].copy(),
                        fut_after=s.fut[:, 0].copy(), liq=s.liquidated[:, 0].copy(),
                        bought=s.bought_step[:, 0].copy()))
    return eng, rec


def test_buys_stop_at_the_initial_margin():
    """§8.3 initial margin. Stock buys: the learner orders max_buy_frac x equity per tier (value
    B = 5 max_buy_frac E at the mask's prices, margin at the last mark's rates
    add = max_buy_frac E sum_i m_i tier_w_i); the rule scales them by min(1, room / add), room =
    E / margin_initial - required: the cut reported is exactly B (1 - scale), so the requirement
    after the buys at those rates is at most E / margin_initial. Without shocks the margin ratio
    is at or above the line after every step that buys; with shocks a step's price move can take
    it a few % below, and later buys stop until it is back. A lower margin_initial lets the
    same buyer reach a lower ratio. Futures: added IM shorts are cut to room / (fm_IM F_IM)
    contracts exactly, at the last mark's futures price.

    The ratio itself is only bounded right after exposure is added: the rule never sells, so
    price moves (and, without shocks, financing and the futures' carry) take a book at the line
    below it later (measured down to 0.78 of margin_initial over 24 steps with shocks)."""
    runs = {}
    for mi in (1.0, 0.9):
        eng, rec = _buy_run(mi)
        cfg, u = eng.config, eng.market.universe
        binding = []
        for r in rec:
            ok = r["live"] & ~r["liq"] & ~r["reg"]
            m = u.margin_rate * (1.0 + cfg.margin_vol_sensitivity * r["stress"][:, u.tier])
            add = cfg.max_buy_frac * r["eq"] * (m * u.tier_w).sum(axis=1)
            buys = cfg.max_buy_frac * r["eq"] * T
            room = np.maximum(r["eq"], 0.0) / mi - r["req"]
            scale = np.clip(room / add, 0.0, 1.0)
            np.testing.assert_allclose(r["cut"][ok], (buys * (1.0 - scale))[ok], rtol=1e-9, atol=1e-9)
            # the post-trade requirement at the step's rates is within equity / margin_initial
            # (or adds nothing when a price move has already taken the book past the line)
            after = (r["req"] + scale * add)[ok]
            assert np.all(after <= np.maximum(np.maximum(r["eq"][ok], 0.0) / mi, r["req"][ok]) * (1 + 1e-12))
            part = ok & (scale > 0.0) & (scale < 1.0)  # the rule bound and some buying was left
            binding.extend(r["mr"][part] / mi)
        binding = np.array(binding)
        assert sum(np.count_nonzero(r["cut"] > 0.0) for r in rec) > 0.5 * E * len(rec)  # the rule binds
        assert binding.size >= E
        # one step's price move after the buys: measured 0.964 (1.0) and 0.941 (0.9) of the line
        assert binding.min() >= 0.92, binding.min()
        assert abs(np.median(binding) - 1.0) < 0.01, np.median(binding)  # the buys fill the room
        runs[mi] = np.array([r["mr"] for r in rec])  # (steps, E)

    # a lower initial margin: the same buyer on the same paths reaches lower margin ratios
    lo, hi = runs[0.9], runs[1.0]
    assert np.median(lo[4:]) < np.median(hi[4:]) - 0.05, (np.median(lo[4:]), np.median(hi[4:]))
    assert lo.min() < hi.min()

    # without shocks only impact, drift and carry move prices: every step that adds exposure
    # leaves the book at or above the line (measured >= 0.996 of it); what it loses later
    # (financing, the futures' carry) is not bought back, and no further buys are allowed
    for mi in (1.0, 0.9):
        _, rec = _buy_run(mi, zero_shocks=True)
        mr = np.array([r["mr"] for r in rec])
        added = np.array([r["bought"] for r in rec]) > 0.0
        assert added.sum() >= E and np.all(mr[added] >= mi * 0.99), mr[added].min() / mi
        assert np.any(np.array([r["cut"] for r in rec]) > 0.0)

    # futures: new IM shorts within the initial margin
    for mi in (1.0, 0.9):
        eng, rec = _buy_run(mi, futures=True)
        cfg, u = eng.config, eng.market.universe
        cut_steps = 0
        for r in rec:
            ok = r["live"] & ~r["liq"] & ~r["reg"]
            fp = r["fp"][:, IM]
            want = cfg.max_futures_frac * r["eq"] / fp  # contracts ordered
            room = np.maximum(np.maximum(r["eq"], 0.0) / mi - r["req"], 0.0)
            allowed = np.minimum(want, room / (fp * u.fut_margin[IM]))
            added = r["fut"][:, IM] - r["fut_after"][:, IM]
            np.testing.assert_allclose(added[ok], allowed[ok], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(r["cut"][ok], ((want - allowed) * fp)[ok], rtol=1e-9, atol=1e-9)
            np.testing.assert_array_equal(r["fut_after"][:, :IM], r["fut"][:, :IM])  # IF, IC untouched
            cut_steps += int(np.count_nonzero(r["cut"][ok] > 0.0))
        assert cut_steps > 0.5 * E * len(rec)
        _, rec = _buy_run(mi, futures=True, zero_shocks=True)
        mr = np.array([r["mr"] for r in rec])
        added = np.array([r["fut"][:, IM] - r["fut_after"][:, IM] for r in rec]) > 0.0
        assert added.sum() >= E and np.all(mr[added] >= mi * 0.99), mr[added].min() / mi
        assert np.any(np.array([r["cut"] for r in rec]) > 0.0)


def test_a_learner_cannot_turn_net_short():
    """§8.5, the neutral mandate. A learner that keeps its long book and adds futures shorts stays
    within max_hedge_ratio x its long book after every step (the excess is bought back); with the
    mandate lifted the same actions take it well past that. A learner that sells its whole long
    book without covering has its hedge bought back with it."""
    add = np.array([0, 0, 0, 0, 0, 0, -1, -1], np.float64).reshape(1, 1, 8)
    dump = np.array([-1, -1, -1, -1, -1, 0, 0, 0], np.float64).reshape(1, 1, 8)
    free = dict(max_trade_frac=1.0, margin_initial=0.6, margin_warning=0.6, margin_call=0.55)

    def run(act, max_hedge):
        eng = Engine(dma_gym.scenarios.get("calm", max_hedge_ratio=max_hedge, **free), 1, learners=(0,))
        eng.reset(seed=3)
        out = []
        for _ in range(8):
            eng.step(act)
            s = eng.state
            long = float((s.hold[0, 0] * s.price[0]).sum())
            short = float(-(np.minimum(s.fut[0, 0], 0.0) * s.fut_price[0]).sum())
            out.append((long, short, float(s.equity0[0, 0])))
        return out

    on, off = run(add, 1.2), run(add, 10.0)
    for long, short, _ in on:
        assert short <= 1.2 * long * 1.01, (long, short)
    assert max(short / long for long, short, _ in off) > 1.5  # lifted: the shorts run past 1.2x
    sold = run(dump, 1.2)
    assert sold[0][0] < 1e-9 * sold[0][2] and sold[0][1] < 1e-9 * sold[0][2]  # both legs gone at once
