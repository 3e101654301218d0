"""How the core's numba functions are compiled.

``kernel``: every function that takes the ``State`` / ``Universe`` tuples (about 120 array views)
or is called per stock. Kernels never allocate: they write into the state, the universe or
arrays their caller passes, so they are compiled without numba's reference counting (NRT). With
NRT on, a call that receives the State increfs and decrefs each of its arrays (an atomic add per
array and direction, about 1 us per call) wherever numba's pruning pass cannot prove the pair
redundant, which at ~25 stage calls per step cost more than the market itself. Without NRT a
kernel call costs what its arguments cost to pass.

``entry``: the functions the Python side calls. They build the named views from the flat
buffers (``layout.state_views_nb``, inlined: a pointer offset and strides per view) and hand them
to kernels. They allocate nothing either and are compiled without NRT too, so building the ~150
views costs no reference counting; the buffers they view are owned by the Python caller for the
whole call.
"""
from __future__ import annotations

from numba import njit


_FLAGS = dict(cache=True, _nrt=False, error_model="numpy")


def kernel(fn):
    """Compile ``fn`` as an allocation-free core kernel (on-disk cache, no NRT, IEEE division:
    no zero-divisor check and branch per division)."""
    return njit(**_FLAGS, no_cpython_wrapper=True, no_cfunc_wrapper=True)(fn)


def entry(fn):
    """Compile ``fn`` as an allocation-free core entry point (same flags as ``kernel``)."""
    return njit(**_FLAGS)(fn)
