"""What every env facade needs around a core step, fused into single jitted calls.

A facade step is: clip the learners' actions into the core's action buffer (counting clipped
entries), draw each env's shocks for this step from its random stream, step the core, then
write observations, rewards, termination flags and the info table. As separate numpy calls this
cost as much as the core step itself for one env; here it is one call: ``facade_step_nb``, or
``facade_step_parallel_nb`` with chunks of envs on parallel threads.

Info table ``info`` (E, M, N_INFO) float64: columns ``INFO_KEYS``, then ``tier_drawdown`` (T
columns), then ``basis_annualized`` (K columns). Facade parameters ``rp`` (R.SIZE,) float64.
"""
from __future__ import annotations

import math
from enum import IntEnum

from numba import njit, prange

from dma_gym.core.futures_nb import basis_annualized_nb
from dma_gym.core.jit import entry, kernel
from dma_gym.core.layout import P, state_views_nb, universe_views_nb
from dma_gym.core.observe import observe_env_nb
from dma_gym.core.reset_nb import reset_env_nb
from dma_gym.core.rng_nb import fill_shocks_nb
from dma_gym.core.step import env_step_views_nb

# scalar info columns, per learner (the env layer maps them to the DESIGN.md info keys)
INFO_KEYS = ("equity", "nav", "leverage", "margin_ratio", "margin_call", "forced_liquidation",
             "sold_value", "unfilled_sell_value", "cut_value", "limit_down_share", "day", "step",
             "action_clipped", "implementation_shortfall")
N_INFO_SCALARS = len(INFO_KEYS)
_SHORTFALL = INFO_KEYS.index("implementation_shortfall")
NAV_FLOOR = 1e-6  # log NAV is taken of max(NAV, this): a wiped-out book stays finite


class R(IntEnum):
    """Indices into the facade parameter array ``rp``."""

    TERM_ON_LIQ = 0  # forced liquidation terminates the learner's episode
    AC_S0 = 1  # Almgren-Chriss: initial price
    AC_LAMBDA = 2  # risk aversion (1/CNY)
    AC_OBS_SCALE = 3  # price-deviation scale of the observation, sigma sqrt(T)
    SIZE = 4


@kernel
def log_nav_nb(equity, equity0):
    """log(max(equity / equity0, NAV_FLOOR))."""
    x = equity / equity0
    return math.log(x if x > NAV_FLOOR else NAV_FLOOR)


@kernel
def _count_nonfinite_nb(s, act_in, skip):
    """NaN/inf entries in the actions of the envs a step would move (not skipped, not done)."""
    E, M, J = act_in.shape
    bad = 0
    for e in range(E):
        if not (skip[e] or s.done[e]):
            for m in range(M):
                for j in range(J):
                    x = act_in[e, m, j]
                    if x - x != 0.0:  # NaN or inf
                        bad += 1
    return bad


@kernel
def _prepare_range_nb(s, learners, act_in, act_buf, clipped, streams, z, skip, e0, e1):
    """For envs ``e0`` .. ``e1`` - 1 not skipped (``skip`` (E,) bool) and not done: clip ``act_in``
    (E, M, J) into ``act_buf`` (E, A, n_act) at the learners' rows, count the clipped entries per
    learner into ``clipped`` (E, M) int64, and draw the env's shocks for this step into ``z``
    (E, n_shocks) from its random stream ``streams[e]`` (4,) uint64 (``rng_nb``). The actions must
    have been checked finite (``_count_nonfinite_nb``)."""
    M, J = act_in.shape[1], act_in.shape[2]
    n_normal = z.shape[1] - s.cash.shape[1]  # the last A shocks are clearing-priority uniforms
    for e in range(e0, e1):
        if skip[e] or s.done[e]:
            continue
        for m in range(M):
            a = learners[m]
            n = 0
            for j in range(J):
                x = act_in[e, m, j]
                if x > 1.0:
                    x = 1.0
                    n += 1
                elif x < -1.0:
                    x = -1.0
                    n += 1
                act_buf[e, a, j] = x
            clipped[e, m] = n
        fill_shocks_nb(streams[e], z[e], n_normal)


