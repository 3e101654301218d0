"""Validation of the fire-sale mechanisms (docs/model.md §5.2, §6, §7.3, §10.1): the snowball dealers'
hedge cliff at the knock-in barrier, the fire-sale multiplier 1/(1 - k) of leverage-targeting books,
and no round-trip arbitrage in a stressed market."""
from __future__ import annotations

import numpy as np
import pytest

import dma_gym
from dma_gym.core.futures_nb import snowball_delta_nb

# delta just above the barrier by remaining tenor (docs/model.md §7.3)
TENORS = (3.0, 6.0, 12.0, 24.0)
DELTA_NEAR = (2.14, 1.68, 1.33, 1.08)


def _zero_shocks(eng: dma_gym.Engine) -> np.ndarray:
    return np.zeros((eng.num_envs, eng.shocks.shape[1]))


# ---- 1. the snowball hedge cliff ------------------------------------------------------------------

@pytest.mark.parametrize("ki", [0.8, 0.9, 0.96])
def test_snowball_delta_jumps_down_at_knock_in(ki):
    """docs/model.md §7.3: before knock-in the dealers' delta rises as the index falls toward the
    barrier (they buy futures into the decline) up to Delta_near(tenor) just above it; the knock-in
    drops it to 1 at once, a cliff of Delta_near - 1 per unit notional, 0.05-1.15 from 24 to 3 months."""
    cliffs = []
    for tenor, near in zip(TENORS, DELTA_NEAR):
        levels = np.linspace(1.0, ki + 1e-9, 50)
        d = np.array([snowball_delta_nb(x, ki, tenor, False) for x in levels])
        assert d[0] == pytest.approx(0.4)  # a fresh note at the start level
        assert np.all(np.diff(d) > 0.0)  # buys into the decline, all the way to the barrier
        above = snowball_delta_nb(ki + 1e-9, ki, tenor, False)
        below_unknocked = snowball_delta_nb(ki - 1e-9, ki, tenor, False)
        assert above == pytest.approx(near, abs=1e-6)
        assert below_unknocked == pytest.approx(near, abs=1e-6)  # continuous in the level ...
        for lev in (ki - 1e-9, ki - 0.05, 0.5, 1.0):  # ... the cliff is the knock-in itself
            assert snowball_delta_nb(lev, ki, tenor, True) == 1.0
        cliffs.append(above - snowball_delta_nb(ki - 1e-9, ki, tenor, True))
    cliffs = np.array(cliffs)
    assert np.all(cliffs > 0.0) and np.all(np.diff(cliffs) < 0.0)  # largest for short tenors
    assert 0.05 <= cliffs.min() and cliffs.max() <= 1.15, cliffs


# A market with only the snowball dealers (and a passive learner): no noise, flows, funds, limits
# or spiral, so every futures flow is the dealers' re-hedging.
QUIET_SB = dict(market_drift=0.0, size_drift=0.0, market_vol=0.01, size_vol=0.0, idio_scale=0.0,
                noise_flow=0.0, lp_strength=0.0, neutral_aum=0.0, enhanced_aum=0.0, national_team_on=False,
                liquidity_spiral=False, price_limits=False, n_managers=1, shock_day=-1, regulation_on=False)


def _snowball_episode(on: bool, z_market: float = -16.0, steps: int = 8):
    """One day with a market crash in its first step (given shocks), then a quiet day; per step
    (index level, dealer_qty, fut_flow, knocked, basis)."""
    cfg = dma_gym.scenarios.get("calm", **QUIET_SB, snowballs_on=on)
    eng = dma_gym.Engine(cfg, 1, learners=(0,))
    eng.reset(seed=0)
    s = eng.state
    rec = {"level": [], "qty": [s.dealer_qty[0].copy()], "flow": [], "knocked": [], "basis": [s.basis[0].copy()],
           "day": []}
    for k in range(steps):
        z = _zero_shocks(eng)
        if k == 0:
            z[0, 0] = z_market  # market-factor normal: beta * 1% * sqrt(1/4) * z, about -8% here
        eng.step(np.zeros((1, 1, eng.act_dim)), shocks=z)
        rec["level"].append(s.index_level[0].copy())
        rec["qty"].append(s.dealer_qty[0].copy())
        rec["flow"].append(s.fut_flow[0].copy())
        rec["knocked"].append(s.knocked[0].copy())
        rec["basis"].append(s.basis[0].copy())
        rec["day"].append(int(s.day[0]))
    return eng, {k: np.array(v) for k, v in rec.items()}


