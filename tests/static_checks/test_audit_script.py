"""scripts/audit-deps: an audit that could not look a package up never reads as clean."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit-deps"


@pytest.fixture(scope="module")
def audit():
    loader = importlib.machinery.SourceFileLoader("audit_deps", str(SCRIPT))
    spec = importlib.util.spec_from_loader("audit_deps", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


CLEAN = {"name": "django", "version": "6.1.3", "vulns": []}
VULNERABLE = {
    "name": "django",
    "version": "4.2.0",
    "vulns": [{"id": "PYSEC-2023-61", "fix_versions": ["4.2.1"], "aliases": []}],
}
NOT_FOUND = {
    "name": "segno",
    "version": "1.6.6",
    "skip_reason": "Dependency not found on PyPI and could not be audited: segno (1.6.6)",
}


def test_a_fully_audited_clean_report_passes(audit, capsys):
    assert audit.verdict({"dependencies": [CLEAN]}, if_reachable=False) == 0
    assert "1 package(s) audited, 0 vulnerable, 0 not audited" in capsys.readouterr().out


@pytest.mark.parametrize("if_reachable", [False, True])
def test_a_vulnerability_fails_in_both_modes(audit, capsys, if_reachable):
    report = {"dependencies": [CLEAN, VULNERABLE]}
    assert audit.verdict(report, if_reachable=if_reachable) == 1
    captured = capsys.readouterr()
    assert "django 4.2.0: PYSEC-2023-61 (fixed in 4.2.1)" in captured.out
    assert "known vulnerabilities" in captured.err


def test_packages_that_could_not_be_looked_up_make_make_audit_fail(audit, capsys):
    report = {"dependencies": [CLEAN, NOT_FOUND]}
    assert audit.verdict(report, if_reachable=False) == 2
    assert "DEPENDENCY AUDIT INCOMPLETE: 1 of 2" in capsys.readouterr().err


def test_ci_mode_says_loudly_that_the_audit_was_incomplete(audit, capsys):
    report = {"dependencies": [NOT_FOUND]}
    assert audit.verdict(report, if_reachable=True) == 0
    assert "DEPENDENCY AUDIT INCOMPLETE" in capsys.readouterr().err


def test_an_empty_report_is_not_a_clean_audit(audit):
    assert audit.verdict({"dependencies": []}, if_reachable=False) == 2
