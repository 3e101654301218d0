"""Validation (docs/model.md §9): one behavioural test per regulation switch. Each runs the same
seeded episode with the same learner actions with the switch on and off, checks the documented
effect with it on and that the effect is gone with it off."""
from __future__ import annotations

import numpy as np

import dma_gym
from dma_gym import Engine

SEED = 5
# a small market: 8 names per tier, the learner (manager 0) and two peers; the initial margin
# (docs/model.md §8.3) lowered to 0.6 and the neutral mandate's hedge cap (§8.5) lifted, so that the
# switches, not the margin or the mandate, bound the learner's orders
SMALL = dict(n_stocks_per_tier=(8, 8, 8, 8, 8), n_managers=3, margin_initial=0.6, margin_warning=0.6,
             margin_call=0.55, max_hedge_ratio=5.0)
CSI300, CSI500, CSI1000, CSI2000, MICRO = range(5)  # tier indices (action slots 0-4)
IF, IC, IM = range(3)  # contract indices (action slots 5-7)


def _engine(**overrides) -> Engine:
    cfg = dma_gym.scenarios.get("calm", **{**SMALL, **overrides})
    eng = Engine(cfg, 1, learners=(0,))
    eng.reset(seed=SEED)
    return eng


def _act(tiers=(0, 0, 0, 0, 0), futures=(0, 0, 0)) -> np.ndarray:
    return np.asarray(tuple(tiers) + tuple(futures), np.float32).reshape(1, 1, 8)


def _run(steps: int, action, **overrides):
    """Step a fresh one-env engine ``steps`` times with a fixed learner action; per step record
    whether restrictions were in force when the step began, and copies of the learner's state
    before and after it."""
    eng = _engine(**overrides)
    rec = []
    for _ in range(steps):
        s = eng.state
        before = dict(reg=bool(s.reg_active[0]), gross=float(s.gross[0, 0]), hold=s.hold[0, 0].copy(),
                      fut=s.fut[0, 0].copy(), day=int(s.day[0]))
        eng.step(action)
        s = eng.state
        assert not s.liquidated[0, 0]
        rec.append(dict(before, sold=float(s.sold_step[0, 0]), bought=float(s.bought_step[0, 0]),
                        cut=float(s.cut_step[0, 0]), gross_after=float(s.gross[0, 0]),
                        hold_after=s.hold[0, 0].copy(), fut_after=s.fut[0, 0].copy()))
    return eng, rec


def _restricted_days(rec) -> list[int]:
    """Days on which restrictions were in force at every step."""
    days = sorted({r["day"] for r in rec})
    return [d for d in days if all(r["reg"] for r in rec if r["day"] == d)]


def test_net_sell_cap_bounds_daily_net_sales():
    """§9.2: forced regulation, the learner sells every tier at full speed: on each restricted
    day its net sales stay within net_sell_cap x gross0 (the cap binds: the rest is reported as
    cut value); with regulation off the same episode sells several times more."""
    sell = _act(tiers=(-1,) * 5)
    on_eng, on = _run(12, sell, regulation_on=True, reg_from_day=0)
    _, off = _run(12, sell, regulation_on=False)
    cap = on_eng.config.net_sell_cap * float(on_eng.state.gross0[0, 0])
    days = _restricted_days(on)
    assert len(days) >= 2
    for d in days:
        won = [r for r in on if r["day"] == d]
        woff = [r for r in off if r["day"] == d]
        net_on = sum(r["sold"] - r["bought"] for r in won)
        net_off = sum(r["sold"] - r["bought"] for r in woff)
        assert net_on <= cap * 1.01, (d, net_on, cap)
        assert net_on >= cap * 0.9, (d, net_on, cap)  # the whole quota is used
        assert sum(r["cut"] for r in won) > 0.5 * cap  # the excess is cut and reported
        assert all(r["cut"] == 0.0 for r in woff)
        assert net_off > 1.2 * cap, (d, net_off, cap)