def test_knock_in_makes_dealers_sell_futures_into_the_fall():
    """An ~8% crash in the first step takes CSI500/1000 below the two highest barriers. During the
    fall the dealers buy futures (delta rises toward the barrier); knock-ins are observed at the
    close, and at the next step the knocked tranches' delta drops to 1: the dealers' long futures
    fall by sum_b N_b (Delta_b - 1) / L, a block of futures selling that pushes the IC/IM basis
    down. With snowballs_on=False there is no dealer position, no knock-in and no futures flow."""
    eng, on = _snowball_episode(True)
    _, off = _snowball_episode(False)
    u = eng.market.universe
    level = on["level"][0]
    assert np.all(level[1:] < 0.94) and np.all(level[1:] > 0.9)  # between the barriers 0.914 and 0.937
    # the fall (step 0): dealers buy futures into the decline
    assert np.all(on["flow"][0, 1:] > 5.0) and np.all(on["qty"][1, 1:] > on["qty"][0, 1:])
    # quiet intraday steps: no knock-in before the close, no re-hedging flow
    assert not on["knocked"][:3].any()
    assert np.all(on["flow"][1:4] == 0.0)
    # the close (step 3) observes the knock-ins: exactly the tranches with a barrier above the level
    for k in (1, 2):
        assert np.array_equal(on["knocked"][3, k], u.sb_ki[k] > level[k])
        assert on["knocked"][3, k].sum() == 2
    # the next step (step 4): the cliff. Expected drop of the hedge from the knocked tranches alone
    # (their delta before, at day 0, minus 1); the others only age by a day.
    for k in (1, 2):
        hit = on["knocked"][3, k]
        before = np.array([snowball_delta_nb(level[k], u.sb_ki[k, b], max(0.25, u.sb_tenor[k, b]), False)
                           for b in range(u.sb_ki.shape[1])])
        cliff = float((u.sb_notional[k] * (before - 1.0))[hit].sum() / level[k])
        drop = on["qty"][4, k] - on["qty"][5, k]  # qty[j + 1] is after step j
        assert cliff > 0.0
        assert drop == pytest.approx(cliff, rel=0.05), (k, drop, cliff)
        assert on["flow"][4, k] < -0.9 * cliff * level[k]  # sold at the bottom of the fall (CNY bn)
        assert np.all(on["flow"][5:, k] == 0.0)  # and once: knock-ins are permanent
        # the block sale opens the futures discount (basis += 1% x flow / depth, §7.2): the basis
        # falls much more in the knock-in step than in the next, flow-free one
        push = 0.01 * on["flow"][4, k] / u.fut_depth[k]
        d_ki = on["basis"][5, k] - on["basis"][4, k]
        d_next = on["basis"][6, k] - on["basis"][5, k]
        assert d_ki < d_next + 0.5 * push, (k, d_ki, d_next, push)
    # the IM cliff (N = 130bn, a 3-month tranche knocked) dwarfs IC's: the short tenors dominate
    assert on["flow"][4, 2] < 3.0 * on["flow"][4, 1]
    # the switch: no dealers, no knock-ins, no futures flow at all
    assert not off["knocked"].any()
    assert np.all(off["qty"] == 0.0) and np.all(off["flow"] == 0.0)


# ---- 2. the fire-sale multiplier 1/(1 - k) ---------------------------------------------------------

# One stock per tier, every DMA book wholly in the (one) micro-cap stock, unhedged, all peers on the
# leverage-targeting rule with the same leverage; nothing else trades. Temporary and transient impact,
# fees and financing are off, so selling V_s CNY moves the log price by exactly -perm * sigma * V_s / ADV
# (docs/model.md §5.2), and margin lines are out of the way.
MINIMAL = dict(market_drift=0.0, size_drift=0.0, market_vol=0.01, size_vol=0.0, idio_scale=0.0,
               noise_flow=0.0, lp_strength=0.0, neutral_aum=0.0, enhanced_aum=0.0, national_team_on=False,
               liquidity_spiral=False, price_limits=False, snowballs_on=False, shock_day=-1,
               regulation_on=False, correlation_rule=False, futures_on=False, hedge_ratio=0.0,
               impact_prefactor=0.0, transient_impact=0.0, fee_rate=0.0, financing_rate=0.0,
               margin_warning=0.001, margin_call=0.001, margin_liquidation=0.0,
               n_stocks_per_tier=(1, 1, 1, 1, 1), universe_dispersion=0.0, dma_tier_weights=(0.0, 0.0, 0.0, 0.0, 1.0),
               peer_rule_mix=(0.0, 1.0, 0.0), leverage_dispersion=0.0, steps_per_day=4)


