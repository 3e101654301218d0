"""The Almgren-Chriss benchmark (docs/model.md §12.1): one stock, linear impact, no market
around it, one seller or N of them (the game of §12.3). Its step, reward, observation and
entries: the engine's one stepping path (``engine_nb.engine_body_nb``) with these kernels in
place of the market's. Sellers are managers 0 .. N - 1; with no learner (M = 0) nothing is
written to the learners' outputs."""
import math

from numba import njit, prange

from dma_gym.core.engine_nb import _count_resets_nb, engine_body_nb, engine_check_nb
from dma_gym.core.enums import I, P, R
from dma_gym.core.jit import cached, entry, kernel
from dma_gym.core.step import begin_step_nb


@kernel
def ac_step_env_nb(pf, u, s, e, actions, z):
    """One step of the Almgren-Chriss benchmark (docs/model.md §12.2), exactly, for A sellers of
    the one stock (the multi-seller game of §12.3 when A > 1): seller a trades n_a, every seller is
    filled at S_{k-1} - eps*sgn(n_a) - eta*N_k/tau with N_k = sum_a n_a, then
    S_k = S_{k-1} + sigma*sqrt(tau)*xi - gamma*N_k. Action < 0 sells that share of the seller's
    remaining shares; > 0 buys that share of X; the last step sells whatever is left (x_N = 0).
    A seller no action drives (all-zero action row) holds until the last step."""
    begin_step_nb(s, e)
    tau = pf[P.DT]
    A = s.hold.shape[1]
    px0 = s.price[e, 0]
    last = s.step[e] >= int(pf[P.STEPS]) - 1
    agg = 0.0
    for a in range(A):
        x = s.hold[e, a, 0]
        act = actions[e, a, 0]  # clipped to [-1, 1] by the engine
        if last:
            n = x
        elif act < 0.0:
            n = -act * x
        else:
            n = -act * pf[P.AC_X0]
        s.fill[e, a, 0] = -n
        agg += n
    for a in range(A):
        n = -s.fill[e, a, 0]
        if n != 0.0:
            sgn = 1.0 if n > 0.0 else -1.0
            proceeds = n * (px0 - pf[P.AC_ETA] * agg / tau)
            fee = pf[P.AC_EPS] * abs(n)
            s.cash[e, a] += proceeds - fee
            s.cum_fee[e, a] += fee
            if n > 0.0:
                s.cum_sell[e, a] += proceeds
                s.sold_step[e, a] = proceeds
                s.sold_cum[e, a] += proceeds
                s.intended_cum[e, a] += proceeds
            else:
                s.cum_buy[e, a] -= proceeds
                s.bought_step[e, a] = -proceeds
            s.hold[e, a, 0] -= n
        else:
            s.fill[e, a, 0] = 0.0
    # the stock's clearing price: the aggregate order's fill, spread included (fees are booked per seller)
    if agg != 0.0:
        s.exec_price[e, 0] = px0 - (1.0 if agg > 0.0 else -1.0) * pf[P.AC_EPS] - pf[P.AC_ETA] * agg / tau
    else:
        s.exec_price[e, 0] = px0
    s.price[e, 0] = px0 + pf[P.AC_SIGMA] * math.sqrt(tau) * z.idio[0] - pf[P.AC_GAMMA] * agg
    s.log_fund[e, 0] = s.price[e, 0]
    for a in range(A):
        s.gross[e, a] = s.hold[e, a, 0] * s.price[e, 0]
        s.equity[e, a] = s.cash[e, a] + s.gross[e, a]
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
    for m in range(io.learners.shape[0]):
        a = io.learners[m]
        x = s.hold[e, a, 0]
        n = -s.fill[e, a, 0]
        d_is = n * s0 - (s.cash[e, a] - io.prev[e, m])
        var = rp[R.AC_LAMBDA] * pf[P.AC_SIGMA] ** 2 * pf[P.DT] * x * x
        io.reward[e, m] = -(d_is + var) / (x0 * s0) * 100.0
        io.terminated[e, m] = s.done[e]


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
    for m in range(io.learners.shape[0]):
        a = io.learners[m]
        cash = s.cash[e, a]
        io.prev[e, m] = cash
        o = io.obs[e, m]
        o[0] = min(max(s.hold[e, a, 0] / x0, 0.0), 2.0)
        o[1] = s.step[e] / pf[P.STEPS]
        o[2] = min(max((s.price[e, 0] - s0) / rp[R.AC_OBS_SCALE], -10.0), 10.0)
        io.info[e, m, I.IMPLEMENTATION_SHORTFALL] = x0 * s0 - cash if s.done[e] else 0.0


@kernel
def ac_books_nb(model, u, s, io, e):
    """Each seller's position is the template's (X shares): nothing to draw."""


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
