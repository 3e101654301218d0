"""The package's shape: typed boundaries (no function takes more than 12 parameters), the model
documented in the repository (docs/model.md) and cited by its section numbers, which must exist."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dma_gym"
MAX_PARAMS = 12
CITE = re.compile(r"docs/model\.md §(\d+(?:\.\d+)?)((?:\s*[,–-]\s*§?\d+(?:\.\d+)?)*)")


def _sources(*dirs: str) -> list[Path]:
    return [p for d in dirs for p in (ROOT / d).rglob("*.py")]


def _n_params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = fn.args
    return len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)


def test_no_function_in_the_package_takes_more_than_12_parameters():
    wide = [f"{p.relative_to(ROOT)}:{n.lineno} {n.name} ({_n_params(n)})"
            for p in PACKAGE.rglob("*.py") for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and _n_params(n) > MAX_PARAMS]
    assert not wide, f"functions with more than {MAX_PARAMS} parameters: {wide}"


def test_the_checker_counts_parameters():
    fn = ast.parse("def f(a, b, /, c, *d, e, f=1, **g): pass").body[0]
    assert _n_params(fn) == 7


def test_the_package_cites_only_what_ships_with_it():
    for p in PACKAGE.rglob("*.py"):
        text = p.read_text()
        for name in ("DESIGN.md", "MODELS.md"):
            assert name not in text, f"{p.relative_to(ROOT)} cites {name}, which users do not have"


def test_every_docs_model_citation_names_an_existing_section():
    headings = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?) ", (ROOT / "docs" / "model.md").read_text(), re.M))
    assert {"1", "5.1", "12.2", "13.1"} <= headings, sorted(headings)
    cited = 0
    for p in _sources("dma_gym", "agents", "training", "tests") + [ROOT / "README.md"]:
        for m in CITE.finditer(p.read_text()):
            for sec in [m.group(1)] + re.findall(r"\d+(?:\.\d+)?", m.group(2)):
                cited += 1
                assert sec in headings, f"{p.relative_to(ROOT)} cites docs/model.md §{sec}, which does not exist"
    assert cited >= 10  # the scan sees the citations


def test_every_test_the_model_doc_cites_exists():
    """docs/model.md names the test that checks each mechanism: each must exist."""
    cited = set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", (ROOT / "docs" / "model.md").read_text()))
    assert len(cited) >= 20
    missing = []
    for path, name in sorted(cited):
        src = ROOT / path
        if not src.exists() or not re.search(rf"^def {name}\(", src.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/model.md cites tests that do not exist: {missing}"