def _fire_sale(leverage: float, peer_speed: float, z_market: float, steps: int = 100):
    """Log price path of the micro-cap stock after a one-step market shock (given shocks), and the
    feedback coefficient k = perm * sigma * sum_a (L0_a - 1) g_a / ADV of the books at the start."""
    cfg = dma_gym.scenarios.get("calm", **MINIMAL, leverage=leverage, peer_speed=peer_speed)
    eng = dma_gym.Engine(cfg, 1, learners=())
    eng.reset(seed=0)
    s, u = eng.state, eng.market.universe
    i = int(u.tier_start[4])
    assert np.all(s.rule[0] == 1) and np.allclose(s.lev0[0], leverage)
    k = cfg.permanent_impact * u.sigma[i] * float(((s.lev0[0] - 1.0) * s.gross[0]).sum()) / u.adv[i]
    p0 = s.price[0, i]
    beta = float(u.beta[i])
    path = []
    for step in range(steps):
        z = _zero_shocks(eng)
        if step == 0:
            z[0, 0] = z_market
        eng.step(None, shocks=z)
        path.append(np.log(s.price[0, i] / p0))
    return np.array(path), k, beta


@pytest.mark.parametrize("leverage", [2.0, 3.0, 4.0, 5.0])
def test_leverage_targeting_amplifies_a_shock_by_one_over_one_minus_k(leverage):
    """docs/model.md §10.1 target rule: gap = g - L0 E. A log fall d of the book's price leaves
    gap = (L0 - 1) g (1 - e^-d) ~ (L0 - 1) g d; selling it moves the log price by perm sigma gap / ADV
    (§5.2), i.e. k d, which forces a sale of k times the first, and so on: the total move is
    d (1 + k + k^2 + ...) = d / (1 - k), k = perm sigma sum_a (L0_a - 1) g_a / ADV. The result is
    first order in d (equity shrinks by ~L0 d / (1 - k) along the way), so a 0.1% shock must match to
    1% / (1 - k) and a 10x smaller one to 0.1% / (1 - k). Frozen peers (peer_speed=0) leave the move at the shock."""
    passive, _, beta = _fire_sale(leverage, 0.0, -0.2)
    d = passive[-1]
    assert d == pytest.approx(-0.2 * 0.01 * 0.5 * beta, rel=1e-9)  # beta * vol * sqrt(dt) * z, nothing else
    assert np.all(passive == d)
    errs = []
    for z in (-0.2, -0.02):
        active, k, _ = _fire_sale(leverage, 2.0, z)
        ref = _fire_sale(leverage, 0.0, z)[0][-1]
        assert 0.0 < k < 1.0
        amp = active[-1] / ref
        assert abs(active[-1] - active[-2]) < 1e-6 * abs(active[-1])  # converged
        errs.append(abs(amp * (1.0 - k) - 1.0))
    # 1% (0.1%) of the multiplier's distance to 1 / (1 - k) widens as k -> 1: tolerance / (1 - k)
    assert errs[0] < 0.01 / (1.0 - k) and errs[1] < 0.001 / (1.0 - k), (leverage, k, errs)
    assert errs[1] < 0.2 * errs[0]  # the error is the shock's second order


def test_fire_sale_multiplier_grows_with_leverage_and_runs_away_past_k_1():
    """k rises with leverage through both (L0 - 1) and the gross g = L0 E: amplification
    1.08 / 1.28 / 1.76 / 3.5 at 2x / 3x / 4x / 5x; at 6x k > 1 and there is no fixed point: the
    spiral keeps selling and the move grows far past any finite multiplier of the shock."""
    amps, ks = [], []
    for lev in (2.0, 3.0, 4.0, 5.0):
        path, k, _ = _fire_sale(lev, 2.0, -0.2)
        amps.append(path[-1] / _fire_sale(lev, 0.0, -0.2)[0][-1])
        ks.append(k)
    assert np.all(np.diff(amps) > 0.0) and np.all(np.diff(ks) > 0.0) and amps[0] > 1.0
    path, k, _ = _fire_sale(6.0, 2.0, -0.2)
    shock = _fire_sale(6.0, 0.0, -0.2)[0][-1]
    assert k > 1.0
    assert path[-1] / shock > 5.0 * amps[-1]
    assert path[-1] < path[-2]  # still falling after 25 days


