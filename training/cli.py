"""Command lines of the training scripts, from their ``Args`` dataclasses: one flag per field
(``--field-name``), its docstring as help, booleans as ``--x/--no-x`` and ``env_kwargs`` as
``--env-kwargs KEY=VALUE ...`` (parsed with YAML, see :func:`parse_env_kwargs`)."""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import sys
from typing import Any, Callable


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass ``cls`` (and of the dataclasses it extends),
    read from their source."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(inspect.getsource(klass)).body[0].body
        docs.update({a.target.id: " ".join(b.value.value.split()) for a, b in zip(body, body[1:])
                     if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr)
                     and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)})
    return docs


def parse_env_kwargs(items: list[str]) -> dict[str, Any]:
    """``["leverage=3", "shock_day_range=[5, 20]"]`` -> ``{"leverage": 3, ...}``: each value read
    as YAML (numbers, lists, booleans), a string that is a float in exponent form (YAML 1.1 reads
    ``1e-5`` as a string) as that float."""
    import yaml
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--env-kwargs {item!r}: expected key=value")
        key, value = item.split("=", 1)
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out[key.strip()] = parsed
    return out


def parse_args(cls: type, prog: str, description: str, argv: list[str] | None = None) -> Any:
    """Parse ``argv`` into an instance of dataclass ``cls`` (``env_kwargs`` becomes a dict when
    the field's default is a dict, else stays the list of ``KEY=VALUE`` strings)."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    docs = field_docs(cls)
    fields = cls.__dataclass_fields__
    for f, fld in fields.items():
        flag = "--" + f.replace("_", "-")
        doc = docs.get(f, "").replace("%", "%%")
        default = fld.default_factory() if fld.default_factory is not dataclasses.MISSING else fld.default
        if f == "env_kwargs":
            p.add_argument(flag, nargs="*", default=list(default) if isinstance(default, list) else [],
                           metavar="KEY=VALUE", help=doc)
        elif isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=doc)
        else:
            p.add_argument(flag, type=type(default), default=default, help=doc)
    ns = vars(p.parse_args(argv))
    if "env_kwargs" in fields and isinstance(fields["env_kwargs"].default_factory(), dict):
        ns["env_kwargs"] = parse_env_kwargs(ns["env_kwargs"])
    return cls(**ns)


def run(cls: type, main: Callable[[Any], Any], prog: str, description: str) -> None:
    """A script's entry point: parse the command line into ``cls``, call ``main`` with it, and
    turn a ValueError (bad input, named by the message) into ``error: ...`` on stderr, exit 2."""
    try:
        main(parse_args(cls, prog, description))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
