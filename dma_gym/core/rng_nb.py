"""Per-env random streams inside the core: xoshiro256++ bits and ziggurat normals.

Each env owns a (4,) uint64 xoshiro256++ state (Blackman & Vigna 2019), seeded from the env's
``numpy.random.Generator`` at reset. Standard normals come from the Marsaglia & Tsang (2000)
ziggurat with 256 layers and 52-bit mantissas (the layout numpy's ``Generator.standard_normal``
uses), uniforms from the top 53 bits. Drawing a step's ~540 shocks here costs about 1 us instead
of a numpy call per trading day; the number of draws never depends on what the agents do, so
runs with the same seed share the same noise whatever the policy (counterfactuals).
"""
from __future__ import annotations

import math

import numpy as np

from dma_gym.core.jit import entry, kernel

_U64 = np.uint64
ZIG_R = 3.6541528853610088  # start of the tail
ZIG_V = 0.00492867323399  # area of each layer
_M52 = 2.0 ** 52


def _ziggurat_tables(n: int = 256, r: float = ZIG_R, v: float = ZIG_V):
    """(ki, wi, fi): per layer, the 52-bit threshold under which a draw is accepted at once,
    the x width per unit of 52-bit integer, and the density at the layer's edge."""
    ki = np.zeros(n, np.uint64)
    wi = np.zeros(n)
    fi = np.zeros(n)
    dn = tn = r
    q = v / math.exp(-0.5 * dn * dn)
    ki[0] = int(dn / q * _M52)
    ki[1] = 0
    wi[0] = q / _M52
    wi[n - 1] = dn / _M52
    fi[0] = 1.0
    fi[n - 1] = math.exp(-0.5 * dn * dn)
    for i in range(n - 2, 0, -1):
        dn = math.sqrt(-2.0 * math.log(v / dn + math.exp(-0.5 * dn * dn)))
        ki[i + 1] = int(dn / tn * _M52)
        tn = dn
        fi[i] = math.exp(-0.5 * dn * dn)
        wi[i] = dn / _M52
    return ki, wi, fi


ZIG_KI, ZIG_WI, ZIG_FI = _ziggurat_tables()


_U64_MAX = np.iinfo(np.uint64).max


def seed_state(rng: np.random.Generator, out: np.ndarray) -> None:
    """Seed one env's stream ``out`` (4,) uint64 from ``rng`` (never the all-zero state): four
    uniform 64-bit integers, ``rng.integers(0, 2**64 - 1, 4, uint64, endpoint=True)``. For PCG64
    (what gymnasium's seeding and ``np.random.default_rng`` build) those are exactly the bit
    generator's next four raw outputs, drawn here without ``integers``' ~12 us of overhead."""
    if type(rng.bit_generator) is np.random.PCG64:
        out[:] = rng.bit_generator.random_raw(4)
    else:
        out[:] = rng.integers(0, _U64_MAX, size=4, dtype=np.uint64, endpoint=True)
    if not out.any():
        out[0] = 1


@kernel
def _rotl23(x):
    return (x << _U64(23)) | (x >> _U64(41))


@kernel
def _rotl45(x):
    return (x << _U64(45)) | (x >> _U64(19))


@kernel
def _xo(s0, s1, s2, s3):
    """One xoshiro256++ step on a state held in registers: (64 bits, new state)."""
    result = _rotl23(s0 + s3) + s0
    t = s1 << _U64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl45(s3)
    return result, s0, s1, s2, s3


@kernel
def _unit(bits):
    """U[0, 1) from the top 53 of 64 bits."""
    return float(bits >> _U64(11)) * (1.0 / 9007199254740992.0)


@kernel
def _layer(r):
    """Split 64 bits into (layer, 52-bit magnitude, signed x) of a ziggurat draw; the sign is a
    factor, not a branch (a coin flip would mispredict half the time)."""
    idx = r & _U64(0xFF)
    r >>= _U64(8)
    rabs = (r >> _U64(1)) & _U64(0x000FFFFFFFFFFFFF)
    x = float(rabs) * ZIG_WI[idx] * (1.0 - 2.0 * float(r & _U64(1)))
    return idx, rabs, x


@kernel
def _normal_slow(idx, rabs, x, s0, s1, s2, s3):
    """Finish a draw that fell outside its layer's core: the wedge test, or the tail beyond
    ZIG_R (Marsaglia 1964), then fresh draws until one is accepted: (x, new state)."""
    while True:
        if idx == 0:
            while True:
                b1, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
                b2, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
                xx = -math.log1p(-_unit(b1)) / ZIG_R
                yy = -math.log1p(-_unit(b2))
                if yy + yy > xx * xx:
                    x = -(ZIG_R + xx) if (rabs >> _U64(8)) & _U64(1) else ZIG_R + xx
                    return x, s0, s1, s2, s3
        b, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
        if (ZIG_FI[idx - 1] - ZIG_FI[idx]) * _unit(b) + ZIG_FI[idx] < math.exp(-0.5 * x * x):
            return x, s0, s1, s2, s3
        r, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
        idx, rabs, x = _layer(r)
        if rabs < ZIG_KI[idx]:
            return x, s0, s1, s2, s3


@kernel
def _normal(s0, s1, s2, s3):
    """A standard normal: (x, new state). About 99% of draws are one 64-bit word, a table
    lookup and a compare; the rest go to ``_normal_slow``, kept out of line so that this path
    stays short enough to inline."""
    r, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
    idx, rabs, x = _layer(r)
    if rabs >= ZIG_KI[idx]:
        x, s0, s1, s2, s3 = _normal_slow(idx, rabs, x, s0, s1, s2, s3)
    return x, s0, s1, s2, s3


@entry
def next_u64_nb(st):
    """xoshiro256++: the next 64 random bits of stream ``st`` (4,) uint64, advancing it."""
    r, st[0], st[1], st[2], st[3] = _xo(st[0], st[1], st[2], st[3])
    return r


@kernel
def uniform_nb(st):
    """U[0, 1) with 53 random bits."""
    return _unit(next_u64_nb(st))


@kernel
def normal_nb(st):
    """A standard normal."""
    x, st[0], st[1], st[2], st[3] = _normal(st[0], st[1], st[2], st[3])
    return x


@entry
def fill_shocks_nb(st, z, n_normal):
    """One step's shocks into ``z``: ``n_normal`` standard normals, then uniforms."""
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for j in range(n_normal):
        z[j], s0, s1, s2, s3 = _normal(s0, s1, s2, s3)
    for j in range(n_normal, z.shape[0]):
        b, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
        z[j] = _unit(b)
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3


@entry
def fill_normals_nb(st, out):
    """Standard normals into every element of the 1-d array ``out``."""
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for j in range(out.shape[0]):
        out[j], s0, s1, s2, s3 = _normal(s0, s1, s2, s3)
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3


@entry
def fill_uniforms_nb(st, out):
    """U[0, 1) into every element of the 1-d array ``out``."""
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for j in range(out.shape[0]):
        b, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
        out[j] = _unit(b)
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3