@entry
def finish_nb(pf, uf, ui, sf, si, sb, dims, learners, rp, rows, lo, hi, obs, prev, rew, term, info,
              clipped):
    """For envs flagged in ``rows`` (E,) bool: observations into ``obs`` (E, M, obs_dim) float32,
    rewards since the last call into ``rew`` (E, M) (updating ``prev``), termination flags into
    ``term`` (E, M) bool and the info table into ``info``.

    Market reward: change of log NAV. Almgren-Chriss reward: minus the step's mean-variance
    shortfall, -(n_k (S_0 - S~_k) + lambda sigma^2 tau x_k^2) / (X S_0) x 100 (percent of initial
    value), whose expected sum is -(E[IS] + lambda Var[IS]) for any deterministic schedule.
    """
    _finish_views_nb(pf, universe_views_nb(uf, ui, dims)[0], state_views_nb(sf, si, sb, dims)[0],
                     learners, rp, rows, lo, hi, obs, prev, rew, term, info, clipped)


@kernel
def _finish_views_nb(pf, u, s, learners, rp, rows, lo, hi, obs, prev, rew, term, info, clipped):
    _finish_range_nb(pf, u, s, learners, rp, rows, lo, hi, obs, prev, rew, term, info, clipped, 0,
                     s.price.shape[0])


@kernel
def _finish_range_nb(pf, u, s, learners, rp, rows, lo, hi, obs, prev, rew, term, info, clipped, e0, e1):
    """``finish_nb``'s writes for envs ``e0`` .. ``e1`` - 1."""
    M = learners.shape[0]
    T = s.tier_level.shape[1]
    K = s.index_level.shape[1]
    is_ac = pf[P.MODE] > 0.5
    term_liq = rp[R.TERM_ON_LIQ] > 0.5
    for e in range(e0, e1):
        if not rows[e]:
            continue
        done = s.done[e]
        if is_ac:
            _finish_ac_nb(pf, s, e, rp, obs, prev, rew, term, info)
        else:
            observe_env_nb(pf, u, s, e, learners, lo, hi, obs[e])
            for m in range(M):
                a = learners[m]
                now = log_nav_nb(s.equity[e, a], s.equity0[e, a])
                rew[e, m] = now - prev[e, m]
                prev[e, m] = now
                term[e, m] = done or (term_liq and s.liquidated[e, a])
                info[e, m, _SHORTFALL] = 0.0
        for m in range(M):
            a = learners[m]
            r = info[e, m]
            eq = s.equity[e, a]
            r[0] = eq
            r[1] = eq / s.equity0[e, a]
            r[2] = s.leverage[e, a]
            r[3] = s.margin_ratio[e, a]
            r[4] = 1.0 if s.call_active[e, a] else 0.0
            r[5] = 1.0 if s.liquidated[e, a] else 0.0
            r[6] = s.sold_step[e, a]
            r[7] = s.unfilled_step[e, a]
            r[8] = s.cut_step[e, a]
            r[9] = s.ld_share[e]
            r[10] = s.day[e]
            r[11] = s.step[e]
            r[12] = clipped[e, m]
            for t in range(T):
                r[N_INFO_SCALARS + t] = 1.0 - s.tier_level[e, t]
            for k in range(K):
                r[N_INFO_SCALARS + T + k] = basis_annualized_nb(s.basis[e, k], s.days_left[e, k])


@kernel
def _finish_ac_nb(pf, s, e, rp, obs, prev, rew, term, info):
    x0 = pf[P.AC_X0]
    s0 = rp[R.AC_S0]
    cash = s.cash[e, 0]
    x = s.hold[e, 0, 0]
    n = -s.fill[e, 0, 0]
    d_is = n * s0 - (cash - prev[e, 0])
    var = rp[R.AC_LAMBDA] * pf[P.AC_SIGMA] ** 2 * pf[P.DT] * x * x
    prev[e, 0] = cash
    rew[e, 0] = -(d_is + var) / (x0 * s0) * 100.0
    term[e, 0] = s.done[e]
    o = obs[e, 0]
    o[0] = min(max(x / x0, 0.0), 2.0)
    o[1] = s.step[e] / pf[P.STEPS]
    o[2] = min(max((s.price[e, 0] - s0) / rp[R.AC_OBS_SCALE], -10.0), 10.0)
    info[e, 0, _SHORTFALL] = x0 * s0 - cash if s.done[e] else 0.0


