"""Policies for DMAUnwind-v0: the SB3-style Policy protocol, rule baselines and closed forms.

``agents.make("twap", env)`` builds a baseline for an env (gym env, vector env or SB3 VecEnv);
``agents.names()`` lists them; ``agents.load("DIR/best_model.zip")`` reads a trained
stable-baselines3 model back as a policy (``agents/trained.py``). Baselines and the loader are
imported on first use, so importing ``agents`` does not load torch.
"""
from __future__ import annotations

import importlib
from typing import Any

from agents.base import Policy, RulePolicy, resolve_env

# name -> "module:Class"; the rule of each is in its class docstring (agents/baselines.py)
_REGISTRY: dict[str, str] = {
    "hold": "agents.baselines:Hold",
    "dump": "agents.baselines:Dump",
    "twap": "agents.baselines:Twap",
    "pov": "agents.baselines:Pov",
    "almgren_chriss": "agents.baselines:AlmgrenChriss",
    "nash": "agents.baselines:Nash",
    "margin_trigger": "agents.baselines:MarginTrigger",
    "rotate_large": "agents.baselines:RotateLarge",
    "deleverage_target": "agents.baselines:DeleverageTarget",
}

__all__ = ["Policy", "RulePolicy", "load", "make", "names", "resolve_env"]


def names(kind: str | None = None) -> list[str]:
    """The registered policy names; ``kind="market"`` or ``"almgren_chriss"``: those that run in
    that kind of scenario (market-only and almgren_chriss-only rules left out of the other)."""
    if kind is None:
        return sorted(_REGISTRY)
    if kind not in ("market", "almgren_chriss"):
        raise ValueError(f"kind={kind!r}: allowed None, 'market' or 'almgren_chriss'")
    out = []
    for name, ref in sorted(_REGISTRY.items()):
        module, cls = ref.split(":")
        c = getattr(importlib.import_module(module), cls)
        if not (c.market_only if kind == "almgren_chriss" else c.ac_only):
            out.append(name)
    return out


def make(name: str, env: Any, **kwargs: Any) -> RulePolicy:
    """The baseline ``name`` for ``env`` with keyword parameters ``kwargs``.

    Args:
        name: one of :func:`names`.
        env: a ``gym.make("DMAUnwind-v0", ...)`` env (wrappers allowed), its vector env
            (``gym.make_vec`` / ``DMAUnwindVectorEnv``) or ``dma_gym.adapters.sb3.make_sb3_vec_env``;
            the scenario config and one env's spaces are read from it.
        **kwargs: the policy's documented parameters.

    Raises:
        ValueError: unknown name (the message lists the known ones), an env that is not a
            DMAUnwind env, an invalid parameter value (naming it) or a market-only policy in the
            almgren_chriss scenario.
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown policy {name!r}; known policies: {', '.join(names())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls).from_env(env, **kwargs)


def load(path: Any, device: str = "cpu", *, name: str | None = None) -> Any:
    """The stable-baselines3 model saved at ``path`` by ``agents.trained.save``, as an
    ``agents.trained.TrainedPolicy`` (see ``agents.trained.load``; imports torch).

    Loading unpickles parts of the files (as SB3's own ``load`` does): load only files you trust.

    Args:
        path: the model zip, e.g. ``runs/x/best_model.zip`` (``.zip`` may be left out).
        device: torch device of the loaded model.
        name: the policy's label (default: its algorithm).

    Raises:
        ValueError: naming the file and what is wrong with it (missing, not a zip, not an SB3
            model, an unknown algorithm, a meta that disagrees with the model, missing or
            damaged normalisation statistics).
    """
    from agents.trained import load as _load

    return _load(path, device=device, name=name)
