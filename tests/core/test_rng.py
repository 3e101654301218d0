"""The core's per-env random streams (``dma_gym.core.rng_nb``): xoshiro256++ to the bit against a
pure-Python implementation, the ziggurat normals and the uniforms against their distributions,
and the stream seeding from a numpy Generator."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dma_gym.core.rng_nb import fill_normals_nb, fill_shocks_nb, fill_uniforms_nb, next_u64_nb, seed_state

M64 = (1 << 64) - 1


def _py_next(s: list[int]) -> int:
    """xoshiro256++ (Blackman and Vigna), one step on a list of four Python ints."""
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    res = (rotl((s[0] + s[3]) & M64, 23) + s[0]) & M64
    t = (s[1] << 17) & M64
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return res


@pytest.mark.parametrize("state", [(1, 2, 3, 4), (2**63 + 5, 2**64 - 1, 7, 2**62)])
def test_xoshiro_matches_python_reference(state):
    st = np.array(state, np.uint64)
    ref = [int(v) for v in state]
    got = [int(next_u64_nb(st)) for _ in range(2000)]
    want = [_py_next(ref) for _ in range(2000)]
    assert got == want
    assert [int(v) for v in st] == ref  # the state advanced in place, as the reference's


def _ks_normal(x: np.ndarray) -> float:
    """Kolmogorov-Smirnov D * sqrt(n) against the standard normal."""
    xs = np.sort(x)
    n = xs.size
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(xs / math.sqrt(2.0)))
    d = max((np.arange(1, n + 1) / n - cdf).max(), (cdf - np.arange(n) / n).max())
    return d * math.sqrt(n)


def test_normals_follow_the_standard_normal():
    st = np.zeros(4, np.uint64)
    seed_state(np.random.default_rng(7), st)
    x = np.zeros(400_000)
    fill_normals_nb(st, x)
    n = x.size
    assert abs(x.mean()) < 4.5 / math.sqrt(n)  # 4.5 standard errors
    assert abs(x.var() - 1.0) < 4.5 * math.sqrt(2.0 / n)
    assert _ks_normal(x[:100_000]) < 1.95  # 0.1% critical value of the KS statistic
    # the tails (the ziggurat's slow path): P(|Z| > 3) = 0.0027, P(|Z| > 3.654) (its base strip)
    for c in (2.0, 3.0, 3.6541528853610088):
        p = math.erfc(c / math.sqrt(2.0))
        assert abs((np.abs(x) > c).mean() - p) < 5.0 * math.sqrt(p * (1 - p) / n), c


def test_uniforms_in_unit_interval_and_uniform():
    st = np.zeros(4, np.uint64)
    seed_state(np.random.default_rng(8), st)
    u = np.zeros(200_000)
    fill_uniforms_nb(st, u)
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.histogram(u, bins=20, range=(0.0, 1.0))[0]
    expected = u.size / 20
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 43.8  # 0.1% critical value, 19 degrees of freedom


def test_shock_row_layout_and_determinism():
    """``fill_shocks_nb``: normals then uniforms, and the same stream gives the same row."""
    a = np.zeros(4, np.uint64)
    seed_state(np.random.default_rng(3), a)
    b = a.copy()
    za = np.zeros(540)
    zb = np.zeros(540)
    fill_shocks_nb(a, za, 531)
    fill_shocks_nb(b, zb, 531)
    assert np.array_equal(za, zb) and np.array_equal(a, b)
    assert ((za[531:] >= 0.0) & (za[531:] < 1.0)).all()
    assert (za[:531] < 0.0).any() and (np.abs(za[:531]) > 1.0).any()  # normals, not uniforms
    fill_shocks_nb(a, za, 531)
    assert not np.array_equal(za, zb)  # the stream advanced


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_seed_state_pcg64_path_equals_integers(seed):
    """The PCG64 fast path draws exactly what ``integers`` over the full uint64 range draws and
    leaves the generator in the same state."""
    g1, g2 = np.random.default_rng(seed), np.random.default_rng(seed)
    out = np.zeros(4, np.uint64)
    seed_state(g1, out)
    want = g2.integers(0, np.iinfo(np.uint64).max, size=4, dtype=np.uint64, endpoint=True)
    assert np.array_equal(out, want)
    assert g1.random() == g2.random()


def test_seed_state_other_bit_generators():
    """Any numpy Generator seeds a stream (through ``integers``), reproducibly."""
    a = np.zeros(4, np.uint64)
    b = np.zeros(4, np.uint64)
    seed_state(np.random.Generator(np.random.MT19937(5)), a)
    seed_state(np.random.Generator(np.random.MT19937(5)), b)
    want = np.random.Generator(np.random.MT19937(5)).integers(0, np.iinfo(np.uint64).max, size=4,
                                                              dtype=np.uint64, endpoint=True)
    assert np.array_equal(a, b) and np.array_equal(a, want) and a.any()
