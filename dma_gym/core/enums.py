"""Every index the core uses, declared once: dimensions (``D``), scalar parameters (``P``, from
the ``PARAMS`` table that also names each one's config field), book parameters (``BP``), facade
parameters (``R``), engine modes and controls (``Mode``, ``C``), info columns (``I``) and
observation features (``O``). The core reads them as compile-time constants."""
from __future__ import annotations

from enum import IntEnum

import numpy as np


class D(IntEnum):
    """Indices into the int64 ``dims`` array."""

    E = 0  # envs in the batch
    A = 1  # managers per env (index 0: the learner in the single-agent env)
    N = 2  # stocks
    K = 3  # index futures (IF, IC, IM)
    T = 4  # size tiers (CSI300, CSI500, CSI1000, CSI2000, MICRO)
    B = 5  # snowball tranches per underlying
    C = 6  # threshold cohorts of neutral / enhanced funds
    SIZE = 7


# (name, MarketConfig field it is read from or None when ``market.py`` derives it, meaning):
# the one list of scalar parameters; ``P`` indexes the float64 array ``pf`` built from it
# (bools stored as 0/1; the Almgren-Chriss benchmark fills its own few, see ``almgren_chriss.py``).
PARAMS: tuple[tuple[str, str | None, str], ...] = (
    ("MODE", "model_id", "0 market, 1 Almgren-Chriss benchmark"),
    ("DT", "dt", "days per step"),
    ("STEPS_PER_DAY", "steps_per_day", ""),
    ("STEPS", "steps", "steps per episode"),
    ("MKT_VOL", "market_vol", ""),
    ("SIZE_VOL", "size_vol", ""),
    ("IDIO_SCALE", "idio_scale", ""),
    ("IMPACT_EXP", "impact_exponent", ""),
    ("IMPACT_Y", "impact_prefactor", ""),
    ("PERM", "permanent_impact", ""),
    ("TRANS", "transient_impact", ""),
    ("TRANS_DECAY", None, "per-step multiplier exp(-ln2 dt / half-life)"),
    ("FEE", "fee_rate", ""),
    ("LIMIT_DEPTH", "limit_depth", ""),
    ("LIMITS_ON", "price_limits", ""),
    ("CLEARING_ORDER", "clearing_order", ""),
    ("SPIRAL_ON", "liquidity_spiral", ""),
    ("W_DD", "stress_drawdown_weight", ""),
    ("W_FLOW", "stress_flow_weight", ""),
    ("W_LD", "stress_limit_weight", ""),
    ("W_MM", "stress_mm_weight", ""),
    ("STRESS_ALPHA", None, "per-step adjustment 1 - exp(-ln2 dt / half-life)"),
    ("DEPTH_DROP", "depth_drop", ""),
    ("VOL_RISE", "vol_rise", ""),
    ("MARGIN_VOL", "margin_vol_sensitivity", ""),
    ("FUT_ON", "futures_on", ""),
    ("BASIS_ALPHA", None, ""),
    ("BASIS_VOL", "basis_vol", ""),
    ("FUT_LIMIT", "futures_limit", ""),
    ("PREMIUM_CAP", "basis_premium_cap", "annualised"),
    ("SB_ON", "snowballs_on", ""),
    ("HEDGE_RATIO", "hedge_ratio", ""),
    ("FIN_RATE", None, "per day"),
    ("M_INIT", "margin_initial", ""),
    ("M_WARN", "margin_warning", ""),
    ("M_CALL", "margin_call", ""),
    ("M_LIQ", "margin_liquidation", ""),
    ("CALL_STEPS", None, "margin-call deadline in steps"),
    ("LEV_CAP", "leverage_cap", ""),
    ("SCALE_FREEZE", "scale_freeze", ""),
    ("BROKER_SPEED", "broker_speed", ""),
    ("UNWIND_DAYS", "mandate_unwind_days", "days over which a book open at the horizon is charged as sold"),
    ("MAX_TRADE", "max_trade_frac", ""),
    ("MAX_BUY", "max_buy_frac", ""),
    ("MAX_FUT", "max_futures_frac", ""),
    ("MAX_HEDGE", "max_hedge_ratio", ""),
    ("PEER_SPEED", "peer_speed", ""),
    ("REG_ON", "regulation_on", ""),
    ("REG_TRIGGER", "reg_trigger_limit_share", ""),
    ("REG_FROM_DAY", "reg_from_day", ""),
    ("NET_SELL_CAP", "net_sell_cap", ""),
    ("NO_REDUCTION", "no_reduction", ""),
    ("FUT_NO_NEW_SHORT", "futures_no_new_shorts", ""),
    ("FUT_COVER_CAP", "futures_cover_cap", ""),
    ("REG_BIND_BROKER", "restrictions_bind_broker", ""),
    ("NT_ON", "national_team_on", ""),
    ("NT_DAILY", "nt_daily_max", ""),
    ("NT_TRIGGER", "nt_trigger_drawdown", ""),
    ("CB_ON", "circuit_breaker", ""),
    ("CB_THRESHOLD", "cb_threshold", ""),
    ("CORR_ON", "correlation_rule", ""),
    ("CORR_MIN", "corr_min", ""),
    ("NOISE", "noise_flow", ""),
    ("LP_STRENGTH", "lp_strength", ""),
    ("LP_CAPITAL", "lp_capital", ""),
    ("NF_SPEED", "neutral_speed", ""),
    ("IE_SPEED", "enhanced_speed", ""),
    ("BG_PART", "background_participation", ""),
    ("AC_SIGMA", None, "price units per sqrt(day)"),
    ("AC_EPS", None, ""),
    ("AC_ETA", None, ""),
    ("AC_GAMMA", None, ""),
    ("AC_X0", None, "initial shares"),
    ("OVERLAY", "enhanced_overlay", "share of funds' stuck (unfilled) sell value hedged with index-future shorts"),
)
P = IntEnum("P", {name: j for j, (name, _, _) in enumerate(PARAMS)} | {"SIZE": len(PARAMS)})
P.__doc__ = "Indices into the float64 scalar-parameter array ``pf`` (see ``PARAMS``)."