@entry
def facade_step_nb(pf, uf, ui, sf, si, sb, dims, learners, rp, act_in, act_buf, clipped, streams,
                   z, skip, rows, lo, hi, obs, prev, rew, term, info):
    """One facade step of every env: for the envs not skipped and not done, actions clipped and
    shocks drawn (``_prepare_range_nb``) and the core step; then ``finish_nb`` for the envs not
    skipped (``rows`` receives ``~skip``). Returns the count of NaN/inf actions of the envs it
    would move; if it is not 0, nothing was changed."""
    u = universe_views_nb(uf, ui, dims)[0]
    s = state_views_nb(sf, si, sb, dims)[0]
    bad = _count_nonfinite_nb(s, act_in, skip)
    if bad:
        return bad
    E = act_in.shape[0]
    _prepare_range_nb(s, learners, act_in, act_buf, clipped, streams, z, skip, 0, E)
    for e in range(E):
        rows[e] = not skip[e]
        if rows[e]:
            env_step_views_nb(pf, u, s, e, act_buf, z)
    _finish_views_nb(pf, u, s, learners, rp, rows, lo, hi, obs, prev, rew, term, info, clipped)
    return 0


@entry
def _facade_range_nb(pf, uf, ui, sf, si, sb, dims, learners, rp, act_in, act_buf, clipped, streams,
                     z, skip, rows, lo, hi, obs, prev, rew, term, info, reset, bp, seg_f, seg_i, seg_b, tf,
                     ti, tb, tseg_f, tseg_i, tseg_b, controlled, e0, e1):
    """``facade_step_nb``'s work for envs ``e0`` .. ``e1`` - 1 (actions already checked finite),
    then a fresh episode (``reset_env_nb`` from the env's stream, seeded beforehand; actions and
    clip counts zeroed) in the envs flagged in ``reset`` (E,) bool, which must be skipped; their
    outputs are written as ``refresh`` writes them."""
    u = universe_views_nb(uf, ui, dims)[0]
    s = state_views_nb(sf, si, sb, dims)[0]
    _prepare_range_nb(s, learners, act_in, act_buf, clipped, streams, z, skip, e0, e1)
    A = act_buf.shape[1]
    for e in range(e0, e1):
        rows[e] = not skip[e]
        if rows[e]:
            env_step_views_nb(pf, u, s, e, act_buf, z)
        elif reset[e]:
            reset_env_nb(pf, bp, uf, ui, sf, si, sb, dims, seg_f, seg_i, seg_b, tf, ti, tb, tseg_f, tseg_i,
                         tseg_b, e, streams[e], controlled)
            for a in range(A):
                for j in range(act_buf.shape[2]):
                    act_buf[e, a, j] = 0.0
            for m in range(learners.shape[0]):
                clipped[e, m] = 0
            rows[e] = True
    _finish_range_nb(pf, u, s, learners, rp, rows, lo, hi, obs, prev, rew, term, info, clipped, e0, e1)


@entry
def _count_nonfinite_entry_nb(sf, si, sb, dims, act_in, skip):
    return _count_nonfinite_nb(state_views_nb(sf, si, sb, dims)[0], act_in, skip)


@njit(cache=True, parallel=True)
def facade_step_parallel_nb(pf, uf, ui, sf, si, sb, dims, learners, rp, act_in, act_buf, clipped,
                            streams, z, skip, rows, lo, hi, obs, prev, rew, term, info, reset, bp, seg_f,
                            seg_i, seg_b, tf, ti, tb, tseg_f, tseg_i, tseg_b, controlled, n_chunks):
    """``facade_step_nb`` with the envs in ``n_chunks`` contiguous chunks on parallel threads:
    each chunk clips its actions, draws its shocks, steps, starts fresh episodes in its skipped
    envs flagged in ``reset`` (next-step autoreset; ``bp`` .. ``tseg_b`` are
    ``Market.reset_args``, ``controlled`` (A,) bool) and writes its outputs. Envs are
    independent and each writes only its own rows, so the result is bit-identical to the serial
    calls. The NaN/inf check runs first, over all envs: if it finds any, nothing changes."""
    bad = _count_nonfinite_entry_nb(sf, si, sb, dims, act_in, skip)
    if bad:
        return bad
    E = act_in.shape[0]
    for c in prange(n_chunks):
        _facade_range_nb(pf, uf, ui, sf, si, sb, dims, learners, rp, act_in, act_buf, clipped, streams,
                         z, skip, rows, lo, hi, obs, prev, rew, term, info, reset, bp, seg_f, seg_i, seg_b,
                         tf, ti, tb, tseg_f, tseg_i, tseg_b, controlled, c * E // n_chunks,
                         (c + 1) * E // n_chunks)
    return 0
