"""Index futures: snowball dealer hedges, basis dynamics, daily settlement."""
import math


from dma_gym.core.jit import entry, kernel
from dma_gym.core.enums import P

# Monte-Carlo deltas of the dealer's snowball hedge (docs/model.md §7.3 (Monte-Carlo dealer deltas), GBM sigma 25%):
# remaining tenor (months) -> delta just above the knock-in barrier, and the exponent that
# fits the delta at S = 90% (0.73 / 0.79 / 0.77 / 0.61 for 24 / 12 / 6 / 3 months).
_TENORS = (3.0, 6.0, 12.0, 24.0)
_DELTA_NEAR = (2.14, 1.68, 1.33, 1.08)
_DELTA_FAR = 0.4  # fresh note at S = 100%
_DELTA_KNOCKED = 1.0  # after knock-in the note is a plain long-index exposure


@kernel
def _interp_tenor_nb(tenor, values):
    if tenor <= _TENORS[0]:
        return values[0]
    for j in range(1, 4):
        if tenor <= _TENORS[j]:
            w = (tenor - _TENORS[j - 1]) / (_TENORS[j] - _TENORS[j - 1])
            return values[j - 1] + w * (values[j] - values[j - 1])
    return values[3]


@entry
def snowball_delta_nb(level, ki, tenor, knocked):
    """Dealer's hedge delta per unit notional for a note at index/start ``level``.

    Before knock-in the dealer buys futures into the decline (delta rises toward the barrier);
    at knock-in delta drops to ~1: the cliff of futures selling (docs/model.md §7.3).
    """
    if knocked:
        return _DELTA_KNOCKED
    near = _interp_tenor_nb(tenor, _DELTA_NEAR)
    expo = _interp_tenor_nb(tenor, (2.3, 1.6, 1.0, 0.8))
    if level >= 1.0:
        return _DELTA_FAR * max(0.0, 1.0 - 2.0 * (level - 1.0))
    x = (1.0 - level) / max(1.0 - ki, 1e-6)
    if x > 1.0:
        x = 1.0
    return _DELTA_FAR + (near - _DELTA_FAR) * x ** expo


@kernel
def dealer_flow_nb(pf, u, s, e):
    """Dealers re-hedge every step: the change of their long futures is futures flow (CNY bn)."""
    K = s.index_level.shape[1]
    B = u.sb_ki.shape[1]
    if pf[P.SB_ON] < 0.5:
        return
    months_passed = s.day[e] / 21.0
    for k in range(K):
        lev = s.index_level[e, k]
        if lev <= 0.0:
            continue
        notional_delta = 0.0
        for b in range(B):
            if u.sb_notional[k, b] <= 0.0:
                continue
            tenor = max(0.25, u.sb_tenor[k, b] - months_passed)
            notional_delta += u.sb_notional[k, b] * snowball_delta_nb(lev, u.sb_ki[k, b], tenor, s.knocked[e, k, b])
        target = notional_delta / lev
        s.fut_flow[e, k] += (target - s.dealer_qty[e, k]) * s.fut_price[e, k]
        s.dealer_qty[e, k] = target


@kernel
def knock_in_nb(u, s, e):
    """Daily knock-in observation at the close."""
    K, B = s.knocked.shape[1], s.knocked.shape[2]
    for k in range(K):
        for b in range(B):
            if u.sb_notional[k, b] > 0.0 and s.index_level[e, k] < u.sb_ki[k, b]:
                s.knocked[e, k, b] = True


@kernel
def basis_nb(pf, u, s, e, z):
    """Step 6: basis mean-reverts to its normal discount and moves with net futures flow.

    b <- b + alpha*(b_bar - b) + 1% * flow/depth + vol*sqrt(dt)*z, b_bar = normal_ann*days/242,
    capped at the cash-and-carry premium ``basis_premium_cap`` (annualised); F = S*(1+b) clipped
    to the futures limit band around the last settlement.
    """
    K = s.index_level.shape[1]
    sq = math.sqrt(pf[P.DT])
    for k in range(K):
        lev = s.index_level[e, k]
        if pf[P.FUT_ON] < 0.5:
            s.basis[e, k] = 0.0
        else:
            b_bar = u.normal_basis[k] * s.days_left[e, k] / 242.0
            b = s.basis[e, k]
            b += pf[P.BASIS_ALPHA] * (b_bar - b)
            b += 0.01 * s.fut_flow[e, k] / u.fut_depth[k]
            b += pf[P.BASIS_VOL] * sq * z.basis[k]
            # cash-and-carry: arbitrageurs buy the basket and sell futures above the carry
            # premium (the reverse trade needs stock borrow, which was curbed: discounts run)
            b = min(b, pf[P.PREMIUM_CAP] * s.days_left[e, k] / 242.0)
            s.basis[e, k] = b
        f = lev * (1.0 + s.basis[e, k])
        lo = s.fut_settle[e, k] * (1.0 - pf[P.FUT_LIMIT])
        hi = s.fut_settle[e, k] * (1.0 + pf[P.FUT_LIMIT])
        if f < lo:
            f = lo
        elif f > hi:
            f = hi
        if f <= 0.0:
            f = 1e-9
        s.fut_price[e, k] = f
        s.basis[e, k] = f / lev - 1.0 if lev > 0.0 else 0.0


@kernel
def basis_annualized_nb(basis, days_left):
    """Annualised basis (per remaining trading day x 242), the convention of docs/model.md §7.1."""
    return basis * 242.0 / max(days_left, 1.0)
