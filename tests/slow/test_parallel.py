"""The threaded engine step equals the serial one bit for bit (envs are independent)."""
import numpy as np
import pytest

from conftest import market
from dma_gym import Engine

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name, overrides", [("feb2024", {}), ("feb2024", {"clearing_order": 1}),
                                             ("almgren_chriss", {})])
def test_parallel_step_equals_serial(name, overrides):
    m = market(name, **overrides)
    E = 10
    runs = []
    for threads in (False, True):
        eng = Engine(m.config, E, learners=(0,), threads=threads)
        assert eng.threads is threads
        eng.reset(seed=7)
        act_rng = np.random.default_rng(1)
        outs = []
        for _ in range(m.steps):
            eng.step(act_rng.uniform(-1, 1, (E, 1, eng.act_dim)))
            outs.append((eng.obs.copy(), eng.reward.copy(), eng.terminated.copy(), eng.info.copy(),
                         eng.shocks.copy()))
        assert eng.state.done.all()
        runs.append((eng.buf, outs))
    (buf_serial, out_serial), (buf_threaded, out_threaded) = runs
    for a, b in zip(buf_serial, buf_threaded):
        np.testing.assert_array_equal(a, b)
    for step_serial, step_threaded in zip(out_serial, out_threaded):
        for a, b in zip(step_serial, step_threaded):
            assert a.tobytes() == b.tobytes()