class BP(IntEnum):
    """Indices into the book-parameter array ``bp``."""

    EQUITY = 0  # total DMA equity, CNY bn
    LEVERAGE = 1  # mean initial gross / equity
    LEV_DISPERSION = 2  # relative spread of initial leverage (uniform)
    CONCENTRATION = 3  # share of a tier's names each book holds
    HEDGE_RATIO = 4  # futures short notional / long notional
    TRIGGER_LO = 5  # threshold rule: lambda_max / own start leverage, range
    TRIGGER_HI = 6
    RULE_CDF0 = 7  # cumulative peer-rule mix (threshold, threshold + target)
    RULE_CDF1 = 8
    MKT_DRIFT_SD = 9  # the episode's exogenous path (draw_path_nb): drift spreads,
    SIZE_DRIFT_SD = 10
    SHOCK_DAY_LO = 11  # shock-day range (LO < 0: the config's fixed shock day)
    SHOCK_DAY_HI = 12
    SHOCK_MKT_SD = 13  # and shock-size spreads
    SHOCK_SIZE_SD = 14
    WARMUP_LO = 15  # sessions run before the episode, drawn from [LO, HI] (LO < 0: none)
    WARMUP_HI = 16
    TREND_LO = 17  # the drifts' first session of the year, drawn from [LO, HI] (LO < 0: 0)
    TREND_HI = 18
    SIZE = 19  # then T tier weights, then K hedge weights


class R(IntEnum):
    """Indices into the output-parameter array ``rp`` (what the engine's rewards, termination and
    observations need beyond ``pf``)."""

    TERM_ON_LIQ = 0  # forced liquidation terminates the learner's episode
    AC_S0 = 1  # Almgren-Chriss: initial price
    AC_LAMBDA = 2  # risk aversion (1/CNY)
    AC_OBS_SCALE = 3  # price-deviation scale of the observation, sigma sqrt(T) (sigma = 0: gamma N X)
    CRRA = 4  # the learner's relative risk aversion: rewards are increments of u(NAV); 1 is log
    CRRA_FLOOR = 5  # u is taken at max(NAV, this) when CRRA != 1
    SIZE = 6


class Mode(IntEnum):
    """What one engine call does (``io.ctl[C.MODE]``)."""

    STEP = 0  # step every env; ended episodes stay ended
    NEXT_STEP = 1  # ... and an ended episode resets at the next call (reward 0, action ignored)
    SAME_STEP = 2  # ... and an ended episode resets in this call (outputs kept in final_*)
    RESET = 3  # only reset the envs flagged in io.reset


class C(IntEnum):
    """Indices into the control array ``io.ctl`` (int64)."""

    MODE = 0
    MAX_STEPS = 1  # truncate episodes at this many steps (0: never)
    RESETS = 2  # written by the call: envs that started a fresh episode in it
    GIVEN_SHOCKS = 3  # 1: this call steps with the shocks in io.shocks instead of drawing them
    SIZE = 4


# the info table's scalar columns per learner; the env layer exposes all but the internal ones
INFO_COLUMNS = ("equity", "nav", "leverage", "margin_ratio", "margin_call", "forced_liquidation",
                "sold_value", "unfilled_sell_value", "cut_value", "limit_down_share", "day", "step",
                "action_clipped", "implementation_shortfall", "unwind_cost", "log_nav", "episode_done")
INFO_INTERNAL = ("episode_done",)
I = IntEnum("I", {c.upper(): j for j, c in enumerate(INFO_COLUMNS)} | {"TIERS": len(INFO_COLUMNS)})
I.__doc__ = "Column offsets of the info table (``TIERS``: the first per-tier column)."


