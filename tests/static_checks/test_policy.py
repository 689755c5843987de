"""The static checks CI runs are real: bandit's rules (ruff S) are on for the product code,
and every suppression says why."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")
SUPPRESSION = re.compile(r"#\s*(noqa|nosec)\b(?P<rest>.*)$")
BANDIT_CODE = re.compile(r"\bS\d{3}\b")


def _python_sources() -> list[Path]:
    skip = {".venv", "migrations", "data", "node_modules", ".git"}
    files = [p for p in ROOT.rglob("*.py") if not skip.intersection(p.relative_to(ROOT).parts)]
    scripts = [p for p in (ROOT / "scripts").iterdir() if "python" in p.open().readline()]
    return files + scripts


def test_the_bandit_rules_are_selected_and_none_is_ignored_globally():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "S" in config["select"]
    assert not [code for code in config.get("ignore", []) if code.startswith("S")]
    per_file = config.get("per-file-ignores", {})
    product_ignores = {
        glob: codes
        for glob, codes in per_file.items()
        # Test and benchmark code is not shipped; its exemptions are explained in pyproject.
        if not glob.startswith(("tests/", "benchmarks/")) and any(c.startswith("S") for c in codes)
    }
    assert product_ignores == {}


def test_ruff_reports_bandit_findings_in_product_code():
    insecure = (
        "import hashlib\nimport subprocess\n\n"
        "def f(name):\n"
        "    subprocess.run(name, shell=True)\n"
        "    return hashlib.md5(name.encode()).hexdigest()\n"
    )
    result = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--stdin-filename", "invoices/example.py", "-"],
        cwd=ROOT,
        input=insecure,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "S602" in result.stdout  # subprocess with shell=True
    assert "S324" in result.stdout  # md5 for a security purpose


def test_every_bandit_suppression_carries_its_reason():
    unjustified = []
    for path in _python_sources():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SUPPRESSION.search(line)
            if not match:
                continue
            rest = match["rest"]
            # The reason follows the codes in parentheses, e.g. "S603  (fixed tool)".
            bandit = match[1] == "nosec" or BANDIT_CODE.search(rest)
            if bandit and not re.search(r"\(\s*\w[^)]{3,}\)", rest):
                unjustified.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert unjustified == []
