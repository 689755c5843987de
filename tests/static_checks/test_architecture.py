"""Imports run one way (docs/architecture.md): each package may import only the packages
below it in ``LAYERS``, and nothing imports ``invoiceportal`` (the composition on top) but
itself. A small AST walk over every module, migrations included; it fails on an import in a
function body as much as on one at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Bottom first. A package may import any package that comes before it, never one after.
LAYERS = [
    "core",
    "audit",
    "business",
    "clients",
    "invoices",
    "notifications",
    "backups",
    "invoiceportal",
]
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in the file that names one of ours."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name.split(".")[0]) for name in names]
    return [(line, top) for line, top in found if top in RANK]


def violations(package: str) -> list[str]:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, target in imported_packages(path):
            if RANK[target] > RANK[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return wrong


@pytest.mark.parametrize("package", LAYERS)
def test_imports_run_one_way(package):
    assert violations(package) == []


def test_the_layers_are_every_package_of_the_project():
    """A new app must be given its place in the order (and in docs/architecture.md)."""
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")}
    assert apps == set(LAYERS)
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in LAYERS:
        assert f"`{name}/`" in doc


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The walk really finds an import against the order, also one inside a function."""
    package = tmp_path / "audit"
    package.mkdir()
    (package / "bad.py").write_text(
        "def later():\n    from invoices.models import Invoice\n    return Invoice\n"
    )
    (package / "fine.py").write_text("from core.tokens import mint\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert violations("audit") == ["audit/bad.py:2 imports invoices"]