# (name, low, high): the single source of the observation layout and its bounds.
OBS_FEATURES = (
    ("nav", 0.0, 3.0),  # equity / initial equity
    ("leverage", 0.0, 2.0),  # gross long / equity / 10
    ("margin_ratio", 0.0, 5.0),  # equity / required margin
    ("to_warning", -5.0, 5.0),  # margin ratio minus the warning line
    ("to_call", -5.0, 5.0),  # margin ratio minus the call line
    ("to_liquidation", -5.0, 5.0),  # margin ratio minus the forced-liquidation line
    ("margin_call", 0.0, 1.0),  # a call is outstanding
    ("call_time_left", 0.0, 1.0),  # share of the cure period left (1 when no call)
    ("warning", 0.0, 1.0),  # below the warning line
    ("forced_liquidation", 0.0, 1.0),  # the broker has taken the book over (actions are ignored)
    ("exposure_csi300", 0.0, 10.0),  # tier long value / initial equity
    ("exposure_csi500", 0.0, 10.0),
    ("exposure_csi1000", 0.0, 10.0),
    ("exposure_csi2000", 0.0, 10.0),
    ("exposure_micro", 0.0, 10.0),
    ("futures_if", -10.0, 10.0),  # futures notional / initial equity (negative: short)
    ("futures_ic", -10.0, 10.0),
    ("futures_im", -10.0, 10.0),
    ("cash", -10.0, 10.0),  # cash / initial equity (negative: financed)
    ("basis_ann_if", -5.0, 5.0),  # annualised basis
    ("basis_ann_ic", -5.0, 5.0),
    ("basis_ann_im", -5.0, 5.0),
    ("ret_today_csi300", -5.0, 5.0),  # tier return since the last close x 10
    ("ret_today_csi500", -5.0, 5.0),
    ("ret_today_csi1000", -5.0, 5.0),
    ("ret_today_csi2000", -5.0, 5.0),
    ("ret_today_micro", -5.0, 5.0),
    ("drawdown_csi300", 0.0, 1.0),  # tier drawdown from its running peak
    ("drawdown_csi500", 0.0, 1.0),
    ("drawdown_csi1000", 0.0, 1.0),
    ("drawdown_csi2000", 0.0, 1.0),
    ("drawdown_micro", 0.0, 1.0),
    ("volume_csi300", 0.0, 20.0),  # traded value today / normal tier ADV
    ("volume_csi500", 0.0, 20.0),
    ("volume_csi1000", 0.0, 20.0),
    ("volume_csi2000", 0.0, 20.0),
    ("volume_micro", 0.0, 20.0),
    ("limit_down_share", 0.0, 1.0),  # share of all names at limit-down now
    ("limit_down_csi300", 0.0, 1.0),
    ("limit_down_csi500", 0.0, 1.0),
    ("limit_down_csi1000", 0.0, 1.0),
    ("limit_down_csi2000", 0.0, 1.0),
    ("limit_down_micro", 0.0, 1.0),
    ("stress_csi300", 0.0, 1.0),  # liquidity stress per tier
    ("stress_csi500", 0.0, 1.0),
    ("stress_csi1000", 0.0, 1.0),
    ("stress_csi2000", 0.0, 1.0),
    ("stress_micro", 0.0, 1.0),
    ("sell_quota", 0.0, 1.0),  # net-sell room left today / initial gross (1 if unrestricted)
    ("restricted", 0.0, 1.0),  # regulation in force
    ("halted", 0.0, 1.0),  # circuit breaker: stocks halted for the day
    ("time_of_day", 0.0, 1.0),  # intraday step / steps per day
    ("day", 0.0, 1.0),  # day / horizon
    ("sell_flow_csi300", 0.0, 20.0),  # market-wide net selling this step, ADV per day
    ("sell_flow_csi500", 0.0, 20.0),
    ("sell_flow_csi1000", 0.0, 20.0),
    ("sell_flow_csi2000", 0.0, 20.0),
    ("sell_flow_micro", 0.0, 20.0),
    ("peers_liquidated", 0.0, 1.0),  # share of other managers taken over by brokers
    ("peers_selling", 0.0, 1.0),  # other managers' sales this step / their initial gross
    ("locked_share", 0.0, 1.0),  # T+1-locked value / own long value
)
N_OBS = len(OBS_FEATURES)
OBS_LOW = np.array([f[1] for f in OBS_FEATURES], np.float32)
OBS_HIGH = np.array([f[2] for f in OBS_FEATURES], np.float32)

O = IntEnum("O", {name.upper(): i for i, (name, _, _) in enumerate(OBS_FEATURES)})
O.__doc__ = "Observation offsets by feature name; per-tier (per-contract) blocks start at the first tier's (IF's)."
