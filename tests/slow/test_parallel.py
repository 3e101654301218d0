"""The threaded core step equals the serial one bit for bit (envs are independent)."""
import numpy as np
import pytest

from conftest import market

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name, overrides", [("feb2024", {}), ("feb2024", {"clearing_order": 1}),
                                             ("almgren_chriss", {})])
def test_parallel_step_equals_serial(name, overrides):
    m = market(name, **overrides)
    E = 10
    runs = []
    for parallel in (False, True):
        buf, s, dims = m.allocate(E)
        rngs = [np.random.default_rng([7, e]) for e in range(E)]
        ctrl = np.zeros(m.n_managers, bool)
        ctrl[0] = True
        for e in range(E):
            m.reset_env(buf, dims, e, rngs[e], ctrl)
        act_rng = np.random.default_rng(1)
        z = np.zeros((E, m.n_shocks))
        for _ in range(m.steps):
            for e in range(E):
                m.draw_shocks(rngs[e], z[e])
            act = act_rng.uniform(-1, 1, (E, m.n_managers, m.n_actions))
            m.step(buf, dims, act, z, parallel=parallel)
        assert s.done.all()
        runs.append(buf)
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
