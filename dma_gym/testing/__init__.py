"""Shipped checkers and the test oracle: ``checks`` (determinism, vector env equals single envs,
numba core equals the numpy reference, compiled once), ``invariants`` (per-step state invariants)
and ``reference`` (the plain-numpy oracle of one core step). Importing this package pulls in
nothing heavy; each module imports what it needs."""
