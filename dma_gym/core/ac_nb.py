"""The Almgren-Chriss benchmark (docs/model.md §12.1): one stock, linear impact, no market
around it. Its step, which ``engine_nb`` calls in place of the market's."""
import math

from dma_gym.core.jit import kernel
from dma_gym.core.enums import P
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
    act = actions[e, 0, 0]
    if act > 1.0:
        act = 1.0
    elif act < -1.0:
        act = -1.0
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