def test_no_reduction_blocks_every_stock_sale_but_not_buys():
    """§9.2: with no_reduction every stock sell order of a restricted manager is cut to 0 (its
    holdings of the names it tries to sell do not move; the order value is reported as cut),
    while its buys still fill; without the flag the same orders sell."""
    small = np.isin(np.arange(40) // 8, (CSI2000, MICRO))  # names of the tiers being sold
    acts = [_act(tiers=(0, 0, 0, -1, -1)), _act(tiers=(0.5, 0, 0, -1, -1))]

    def run(nr):
        eng = _engine(regulation_on=True, reg_from_day=0, no_reduction=nr, correlation_rule=False)
        assert np.array_equal(eng.market.universe.tier >= CSI2000, small)
        rec = []
        for k in range(8):
            reg = bool(eng.state.reg_active[0])
            h0 = eng.state.hold[0, 0].copy()
            eng.step(acts[k % 2])
            s = eng.state
            rec.append((reg, float(s.sold_step[0, 0]), float(s.bought_step[0, 0]), float(s.cut_step[0, 0]),
                        h0, s.hold[0, 0].copy(), k % 2))
        return rec

    on, off = run(True), run(False)
    restricted = [i for i, r in enumerate(on) if r[0]]
    assert len(restricted) >= 4
    for i in restricted:
        reg, sold, bought, cut, h0, h1, buying = on[i]
        assert sold == 0.0
        assert np.array_equal(h1[small], h0[small])
        assert h0[small].sum() > 0.0 and cut > 0.0  # the sell orders are reported as cut
        if buying:
            assert bought > 0.0
        assert off[i][1] > 0.0  # without the flag the same orders sell
    # before restrictions start both runs are the same episode
    assert [r[1] for r in on if not r[0]] == [r[1] for r in off if not r[0]]
    assert all(r[1] > 0.0 for r in on if not r[0])


def test_futures_no_new_shorts_blocks_adding_to_shorts():
    """§9.3: restricted, an order adding to a futures short is cut (the position does not move,
    the notional is reported as cut); without futures_no_new_shorts the shorts grow."""
    add = _act(futures=(0, -1, -1))
    _, on = _run(8, add, regulation_on=True, reg_from_day=0, futures_no_new_shorts=True)
    _, off = _run(8, add, regulation_on=True, reg_from_day=0, futures_no_new_shorts=False)
    restricted = [i for i, r in enumerate(on) if r["reg"]]
    assert len(restricted) >= 4
    for i in restricted:
        assert np.array_equal(on[i]["fut_after"], on[i]["fut"])
        assert on[i]["cut"] > 0.0
        d = off[i]["fut_after"] - off[i]["fut"]
        assert d[IC] < 0.0 and d[IM] < 0.0
        assert off[i]["cut"] == 0.0
    # unrestricted steps add shorts in both runs
    assert all(r["fut_after"][IM] < r["fut"][IM] for r in on if not r["reg"])


def test_futures_cover_cap_limits_daily_covering():
    """§9.3: restricted, covering per day is capped at futures_cover_cap x the short held at the
    start of the day; with the cap at 1 the same orders cover more."""
    cap = 0.3
    cover = _act(futures=(0, 1, 0))  # cover IC at full speed (0.25 of the short per step)
    _, on = _run(8, cover, regulation_on=True, reg_from_day=0, futures_cover_cap=cap)
    _, off = _run(8, cover, regulation_on=True, reg_from_day=0, futures_cover_cap=1.0)
    days = _restricted_days(on)
    assert days
    for d in days:
        won = [r for r in on if r["day"] == d]
        woff = [r for r in off if r["day"] == d]
        start_on = -won[0]["fut"][IC]
        covered_on = won[-1]["fut_after"][IC] - won[0]["fut"][IC]
        assert start_on > 0.0
        assert covered_on <= cap * start_on * (1 + 1e-9), (d, covered_on, start_on)
        assert covered_on >= cap * start_on * (1 - 1e-6)  # the cap binds: the whole quota is used
        assert sum(r["cut"] for r in won) > 0.0
        start_off = -woff[0]["fut"][IC]
        covered_off = woff[-1]["fut_after"][IC] - woff[0]["fut"][IC]
        assert covered_off > 1.5 * cap * start_off, (d, covered_off, start_off)
        assert all(r["cut"] == 0.0 for r in woff)


def _corr_with_hedge(cfg, u, hold, price, fut) -> float:
    """docs/model.md §9.5: ex-ante factor-model correlation of a long book with its hedge mix."""
    w = np.maximum(hold, 0.0) * price
    w = w / w.sum()
    short = np.maximum(-fut, 0.0)
    x = (short / short.sum()) @ u.index_w
    iv = (cfg.idio_scale * u.sigma) ** 2

    def cov(a, b):
        return ((a @ u.beta) * (b @ u.beta) * cfg.market_vol ** 2
                + (a @ u.size_load) * (b @ u.size_load) * cfg.size_vol ** 2 + np.sum(a * b * iv))

    return float(cov(w, x) / np.sqrt(cov(w, w) * cov(x, x)))


def test_correlation_rule_blocks_buys_that_break_the_hedge():
    """§9.5: a CSI1000 book hedged with IM only buys CSI300 names: the post-trade correlation with
    the hedge falls below corr_min and below the pre-trade one, so the buy gets no room (nothing
    fills, the order value is reported as cut). A buy of CSI1000 names (raising the correlation)
    still fills, and with correlation_rule off the CSI300 buy fills."""
    corr_min = 0.98
    ov = dict(dma_tier_weights=(0.01, 0.01, 0.96, 0.01, 0.01), dma_hedge_weights=(0.0, 0.0, 1.0),
              dma_concentration=1.0, max_buy_frac=2.0, leverage_cap=10.0, corr_min=corr_min)

    def one_step(rule, tier):
        eng = _engine(correlation_rule=rule, **ov)
        s, u, cfg = eng.state, eng.market.universe, eng.config
        h, p, f, eq = s.hold[0, 0].copy(), s.price[0].copy(), s.fut[0, 0].copy(), float(s.equity[0, 0])
        value = cfg.max_buy_frac * eq
        order = np.where(u.tier == tier, value * u.tier_w / p, 0.0)
        pre = _corr_with_hedge(cfg, u, h, p, f)
        post = _corr_with_hedge(cfg, u, h + order, p, f)
        tiers = [0.0] * 5
        tiers[tier] = 1.0
        eng.step(_act(tiers=tiers))
        s = eng.state
        return pre, post, value, float(s.bought_step[0, 0]), float(s.cut_step[0, 0]), h, s.hold[0, 0].copy()

    pre, post, value, bought, cut, h0, h1 = one_step(True, CSI300)
    assert post < corr_min - 0.002 and post < pre - 0.001, (pre, post)  # the construction
    assert bought == 0.0
    assert np.array_equal(h1, h0)
    assert abs(cut - value) < 0.02 * value, (cut, value)
    # off: the same buy fills
    _, _, value, bought, cut, _, _ = one_step(False, CSI300)
    assert bought > 0.95 * value and cut == 0.0
    # on, but a buy that raises the correlation is not blocked
    pre, post, value, bought, cut, _, _ = one_step(True, CSI1000)
    assert post > pre
    assert bought > 0.95 * value and cut == 0.0


def test_scale_freeze_keeps_gross_at_its_initial_level():
    """§9.4: the learner sells micro-caps for two steps, then buys every tier at full speed. With
    scale_freeze its buys refill the book only up to gross0 (price moves and impact aside) and are
    cut to 0 once gross is at gross0; without it gross rises far above gross0."""
    def run(sf):
        eng = _engine(scale_freeze=sf, correlation_rule=False)
        g0 = float(eng.state.gross0[0, 0])
        rec = []
        for k in range(8):
            g = float(eng.state.gross[0, 0])
            eng.step(_act(tiers=(0, 0, 0, 0, -1)) if k < 2 else _act(tiers=(1,) * 5))
            s = eng.state
            rec.append((k, g, float(s.gross[0, 0]), float(s.bought_step[0, 0]), float(s.cut_step[0, 0])))
        return g0, rec

    g0, on = run(True)
    assert on[1][2] < 0.9 * g0  # the sales made room
    for k, g, g_after, bought, cut in on[2:]:
        room = max(g0 - g, 0.0)
        assert bought <= room * 1.03 + 1e-9, (k, bought, room)  # at execution prices
        assert g_after <= g0 * 1.03, (k, g_after, g0)
        assert cut > 0.0
        if g >= g0:
            assert bought == 0.0
    assert on[2][3] > 0.9 * (g0 - on[2][1])  # the room is used
    g0_off, off = run(False)
    assert g0_off == g0
    assert max(r[2] for r in off) > 1.25 * g0
    assert off[2][3] > 1.2 * (g0 - off[2][1])  # the first buy step already exceeds the room


def test_national_team_buys_index_names_never_micro_caps():
    """§9.6: in a falling market the national team orders nothing until an index is
    nt_trigger_drawdown below its peak, then buys every CSI300/500/1000 name, split by
    nt_index_weights, and never a CSI2000 or micro-cap name; switched off it orders nothing."""
    ov = dict(market_drift=-0.03, nt_trigger_drawdown=0.06)

    def run(nt):
        eng = _engine(national_team_on=nt, **ov)
        u = eng.market.universe
        rec = []
        for _ in range(24):
            eng.step(_act())
            s = eng.state
            dd = float(np.max(1.0 - s.index_level[0] / s.index_peak[0]))
            rec.append((dd, s.nt_order[0].copy(), s.price[0].copy(), float(s.nt_budget[0])))
        return eng, u, rec

    eng, u, on = run(True)
    cfg = eng.config
    trig = cfg.nt_trigger_drawdown
    w = np.asarray(cfg.nt_index_weights)
    assert np.array_equal(np.unique(u.tier), np.arange(5))
    index_names = u.tier <= CSI1000
    bought_steps = 0
    for dd, o, p, budget in on:
        assert np.all(o[u.tier == MICRO] == 0.0)
        assert np.all(o[u.tier == CSI2000] == 0.0)
        assert np.all(o >= 0.0)
        if dd < trig - 0.005:
            assert np.all(o == 0.0)
        if dd > trig + 0.005:
            bought_steps += 1
            assert np.all(o[index_names] > 0.0)
            val = np.array([np.sum((o * p)[u.tier == t]) for t in range(3)])
            assert np.allclose(val / val.sum(), w / w.sum(), atol=0.01), val
    assert bought_steps >= 8
    assert on[-1][3] < cfg.nt_budget  # the budget is being spent
    _, _, off = run(False)
    assert [r[0] > trig + 0.005 for r in off].count(True) >= 8  # the same fall, and still:
    assert all(np.all(r[1] == 0.0) for r in off)
    assert all(r[3] == cfg.nt_budget for r in off)


def test_restrictions_forced_from_day_zero_bind_from_the_first_step():
    """``reg_from_day=0``: in force from the first step (later days switch on at the close before)."""
    for from_day, want in ((0, True), (1, False), (-1, False)):
        cfg = dma_gym.scenarios.get("calm", n_stocks_per_tier=(8, 8, 8, 8, 8), n_managers=3,
                                    regulation_on=True, reg_from_day=from_day)
        eng = Engine(cfg, 1, learners=(0,))
        eng.reset(seed=5)
        assert bool(eng.state.reg_active[0]) is want, from_day


def test_correlation_rule_covers_sales_and_the_whole_book():
    """§9.5, the rule on the whole book after the orders, sales included. In the small market the
    learner's default book (IC/IM hedge, correlation ~0.85) selling all its CSI500 and CSI1000
    names would leave a book correlating ~0.74 with the hedge: with the rule the sale is cut
    (nothing sells, the order value is reported as cut); without it the same sale fills. Selling
    CSI500 alone (~0.83) passes. Whole book: selling CSI1000 alone (~0.79) is cut, but the same
    sale next to a CSI300 buy that keeps the book at ~0.82 goes through, both legs. Buys first:
    a CSI500 sale (~0.83 alone) with a micro-cap buy that takes the book to ~0.79 loses the buy
    and keeps the sale; with a CSI300 buy too small to restore 0.8 both legs are cut."""
    corr_min = dma_gym.scenarios.get("calm").corr_min
    ov = dict(max_trade_frac=1.0, max_buy_frac=2.0, leverage_cap=10.0)

    def one_step(rule, tiers):
        eng = _engine(correlation_rule=rule, **ov)
        s, u, cfg = eng.state, eng.market.universe, eng.config
        assert cfg.corr_min == corr_min
        h, p, f, eq = s.hold[0, 0].copy(), s.price[0].copy(), s.fut[0, 0].copy(), float(s.equity[0, 0])
        x = np.asarray(tiers, np.float64)[u.tier]
        order = np.where(x < 0.0, x * cfg.max_trade_frac * h, x * cfg.max_buy_frac * eq * u.tier_w / p)
        sells = np.minimum(order, 0.0)
        r = dict(pre=_corr_with_hedge(cfg, u, h, p, f), post=_corr_with_hedge(cfg, u, h + order, p, f),
                 post_sells=_corr_with_hedge(cfg, u, h + sells, p, f), sell_value=float(-(sells * p).sum()),
                 buy_value=float((np.maximum(order, 0.0) * p).sum()), h0=h)
        eng.step(_act(tiers=tiers))
        s = eng.state
        assert not s.reg_active[0] and not s.liquidated[0, 0]
        return dict(r, sold=float(s.sold_step[0, 0]), bought=float(s.bought_step[0, 0]),
                    cut=float(s.cut_step[0, 0]), h1=s.hold[0, 0].copy())

    def cut_all(r):
        assert r["sold"] == 0.0 and r["bought"] == 0.0
        assert np.array_equal(r["h1"], r["h0"])
        want = r["sell_value"] + r["buy_value"]
        assert abs(r["cut"] - want) < 0.03 * want, (r["cut"], want)  # at the mask's prices

    def fills(r, sell=True, buy=True):
        if sell:
            assert r["sold"] > 0.9 * r["sell_value"], (r["sold"], r["sell_value"])
        if buy:
            assert r["bought"] > 0.9 * r["buy_value"], (r["bought"], r["buy_value"])

    # 1. a sale alone that breaks the rule
    sale = (0, -1, -1, 0, 0)
    on = one_step(True, sale)
    assert on["post"] < corr_min - 0.02 and on["post"] < on["pre"] and on["pre"] > corr_min, on
    cut_all(on)
    off = one_step(False, sale)
    fills(off, buy=False)
    assert off["cut"] == 0.0
    # a smaller sale that keeps the book above corr_min passes
    r = one_step(True, (0, -1, 0, 0, 0))
    assert corr_min + 0.01 < r["post"] < r["pre"], r
    fills(r, buy=False)
    assert r["cut"] == 0.0

    # 2. the whole book: a breaking sale passes next to a buy that keeps the book above corr_min
    r = one_step(True, (0, 0, -1, 0, 0))
    assert r["post"] < corr_min - 0.005, r
    cut_all(r)
    r = one_step(True, (0.25, 0, -1, 0, 0))
    assert r["post_sells"] < corr_min - 0.005 and r["post"] > corr_min + 0.01, r
    fills(r)
    assert r["cut"] == 0.0

    # 3. buys are cut first; sales only if the book still breaks the rule without the buys
    r = one_step(True, (0, -1, 0, 0, 1))
    assert r["post"] < corr_min - 0.005 and r["post_sells"] > corr_min + 0.01, r
    assert r["bought"] == 0.0
    fills(r, buy=False)
    assert abs(r["cut"] - r["buy_value"]) < 0.03 * r["buy_value"], (r["cut"], r["buy_value"])
    off = one_step(False, (0, -1, 0, 0, 1))
    fills(off)
    r = one_step(True, (0.06, 0, -1, 0, 0))
    assert r["post"] < corr_min - 0.002 and r["post_sells"] < corr_min - 0.005, r
    cut_all(r)


def _rotate_large(n: int = 16, policy_kw: dict | None = None, **overrides):
    """``agents.make("rotate_large")`` on ``n`` feb2024 episodes (seeds 0..n-1) to the end. Per
    close, for each learner not liquidated and hedged: the whole book's correlation with its hedge.
    Per step in which the learner traded: the correlation before, and after its trades at the
    prices before (the trades' own effect; prices then move the book on their own)."""
    import agents
    from dma_gym.envs.vector_env import DMAUnwindVectorEnv

    env = DMAUnwindVectorEnv(n, "feb2024", **overrides)
    policy = agents.make("rotate_large", env, **(policy_kw or {}))
    obs, _ = env.reset(seed=0)
    cfg, u, s = env.config, env.market.universe, env.state
    alive = np.ones(n, np.bool_)
    closes, trades = [], []
    for _ in range(cfg.steps):
        h0, p0, f0 = s.hold[:, 0].copy(), s.price.copy(), s.fut[:, 0].copy()
        act, _ = policy.predict(obs)
        obs, _, term, trunc, _ = env.step(act)
        for e in np.flatnonzero(alive & ~s.liquidated[:, 0]):
            hedged = (s.fut[e, 0] < 0.0).any() and s.gross[e, 0] > 0.0
            if not hedged:
                continue
            if s.sold_step[e, 0] > 0.0 or s.bought_step[e, 0] > 0.0:
                trades.append((_corr_with_hedge(cfg, u, h0[e], p0[e], f0[e]),
                               _corr_with_hedge(cfg, u, s.hold[e, 0], p0[e], s.fut[e, 0])))
            if s.step[e] % cfg.steps_per_day == 0:
                closes.append(_corr_with_hedge(cfg, u, s.hold[e, 0], s.price[e], s.fut[e, 0]))
        alive &= ~(term | trunc)
    env.close()
    return cfg, np.array(closes), np.array(trades)


def test_rotate_large_respects_the_correlation_rule_at_every_close():
    """§9.5 for the rotate_large baseline (sells CSI2000 and micro-caps, buys CSI300) over 16
    feb2024 episodes: at every close the book of a live, hedged learner correlates at least
    corr_min - 0.02 with its hedge (measured minimum 0.906: in the default universe and hedge mix
    the rotation does not come near 0.8, the rule never binds and the episodes are the same with
    it off). Where the rule binds (an IM-only hedge, corr_min 0.9, the rotation selling every
    tier but CSI300, which drives the book toward pure CSI300 at ~0.78): no step's trades take the
    book below min(corr_min, its correlation before), while without the rule they do and the book
    ends far lower. Prices alone still move a book the rule froze below the line (measured down to
    ~0.85 at closes): the rule binds trades, not prices (§9.5)."""
    cfg, closes, _ = _rotate_large()
    assert closes.size >= 16 * 20
    assert closes.min() >= cfg.corr_min - 0.02, closes.min()

    stressed = dict(dma_hedge_weights=(0.0, 0.0, 1.0), corr_min=0.9)
    rot = dict(sell_tiers=("CSI500", "CSI1000", "CSI2000", "MICRO"))
    cfg, on_closes, on = _rotate_large(policy_kw=rot, **stressed)
    _, off_closes, off = _rotate_large(policy_kw=rot, correlation_rule=False, **stressed)
    tol = 2e-3  # the rule sees the step's pre-clearing prices, this check the last mark's

    def broke(t):
        return t[:, 1] < np.minimum(cfg.corr_min, t[:, 0]) - tol

    assert len(on) >= 16 * 4 and len(off) >= 16 * 4
    assert not broke(on).any(), (np.count_nonzero(broke(on)), (np.minimum(cfg.corr_min, on[:, 0]) - on[:, 1]).max())
    assert np.count_nonzero(broke(off)) >= 16, np.count_nonzero(broke(off))
    assert off_closes.min() < cfg.corr_min - 0.1 and np.median(off_closes) < np.median(on_closes) - 0.05, (
        off_closes.min(), np.median(off_closes), np.median(on_closes))
