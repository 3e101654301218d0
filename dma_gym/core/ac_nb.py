"""The Almgren-Chriss benchmark (docs/model.md §12.1): one stock, linear impact, no market
around it. Its step, reward, observation and entries: the engine's one stepping path
(``engine_nb.engine_body_nb``) with these kernels in place of the market's. The seller is
manager 0; with no learner (M = 0) nothing is written to the learners' outputs."""
import math

from numba import njit, prange

from dma_gym.core.engine_nb import _count_resets_nb, engine_body_nb, engine_check_nb
from dma_gym.core.enums import I, P, R
from dma_gym.core.jit import cached, entry, kernel
from dma_gym.core.step import begin_step_nb


@kernel
def ac_step_env_nb(pf, u, s, e, actions, z):
    """One step of the Almgren-Chriss benchmark (docs/model.md §12.2), exactly:
    execution at S_{k-1} - eps*sgn(n) - eta*n/tau, then S_k = S_{k-1} + sigma*sqrt(tau)*xi - gamma*n.
    Action < 0 sells that share of the remaining shares; > 0 buys that share of X; the last step
    sells whatever is left (x_N = 0)."""
    begin_step_nb(s, e)
    tau = pf[P.DT]
    x = s.hold[e, 0, 0]
    px0 = s.price[e, 0]
    act = actions[e, 0, 0]  # clipped to [-1, 1] by the engine
    if s.step[e] >= int(pf[P.STEPS]) - 1:
        n = x
    elif act < 0.0:
        n = -act * x
    else:
        n = -act * pf[P.AC_X0]
    if n != 0.0:
        sgn = 1.0 if n > 0.0 else -1.0
        proceeds = n * (px0 - pf[P.AC_ETA] * n / tau)
        fee = pf[P.AC_EPS] * abs(n)
        s.cash[e, 0] += proceeds - fee
        s.cum_fee[e, 0] += fee
        s.exec_price[e, 0] = px0 - sgn * pf[P.AC_EPS] - pf[P.AC_ETA] * n / tau
        if n > 0.0:
            s.cum_sell[e, 0] += proceeds
            s.sold_step[e, 0] = proceeds
            s.sold_cum[e, 0] += proceeds
            s.intended_cum[e, 0] += proceeds
        else:
            s.cum_buy[e, 0] -= proceeds
            s.bought_step[e, 0] = -proceeds
        s.hold[e, 0, 0] = x - n
        s.fill[e, 0, 0] = -n
    else:
        s.exec_price[e, 0] = px0
        s.fill[e, 0, 0] = 0.0
    s.price[e, 0] = px0 + pf[P.AC_SIGMA] * math.sqrt(tau) * z.idio[0] - pf[P.AC_GAMMA] * n
    s.log_fund[e, 0] = s.price[e, 0]
    s.gross[e, 0] = s.hold[e, 0, 0] * s.price[e, 0]
    s.equity[e, 0] = s.cash[e, 0] + s.gross[e, 0]
    s.step[e] += 1
    s.day[e] = int(s.step[e] * tau)
    if s.step[e] >= int(pf[P.STEPS]):
        s.done[e] = True


@kernel
def ac_step_outputs_nb(model, u, s, io, e):
    """Reward: minus the step's mean-variance shortfall,
    -(n_k (S_0 - S~_k) + lambda sigma^2 tau x_k^2) / (X S_0) x 100 (percent of the initial value),
    whose expected sum is -(E[IS] + lambda Var[IS]) for any deterministic schedule; terminated at
    the horizon."""
    if io.learners.shape[0] == 0:
        return
    pf = model.pf
    rp = model.rp
    x0 = pf[P.AC_X0]
    s0 = rp[R.AC_S0]
    x = s.hold[e, 0, 0]
    n = -s.fill[e, 0, 0]
    d_is = n * s0 - (s.cash[e, 0] - io.prev[e, 0])
    var = rp[R.AC_LAMBDA] * pf[P.AC_SIGMA] ** 2 * pf[P.DT] * x * x
    io.reward[e, 0] = -(d_is + var) / (x0 * s0) * 100.0
    io.terminated[e, 0] = s.done[e]


@kernel
def ac_observe_nb(model, u, s, io, e):
    """Observation (remaining / X, step / N, (S - S0) / (sigma sqrt T)), the reward baseline (cash)
    and, once the episode is over, the implementation shortfall X S0 - cash."""
    if io.learners.shape[0] == 0:
        return
    pf = model.pf
    rp = model.rp
    x0 = pf[P.AC_X0]
    s0 = rp[R.AC_S0]
    cash = s.cash[e, 0]
    io.prev[e, 0] = cash
    o = io.obs[e, 0]
    o[0] = min(max(s.hold[e, 0, 0] / x0, 0.0), 2.0)
    o[1] = s.step[e] / pf[P.STEPS]
    o[2] = min(max((s.price[e, 0] - s0) / rp[R.AC_OBS_SCALE], -10.0), 10.0)
    io.info[e, 0, I.IMPLEMENTATION_SHORTFALL] = x0 * s0 - cash if s.done[e] else 0.0


@kernel
def ac_books_nb(model, u, s, io, e):
    """The seller's position is the template's (X shares): nothing to draw."""


@kernel
def ac_start_nb(model, u, s, io, e):
    """No warm-up: the episode starts as drawn."""


@entry
def ac_engine_step_nb(model, tmpl, buf, io, e0, e1):
    """One engine call of the Almgren-Chriss benchmark for envs ``e0`` .. ``e1`` - 1."""
    return engine_body_nb(model, tmpl, buf, io, e0, e1, ac_step_env_nb, ac_step_outputs_nb, ac_books_nb,
                          ac_start_nb, ac_observe_nb)


@cached
@njit(cache=True, parallel=True)
def ac_engine_step_parallel_nb(model, tmpl, buf, io, n_chunks):
    """``ac_engine_step_nb`` in chunks of envs on threads (as ``engine_nb.engine_step_parallel_nb``)."""
    bad = engine_check_nb(tmpl, buf, io)
    if bad:
        return bad
    E = io.reset.shape[0]
    for c in prange(n_chunks):
        ac_engine_step_nb(model, tmpl, buf, io, c * E // n_chunks, (c + 1) * E // n_chunks)
    return _count_resets_nb(io)
