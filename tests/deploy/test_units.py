"""The shipped systemd units and gunicorn config: valid for systemd and gunicorn, hardened."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("invoiceportal*.*"))


def _render(tmp_path: Path, unit: Path) -> Path:
    """The unit with the production paths pointed at this checkout, so that systemd can
    check the executables too."""
    env_file = tmp_path / "invoiceportal.env"
    env_file.write_text((ROOT / "deploy" / "invoiceportal.env.example").read_text())
    text = unit.read_text().replace("/etc/invoiceportal/invoiceportal.env", str(env_file))
    text = text.replace("/opt/invoiceportal", str(ROOT))
    target = tmp_path / unit.name
    target.write_text(text)
    return target


def test_all_units_are_there():
    names = {u.name for u in UNITS}
    assert {
        "invoiceportal.service",
        "invoiceportal-notify.service",
        "invoiceportal-notify.timer",
        "invoiceportal-reminders.service",
        "invoiceportal-reminders.timer",
    } <= names


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_accepts_the_unit(unit, tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: run scripts/system-deps"
    rendered = _render(tmp_path, unit)
    if unit.suffix == ".timer":
        _render(tmp_path, unit.with_suffix(".service"))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(rendered)], capture_output=True, text=True, check=False
    )
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    # systemd-analyze cannot know the "invoiceportal" user on a test machine; nothing else.
    problems = [p for p in problems if "invoiceportal" not in p or "User" not in p]
    assert result.returncode == 0 and problems == [], problems


@pytest.mark.parametrize(
    "name",
    ["invoiceportal.service", "invoiceportal-notify.service", "invoiceportal-reminders.service"],
)
def test_services_are_hardened(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(ROOT / "deploy" / "systemd" / name)
    service = parser["Service"]
    assert service["User"] == "invoiceportal"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/invoiceportal"  # only the data directory
    assert service["PrivateTmp"] == "yes"
    assert service["ProtectHome"] == "yes"
    assert service["CapabilityBoundingSet"] == ""


def test_gunicorn_accepts_its_config(tmp_path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICEPORTAL_")}
    env.update(
        {
            "INVOICEPORTAL_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "",
            "GUNICORN_BIND": f"unix:{tmp_path}/g.sock",
        }
    )
    result = subprocess.run(
        [str(gunicorn), "-c", "deploy/gunicorn.conf.py", "--check-config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_gunicorn_config_values():
    namespace: dict[str, object] = {}
    env_before = dict(os.environ)
    try:
        os.environ.pop("INVOICEPORTAL_BEHIND_PROXY", None)
        exec((ROOT / "deploy" / "gunicorn.conf.py").read_text(), namespace)  # noqa: S102  (our own shipped config file, as gunicorn loads it)
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    assert namespace["workers"] == (os.cpu_count() or 1) * 2 + 1
    assert namespace["timeout"] == 60
    assert namespace["forwarded_allow_ips"] == ""
    assert namespace["secure_scheme_headers"] == {}
    assert namespace["logger_class"] == "core.gunicorn_logging.RedactingLogger"
    assert "%(r)s" in namespace["access_log_format"]  # redacted by the logger class