# ---- 3. no round-trip arbitrage in a stressed market -----------------------------------------------

def _stressed_round_trip(day: int, n: int = 64, sell: bool = True, **overrides):
    """feb2024_replay (day 12 of the 2024 path is stressed in every seed), seeds paired: envs [0, n) do a round trip in the micro-cap tier starting at ``day``,
    envs [n, 2n) (same seeds: same books and shocks) hold. ``sell``: sell 12.5% of the tier's
    holdings, buy the value sold back the next step; else buy 0.1 x equity, sell the value bought
    at the next morning (T+1). Returns the paired equity gain at the close of the round trip's last
    day per CNY round-tripped, the learner's live mask at the start, micro-cap stress, the sold and
    bought values."""
    # the initial margin, the correlation rule and the neutral mandate lifted: they would cut the
    # round trip's buys on a stressed day, and the test is about what the market charges for it
    free = dict(margin_initial=0.6, margin_warning=0.6, margin_call=0.55, correlation_rule=False,
                max_hedge_ratio=5.0)
    cfg = dma_gym.scenarios.get("feb2024_replay", **{**free, **overrides})
    E = 2 * n
    eng = dma_gym.Engine(cfg, E, learners=(0,))
    seeds = list(range(500, 500 + n))
    eng.reset(seed=seeds + seeds)
    s = eng.state
    t0 = day * cfg.steps_per_day
    t1 = t0 + (1 if sell else cfg.steps_per_day)  # the second leg
    t_end = (t1 // cfg.steps_per_day + 1) * cfg.steps_per_day - 1  # that day's close
    out = {}
    for t in range(t_end + 1):
        a = np.zeros((E, 1, eng.act_dim))
        if t == t0:
            out["live"] = ~s.liquidated[:n, 0] & ~s.reg_active[:n]
            out["stress"] = s.stress[:n, 4].copy()
            a[:n, 0, 4] = -0.5 if sell else 0.4  # 0.5 x 25% of holdings / 0.4 x 0.25 x equity
            pre = s.price[:n].copy()
        elif t == t1:
            if sell:
                a[:n, 0, 4] = np.clip(out["leg"] / (cfg.max_buy_frac * np.maximum(s.equity[:n, 0], 1e-9)), 0.0, 1.0)
            else:
                micro = (s.hold[:n, 0] * s.price[:n] * (eng.market.universe.tier == 4)).sum(axis=1)
                a[:n, 0, 4] = -np.clip(out["leg"] / (cfg.max_trade_frac * np.maximum(micro, 1e-9)), 0.0, 1.0)
        eng.step(a)
        if t == t0:
            out["leg"] = (s.sold_step if sell else s.bought_step)[:n, 0].copy()
            # permanent impact of the first leg (same shocks and other orders in both halves), in
            # daily sigma per day of normal ADV: perm x (1 + vol_rise s) / (1 - depth_drop s), §5.2, §6.2
            u = eng.market.universe
            q = np.abs(s.fill[:n, 0]) * pre / u.adv
            dlf = np.abs(s.log_fund[:n] - s.log_fund[n:]) / u.sigma
            traded = (q > 1e-6) & (u.tier == 4)
            out["perm"] = np.array(  # per env, the median over the names it traded
[np.median(dlf[e][traded[e]] / q[e][traded[e]]) if traded[e].any() else np.nan
                                    for e in range(n)])
        elif t == t1:
            out["leg2"] = (s.bought_step if sell else s.sold_step)[:n, 0].copy()
    live = out["live"] & (out["leg"] > 0.05)  # the first leg filled (decided before the paths part)
    gain = (s.equity[:n, 0] - s.equity[n:, 0])[live] / out["leg"][live]
    return gain, out["stress"][live], out["leg"][live], out["leg2"][live], out["perm"][live]


@pytest.mark.parametrize("sell", [True, False], ids=["sell-then-buy", "buy-then-sell"])
def test_no_round_trip_arbitrage_in_a_stressed_market(sell):
    """docs/model.md §5.2 in stress (§6): on day 12 of feb2024 the micro-cap tier's stress is ~0.47
    (sigma x 1.7, depth x 0.62), so the permanent impact per CNY is ~2.7x the calm one (measured on
    the first leg against perm (1 + vol_rise s) / (1 - depth_drop s)). A learner that round trips
    0.5-1.2bn in the tier within a step (sell, buy back) or overnight (buy, sell after T+1) still
    loses on average (about 7% of the value), more per CNY than in the same market without the
    liquidity spiral (about 3%). Paired seeds; envs whose learner is liquidated or restricted at the
    start are left out (a choice made before the two halves differ)."""
    gain, stress, leg, leg2, perm = _stressed_round_trip(12, sell=sell)
    assert gain.size >= 25 and stress.mean() > 0.4
    assert leg.mean() > 0.3 and np.median(np.abs(leg2 / leg - 1.0)) < 0.05  # a genuine round trip
    se = gain.std(ddof=1) / np.sqrt(gain.size)
    assert gain.mean() + 3.0 * se < 0.0, (gain.mean(), se)
    calm, calm_stress, _, _, calm_perm = _stressed_round_trip(12, sell=sell, liquidity_spiral=False)
    assert np.all(calm_stress == 0.0)
    # permanent_impact in sigma per ADV; up to the step's own exogenous return (V_i is counted in
    # shares at the pre-clearing price, the value here at the previous step's price)
    assert np.allclose(calm_perm, 0.4, rtol=0.03)
    c = dma_gym.scenarios.get("feb2024_replay")
    expected = c.permanent_impact * (1.0 + c.vol_rise * stress) / (1.0 - c.depth_drop * stress)
    assert np.median(np.abs(perm / expected - 1.0)) < 0.02
    assert np.median(perm) > 2.0 * c.permanent_impact  # permanent impact per CNY is over twice the calm one
    se_c = calm.std(ddof=1) / np.sqrt(calm.size)
    assert calm.mean() + 3.0 * se_c < 0.0
    assert gain.mean() < calm.mean() - 2.0 * np.hypot(se, se_c), (gain.mean(), calm.mean())


# ---- 4. the futures basis: the carry cap on premiums, the neutral funds' hedge buy-back -------------

IM_K = 2  # contract index of IM

def _premiums(n: int = 32, **overrides):
    """feb2024 without a learner, ``n`` seeded envs for the whole episode. Per step: the basis,
    the basis the cap allows (cap x days left before the step / 242: what ``basis_nb`` used), the
    annualised basis as reported (days left after the step), and whether the futures price
    closed at its lower limit band (the clip that can lift F / S - 1 above the cap)."""
    cfg = dma_gym.scenarios.get("feb2024", **overrides)
    eng = dma_gym.Engine(cfg, n, learners=())
    eng.reset(seed=100)
    s = eng.state
    rec = {"basis": [], "allowed": [], "ann": [], "at_lo": []}
    for _ in range(cfg.steps):
        allowed = cfg.basis_premium_cap * s.days_left / 242.0
        lo = s.fut_settle * (1.0 - cfg.futures_limit)
        eng.step(None)
        rec["basis"].append(s.basis.copy())
        rec["allowed"].append(allowed)
        rec["ann"].append(s.basis * 242.0 / np.maximum(s.days_left, 1.0))
        rec["at_lo"].append(s.fut_price <= lo * (1.0 + 1e-12))
    return cfg, {k: np.array(v) for k, v in rec.items()}  # (steps, n, K)


def test_the_premium_stays_under_the_carry_cap():
    """docs/model.md §7.1: cash-and-carry arbitrage caps the futures premium at basis_premium_cap
    (annualised, 5%), applied before the futures price is clipped to its limit band. Over 32
    feb2024 episodes the basis never exceeds cap x days_left / 242 on steps where the price did
    not end at its lower band (where the clip lifts F, it may: 12 IM steps were clipped, all at
    deep discounts); annualised as reported (one day fewer left after a close) the IM premium
    peaks at 5.15%, under the issue's 15% bar.
    With the cap effectively off (5.0) the same episodes show IM premiums of ~88% annualised
    (dealers' buying into the decline, then the funds' covering): the cap is what binds. Discounts
    are not capped: both runs reach IM discounts past 100% annualised."""
    cfg, on = _premiums()
    free = ~on["at_lo"]
    assert np.all(on["basis"][free] <= on["allowed"][free] + 1e-12)
    at_cap = np.isclose(on["basis"], on["allowed"], rtol=1e-9, atol=0.0) & free
    assert at_cap[..., IM_K].sum() >= 20  # the cap binds, often
    im = on["ann"][..., IM_K]
    assert im.max() <= 0.15, im.max()  # the bar (measured 0.0515)
    _, off = _premiums(basis_premium_cap=5.0)
    im_off = off["ann"][..., IM_K]
    assert im_off.max() > 0.15 and im_off.max() > 3.0 * im.max(), (im_off.max(), im.max())
    assert (im_off > cfg.basis_premium_cap * 1.05).sum() >= 20
    # the cap is one-sided: deep discounts in both runs
    assert im.min() < -0.5 and im_off.min() < -0.5


def test_neutral_funds_buy_back_their_hedge_as_their_stocks_sell():
    """docs/model.md §10.2: exiting neutral funds queue their stocks for sale and buy back the
    matching futures short as the queue fills: the share of the owed cover released in a step is
    the share of the funds' queue value that sold in it, sold / (sold + still queued), never all
    at once. feb2024_replay with every cohort exiting from the first step (neutral_threshold 0):
    the owed cover turns positive with the exits, shrinks on steps without new exits as the queue
    sells, what is owed plus what is held short always equals the remaining funds' hedge, and once
    the queue is empty (enhanced funds off, so the queue is the neutral funds' alone) nothing is
    owed and the funds hold no short."""
    for ov in ({}, dict(enhanced_aum=0.0)):
        cfg = dma_gym.scenarios.get("feb2024_replay", neutral_threshold=(0.0, 0.0), **ov)
        eng = dma_gym.Engine(cfg, 1, learners=())
        eng.reset(seed=7)
        s, u = eng.state, eng.market.universe
        assert np.all(s.nf_cover[0] == 0.0)
        rec = []
        for _ in range(cfg.steps):
            cover0, qty0, frac0 = s.nf_cover[0].copy(), s.nf_qty[0].copy(), s.nf_frac[0].sum()
            eng.step(None)
            released = s.nf_qty[0] - qty0  # bought back this step (index units; shorts < 0)
            queued = float((s.bg_pending[0] * s.price[0]).sum())
            sold = float(s.bg_sold_step[0])
            share = sold / (sold + queued) if queued > 0.0 else 1.0
            owed = released + s.nf_cover[0]  # owed before this step's buy-back
            hedged = u.nf_hedge != 0.0
            if owed[IM_K] > 0.0:
                np.testing.assert_allclose(released[hedged] / owed[hedged], share, rtol=1e-9)
            else:
                assert np.all(owed == 0.0)
            assert np.all(released >= 0.0) and np.all(s.nf_cover[0] >= 0.0)
            # conservation: owed + held = the remaining funds' hedge
            np.testing.assert_allclose(s.nf_cover[0] + s.nf_qty[0], u.nf_hedge * s.nf_frac[0].mean(),
                                       rtol=1e-9, atol=1e-9)
            rec.append((frac0 - s.nf_frac[0].sum(), cover0, s.nf_cover[0].copy(), sold, queued, share))
        exits = [r for r in rec if r[0] > 0.0]
        assert len(exits) >= 10 and rec[0][0] > 0.0  # every cohort exits from the first step
        assert np.all(rec[0][2][hedged] > 0.0)  # the first exit leaves cover owed
        assert all(r[5] < 1.0 for r in exits)  # the queue never fills at once
        quiet = [r for r in rec if r[0] == 0.0 and r[1][IM_K] > 0.0 and r[3] > 0.0]
        assert len(quiet) >= 10
        for _, before, after, _, _, _ in quiet:  # no new exits: the owed cover only shrinks
            assert np.all(after[hedged] < before[hedged])
        if cfg.enhanced_aum == 0.0:
            empty = [r for r in rec if r[4] == 0.0]
            assert len(empty) >= 4  # the queue clears within the episode
            for r in empty:
                assert np.all(r[2] == 0.0)
            assert s.nf_frac[0].sum() == 0.0 and np.allclose(s.nf_qty[0], 0.0, atol=1e-12)
