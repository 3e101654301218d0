"""The engine's one stepping path (``engine_body_nb``) and the DMA market's entries: every facade
call is one jitted call of ``engine_step_nb`` (or ``engine_step_parallel_nb``, chunks of envs on
threads), whatever the facade; the Almgren-Chriss benchmark has its own pair in ``ac_nb``, the
same body with its kernels, so each entry compiles only its own model.

Per env, in one pass: a fresh episode if the env is flagged in ``io.reset`` (an explicit reset,
or a next-step autoreset pending from the last call; with a warm-up the market first runs the
episode's warm-up sessions, docs/model.md §4.2); otherwise clip the learners' actions into
the core's action buffer (counting clipped entries), draw the step's shocks from the env's random
stream, step the market, and write observations, rewards, termination and truncation flags and
the info table; in same-step mode an ended episode's outputs are copied to the ``final_*`` arrays
and the env starts afresh in the same call. Grouped arguments (``engine.py`` builds them):

- ``model`` :class:`Model`: parameters, universe and feature bounds (fixed per scenario);
- ``tmpl`` :class:`Template`: dims, the batch's env segments and the template env (episode start);
- ``buf`` ``layout.Buffers``: the state buffers;
- ``io`` :class:`IO`: the per-step inputs and outputs.

Info table ``info`` (E, M, N_INFO) float64: the columns named by :class:`I`, then
``tier_drawdown`` (T columns from ``I.TIERS``), then ``basis_annualized`` (K columns).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from dma_gym.core.futures_nb import basis_annualized_nb
from dma_gym.core.jit import cached, entry, kernel
from dma_gym.core.enums import INFO_COLUMNS, C, I, Mode, P, R
from dma_gym.core.layout import shock_views_nb, state_views_nb, universe_views_nb
from dma_gym.core.observe import observe_env_nb
from dma_gym.core.accounts_nb import accounts_nb, sale_done_nb, unwind_cost_nb
from dma_gym.core.reset_nb import draw_books_nb, draw_path_nb, fresh_book_nb, idle_book_nb, start_env_nb
from dma_gym.core.rng_nb import fill_shocks_nb
from dma_gym.core.step import market_step_env_nb

NAV_FLOOR = 1e-6  # log NAV is taken of max(NAV, this): a wiped-out book stays finite


class Model(NamedTuple):
    """What the core needs of a scenario besides the state: fixed per engine."""

    pf: np.ndarray  # (P.SIZE,) float64 scalar parameters
    rp: np.ndarray  # (R.SIZE,) float64 facade parameters
    bp: np.ndarray  # (BP.SIZE + T + K,) float64 book parameters (reset_nb)
    uf: np.ndarray  # universe buffer, float64
    ui: np.ndarray  # universe buffer, int64
    obs_low: np.ndarray  # (obs_dim,) float32 feature bounds
    obs_high: np.ndarray  # (obs_dim,) float32


class Template(NamedTuple):
    """Dimensions, and the start of every episode (``layout.env_segments`` of both batches)."""

    dims: np.ndarray  # (D.SIZE,) int64
    seg_f: np.ndarray  # (F, 2) int64 env segments of the batch's buffers
    seg_i: np.ndarray
    seg_b: np.ndarray
    tf: np.ndarray  # the template env's buffers (E = 1)
    ti: np.ndarray
    tb: np.ndarray
    tseg_f: np.ndarray  # their segments
    tseg_i: np.ndarray
    tseg_b: np.ndarray


class IO(NamedTuple):
    """Per-call inputs and outputs (E envs, M learners, J action entries per learner)."""

    ctl: np.ndarray  # (C.SIZE,) int64 control (Mode, max steps)
    learners: np.ndarray  # (M,) int64 manager index of each learner
    controlled: np.ndarray  # (A,) bool managers driven by actions
    act_in: np.ndarray  # (E, M, J) float64 the learners' actions
    act_buf: np.ndarray  # (E, A, T + K) float64 the core's (clipped) actions
    clipped: np.ndarray  # (E, M) int64 action entries clipped this step
    streams: np.ndarray  # (E, 4) uint64 each env's random stream (rng_nb)
    next_seed: np.ndarray  # (E, 4) uint64 the stream of each env's next episode
    shocks: np.ndarray  # (E, n_shocks) float64 this step's shocks
    warm_shocks: np.ndarray  # (E, n_shocks) float64 scratch: the warm-up steps' shocks
    reset: np.ndarray  # (E,) bool envs to reset instead of stepping (cleared by the call)
    was_reset: np.ndarray  # (E,) bool envs reset in this call
    obs: np.ndarray  # (E, M, obs_dim) float32
    prev: np.ndarray  # (E, M) float64 utility of NAV (cash in Almgren-Chriss) at the last call
    reward: np.ndarray  # (E, M) float64
    terminated: np.ndarray  # (E, M) bool
    truncated: np.ndarray  # (E,) bool
    info: np.ndarray  # (E, M, N_INFO) float64
    final: np.ndarray  # (E,) bool same-step mode: the env's episode ended in this call
    final_obs: np.ndarray  # (E, M, obs_dim) float32 its last observation
    final_info: np.ndarray  # (E, M, N_INFO) float64 its last info


@kernel(inline=True)
def log_nav_nb(equity, equity0):
    """log(max(equity / equity0, NAV_FLOOR))."""
    x = equity / equity0
    return math.log(x if x > NAV_FLOOR else NAV_FLOOR)


@kernel(inline=True)
def utility_nb(rp, equity, equity0):
    """The learner's utility of its NAV: log NAV (``log_nav_nb``) when ``rp[R.CRRA]`` is 1, else
    (x^(1-g) - 1)/(1 - g) at x = max(NAV, ``rp[R.CRRA_FLOOR]``)."""
    g = rp[R.CRRA]
    if g == 1.0:
        return log_nav_nb(equity, equity0)
    x = equity / equity0
    f = rp[R.CRRA_FLOOR]
    x = x if x > f else f
    return (x ** (1.0 - g) - 1.0) / (1.0 - g)


@kernel
def _count_nonfinite_nb(s, io, e0, e1):
    """NaN/inf entries in the actions of the envs a call would step (not reset, not done)."""
    M, J = io.act_in.shape[1], io.act_in.shape[2]
    bad = 0
    if io.ctl[C.MODE] == Mode.RESET:
        return bad
    for e in range(e0, e1):
        if not (io.reset[e] or s.done[e]):
            for m in range(M):
                for j in range(J):
                    x = io.act_in[e, m, j]
                    if x - x != 0.0:  # NaN or inf
                        bad += 1
    return bad


@kernel
def _prepare_nb(s, io, e):
    """Clip env ``e``'s learner actions into ``act_buf`` (counting clipped entries) and draw its
    shocks for this step from its stream (unless the call was given them). The actions were
    checked finite."""
    M, J = io.act_in.shape[1], io.act_in.shape[2]
    n_normal = io.shocks.shape[1] - s.cash.shape[1]  # the last A shocks are clearing-priority uniforms
    for m in range(M):
        a = io.learners[m]
        n = 0
        for j in range(J):
            x = io.act_in[e, m, j]
            if x > 1.0:
                x = 1.0
                n += 1
            elif x < -1.0:
                x = -1.0
                n += 1
            io.act_buf[e, a, j] = x
        io.clipped[e, m] = n
    if io.ctl[C.GIVEN_SHOCKS] == 0:
        fill_shocks_nb(io.streams[e], io.shocks[e], n_normal)


@kernel
def _net_equity_nb(s, io, e, m):
    """Learner ``m``'s equity net of the unwind charge its info row carries (0 before the
    horizon): what its NAV, rewards and log NAV are computed from."""
    return s.equity[e, io.learners[m]] - io.info[e, m, I.UNWIND_COST]


@kernel
def market_outputs_nb(model, u, s, io, e):
    """Market rewards and termination. The reward is the change of log NAV since the last call,
    NAV = (equity - unwind charge) / initial equity, so an episode's rewards sum to the log of the
    NAV the manager ends with (with ``reward_crra`` g != 1: of the CRRA utility of it, see
    ``utility_nb``). At the horizon a book still open is charged the expected cost of
    selling it (``unwind_cost_nb``). A liquidated learner's episode goes on without control while
    the broker sells its book through the market (its rewards carry the fire sale); with
    ``terminate_on_liquidation`` it ends once the sale is done, else at the horizon."""
    done = s.done[e]
    term_liq = model.rp[R.TERM_ON_LIQ] > 0.5
    for m in range(io.learners.shape[0]):
        a = io.learners[m]
        io.info[e, m, I.UNWIND_COST] = unwind_cost_nb(model.pf, u, s, e, a) if done else 0.0
        io.reward[e, m] = utility_nb(model.rp, _net_equity_nb(s, io, e, m), s.equity0[e, a]) - io.prev[e, m]
        io.terminated[e, m] = done or (term_liq and s.liquidated[e, a] and sale_done_nb(s, e, a))


@kernel
def market_observe_nb(model, u, s, io, e):
    """Market observations (``observe``) and reward baselines (the utility of NAV)."""
    observe_env_nb(model.pf, u, s, e, io.learners, model.obs_low, model.obs_high, io.obs[e])
    for m in range(io.learners.shape[0]):
        io.prev[e, m] = utility_nb(model.rp, _net_equity_nb(s, io, e, m), s.equity0[e, io.learners[m]])
        io.info[e, m, I.IMPLEMENTATION_SHORTFALL] = 0.0


@kernel
def market_books_nb(model, u, s, io, e):
    """A fresh episode from the env's stream, before any warm-up: the exogenous path and the DMA
    books at the year's start, valued, start values recorded. With a warm-up the clock starts at
    session ``-warmup[e]`` (the market runs until step 0, ``engine_body_nb``; shock days and
    restriction days count from the episode's start) and a learner's row stays idle (all cash)."""
    draw_path_nb(model.bp, s, e, io.streams[e])
    draw_books_nb(model.bp, u, s, e, io.streams[e])
    accounts_nb(model.pf, u, s, e)
    for a in range(io.controlled.shape[0]):
        s.equity0[e, a] = s.equity[e, a]
        s.gross0[e, a] = s.gross[e, a]
        s.call_deadline[e, a] = -1
    if s.warmup[e] > 0:
        s.day[e] = -s.warmup[e]
        s.step[e] = -s.warmup[e] * int(model.pf[P.STEPS_PER_DAY])
        for m in range(io.learners.shape[0]):
            idle_book_nb(s, e, io.learners[m])
        accounts_nb(model.pf, u, s, e)


@kernel
def market_start_nb(model, u, s, io, e):
    """The episode starts after the warm-up: each learner takes a fresh book at the prices it
    left (``fresh_book_nb``), its start values recorded; with no warm-up the books stand."""
    if s.warmup[e] == 0:
        return
    for m in range(io.learners.shape[0]):
        fresh_book_nb(model.bp, u, s, e, io.learners[m], io.streams[e])
    accounts_nb(model.pf, u, s, e)
    for m in range(io.learners.shape[0]):
        a = io.learners[m]
        s.equity0[e, a] = s.equity[e, a]
        s.gross0[e, a] = s.gross[e, a]
        s.call_deadline[e, a] = -1


@kernel
def _info_rows_nb(s, io, e):
    """Env ``e``'s rows of the info table (every learner)."""
    T = s.tier_level.shape[1]
    K = s.index_level.shape[1]
    done = s.done[e]
    for m in range(io.learners.shape[0]):
        a = io.learners[m]
        r = io.info[e, m]
        r[I.EQUITY] = s.equity[e, a]
        net = _net_equity_nb(s, io, e, m)
        r[I.NAV] = net / s.equity0[e, a]
        r[I.LOG_NAV] = log_nav_nb(net, s.equity0[e, a])
        r[I.LEVERAGE] = s.leverage[e, a]
        r[I.MARGIN_RATIO] = s.margin_ratio[e, a]
        r[I.MARGIN_CALL] = 1.0 if s.call_active[e, a] else 0.0
        r[I.FORCED_LIQUIDATION] = 1.0 if s.liquidated[e, a] else 0.0
        r[I.SOLD_VALUE] = s.sold_step[e, a]
        r[I.UNFILLED_SELL_VALUE] = s.unfilled_step[e, a]
        r[I.CUT_VALUE] = s.cut_step[e, a]
        r[I.LIMIT_DOWN_SHARE] = s.ld_share[e]
        r[I.DAY] = s.day[e]
        r[I.STEP] = s.step[e]
        r[I.ACTION_CLIPPED] = io.clipped[e, m]
        r[I.EPISODE_DONE] = 1.0 if done else 0.0
        for t in range(T):
            r[I.TIERS + t] = 1.0 - s.tier_level[e, t]
        for k in range(K):
            r[I.TIERS + T + k] = basis_annualized_nb(s.basis[e, k], s.days_left[e, k])


@kernel(inline=True)
def _ended_nb(s, io, e):
    """Env ``e``'s episode is over: every learner terminated or the episode truncated (with no
    learner: the horizon reached)."""
    M = io.learners.shape[0]
    if io.truncated[e]:
        return True
    if M == 0:
        return s.done[e]
    for m in range(M):
        if not io.terminated[e, m]:
            return False
    return True


@kernel
def _start_env_nb(s, buf, tmpl, io, e):
    """Env ``e`` back at the template (its stream from ``io.next_seed[e]``), actions and clip
    counts zeroed."""
    st = io.streams[e]
    for j in range(4):
        st[j] = io.next_seed[e, j]
    start_env_nb(s, buf, tmpl, e, io.controlled)
    for a in range(io.act_buf.shape[1]):
        for j in range(io.act_buf.shape[2]):
            io.act_buf[e, a, j] = 0.0
    for m in range(io.learners.shape[0]):
        io.clipped[e, m] = 0
        io.info[e, m, I.UNWIND_COST] = 0.0


@kernel(inline=True)
def _begin_reset_nb(model, u, s, buf, tmpl, io, e, books):
    """A fresh episode in env ``e``: the template and the model's ``books`` (what is drawn before
    the warm-up, which runs while ``step[e]`` < 0)."""
    _start_env_nb(s, buf, tmpl, io, e)
    books(model, u, s, io, e)


@kernel(inline=True)
def _finish_reset_nb(model, u, s, io, e, start, observe):
    """After the warm-up: the model's ``start`` (the learners' fresh books), observations, info
    rows and reward baselines."""
    start(model, u, s, io, e)
    observe(model, u, s, io, e)
    _info_rows_nb(s, io, e)
    io.was_reset[e] = True


@kernel(inline=True)
def engine_body_nb(model, tmpl, buf, io, e0, e1, step_env, outputs, books, start, observe):
    """The one stepping path, for envs ``e0`` .. ``e1`` - 1 (see the module docstring), with
    the model's kernels: ``step_env(pf, u, s, e, actions, shocks)``, ``outputs(model, u, s, io, e)``
    (rewards, termination), ``books(model, u, s, io, e)`` (a fresh episode, before its warm-up),
    ``start(model, u, s, io, e)`` (the episode's start, after it) and
    ``observe(model, u, s, io, e)`` (observations, reward baselines). Inlined into each model's entry (``engine_step_nb``, ``ac_nb.ac_engine_step_nb``),
    so an entry compiles only its own model.

    Each env runs a small state machine around the one call of ``step_env`` (so the step is
    compiled once): a reset draws the episode (``books``), runs the warm-up steps (the
    market with the learners' rows idle, shocks from the env's stream into ``io.warm_shocks``,
    so a step's ``io.shocks`` stay those it was stepped with) and starts it (``start``); a step clips the
    learners' actions, steps and writes the outputs, and in same-step mode an ended episode is
    copied to ``final_*`` and reset in the same pass. Returns the count of NaN/inf actions of the
    envs it would step; if it is not 0, nothing was changed."""
    u = universe_views_nb(model.uf, model.ui, tmpl.dims)
    s = state_views_nb(buf.sf, buf.si, buf.sb, tmpl.dims)
    bad = _count_nonfinite_nb(s, io, e0, e1)
    if bad:
        return bad
    mode = io.ctl[C.MODE]
    M = io.learners.shape[0]
    max_steps = io.ctl[C.MAX_STEPS]
    n_normal = io.shocks.shape[1] - s.cash.shape[1]  # the last A shocks are priority uniforms
    n_reset = 0
    for e in range(e0, e1):
        io.was_reset[e] = False
        io.final[e] = False
        explicit = io.reset[e]  # an explicit reset or a pending next-step autoreset
        io.reset[e] = False
        if not explicit and mode == Mode.RESET:
            continue
        resetting = explicit
        if explicit:
            _begin_reset_nb(model, u, s, buf, tmpl, io, e, books)
        stepped = False
        while True:
            if resetting:
                if s.step[e] >= 0:  # warmed up: the episode starts
                    _finish_reset_nb(model, u, s, io, e, start, observe)
                    n_reset += 1
                    if explicit:
                        for m in range(M):
                            io.reward[e, m] = 0.0
                            io.terminated[e, m] = False
                        io.truncated[e] = False
                    break
                z = io.warm_shocks[e]
                fill_shocks_nb(io.streams[e], z, n_normal)
            else:
                if stepped:
                    break
                stepped = True
                z = io.shocks[e]
                if not s.done[e]:
                    _prepare_nb(s, io, e)
            if resetting or not s.done[e]:
                step_env(model.pf, u, s, e, io.act_buf, shock_views_nb(z, tmpl.dims))
            if resetting:
                continue
            outputs(model, u, s, io, e)
            io.truncated[e] = max_steps > 0 and s.step[e] >= max_steps
            observe(model, u, s, io, e)
            _info_rows_nb(s, io, e)
            if mode == Mode.NEXT_STEP:
                io.reset[e] = _ended_nb(s, io, e)
            elif mode == Mode.SAME_STEP and _ended_nb(s, io, e):
                io.final[e] = True
                for m in range(M):
                    for j in range(io.obs.shape[2]):
                        io.final_obs[e, m, j] = io.obs[e, m, j]
                    for j in range(io.info.shape[2]):
                        io.final_info[e, m, j] = io.info[e, m, j]
                resetting = True
                _begin_reset_nb(model, u, s, buf, tmpl, io, e, books)
    io.ctl[C.RESETS] = n_reset
    return 0


@entry
def engine_step_nb(model, tmpl, buf, io, e0, e1):
    """One engine call of the DMA market for envs ``e0`` .. ``e1`` - 1 (``engine_body_nb``)."""
    return engine_body_nb(model, tmpl, buf, io, e0, e1, market_step_env_nb, market_outputs_nb,
                          market_books_nb, market_start_nb, market_observe_nb)


@entry
def engine_check_nb(tmpl, buf, io):
    """NaN/inf entries in the actions of the envs the call would step."""
    s = state_views_nb(buf.sf, buf.si, buf.sb, tmpl.dims)
    return _count_nonfinite_nb(s, io, 0, io.reset.shape[0])


@cached
@njit(cache=True, parallel=True)
def engine_step_parallel_nb(model, tmpl, buf, io, n_chunks):
    """``engine_step_nb`` over all envs in ``n_chunks`` contiguous chunks on parallel threads,
    after checking every env's actions. Envs are independent and each writes only its own rows,
    so the result is bit-identical to the serial call. Compiled on first use, only by batches
    that use threads."""
    bad = engine_check_nb(tmpl, buf, io)
    if bad:
        return bad
    E = io.reset.shape[0]
    for c in prange(n_chunks):
        engine_step_nb(model, tmpl, buf, io, c * E // n_chunks, (c + 1) * E // n_chunks)
    return _count_resets_nb(io)


@entry
def _count_resets_nb(io):
    """The threaded call's reset count (each chunk wrote its own into ``ctl``)."""
    n_reset = 0
    for e in range(io.reset.shape[0]):
        n_reset += io.was_reset[e]
    io.ctl[C.RESETS] = n_reset
    return 0


def n_info(T: int, K: int) -> int:
    """Columns of the info table."""
    return len(INFO_COLUMNS) + T + K
