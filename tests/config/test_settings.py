"""The real settings (not the test settings): secure defaults, start-up refusals, check --deploy."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.hashers import OWASP_MINIMUM

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICEPORTAL_")}
    env.update({"DJANGO_SETTINGS_MODULE": "invoiceportal.settings", "DATABASE_URL": ""})
    env["INVOICEPORTAL_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def _settings(tmp_path: Path, *names: str, **extra: str) -> subprocess.CompletedProcess:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: repr(getattr(settings, n)) for n in {list(names)!r}}}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        check=False,
    )


def test_real_settings_hash_with_argon2id_above_the_owasp_minimum(tmp_path):
    code = (
        "import json, django; django.setup(); "
        "from django.contrib.auth.hashers import get_hasher, make_password; "
        "from django.conf import settings; h = get_hasher('default'); "
        "print(json.dumps({'algorithm': h.algorithm, 'memory': h.memory_cost, "
        "'time': h.time_cost, 'parallelism': h.parallelism, 'debug': settings.DEBUG, "
        "'hash': make_password('x' * 20)}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["algorithm"] == "argon2"
    assert values["hash"].startswith("argon2$argon2id$v=19$m=65536,t=2,p=1$")
    # OWASP: Argon2id with m >= 19 MiB, t >= 2, p >= 1 (docs/security.md)
    assert values["memory"] >= OWASP_MINIMUM["memory_cost"]
    assert values["time"] >= OWASP_MINIMUM["time_cost"]
    assert values["parallelism"] >= OWASP_MINIMUM["parallelism"]
    assert values["debug"] is False


def test_embedded_secret_key_is_generated_once_in_a_0600_file(tmp_path):
    first = _settings(tmp_path, "SECRET_KEY")
    second = _settings(tmp_path, "SECRET_KEY")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) >= 50


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {
                "INVOICEPORTAL_ENVIRONMENT": "production",
                "INVOICEPORTAL_ALLOWED_HOSTS": "portal.example",
            },
            "needs a secret key",
        ),
        (
            {"INVOICEPORTAL_ENVIRONMENT": "production", "INVOICEPORTAL_SECRET_KEY": "x" * 60},
            "INVOICEPORTAL_ALLOWED_HOSTS",
        ),
        ({"INVOICEPORTAL_ENVIRONMENT": "staging"}, "must be 'embedded' or 'production'"),
        ({"INVOICEPORTAL_DOWNLOAD_LINK_TTL": "five"}, "whole number"),
        ({"INVOICEPORTAL_BASE_URL": "http://portal.example"}, "must start with https://"),
        (
            {
                "INVOICEPORTAL_ENVIRONMENT": "production",
                "INVOICEPORTAL_SECRET_KEY": "x" * 60,
                "INVOICEPORTAL_ALLOWED_HOSTS": "p.example",
                "INVOICEPORTAL_DEBUG": "1",
            },
            "DEBUG cannot be on in production",
        ),
    ],
)
def test_insecure_or_broken_configuration_refuses_to_start(tmp_path, extra, message):
    result = _settings(tmp_path, "SECRET_KEY", **extra)
    assert result.returncode != 0
    assert message in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_production_does_not_create_a_secret_key_file(tmp_path):
    _settings(
        tmp_path,
        "SECRET_KEY",
        INVOICEPORTAL_ENVIRONMENT="production",
        INVOICEPORTAL_ALLOWED_HOSTS="p.example",
    )
    assert not (tmp_path / "data" / "secret_key").exists()


def _manage(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_is_clean_with_the_embedded_settings(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_start_up_check_refuses_static_root_inside_the_data_dir(tmp_path):
    result = _manage(
        tmp_path, "check", INVOICEPORTAL_STATIC_ROOT=str(tmp_path / "data" / "private")
    )
    assert result.returncode != 0
    assert "invoiceportal.E001" in result.stderr


def test_start_up_check_refuses_redirect_off_without_a_proxy(tmp_path):
    result = _manage(tmp_path, "check", INVOICEPORTAL_SSL_REDIRECT="false")
    assert result.returncode != 0
    assert "invoiceportal.E005" in result.stderr
    behind = _manage(
        tmp_path, "check", INVOICEPORTAL_SSL_REDIRECT="false", INVOICEPORTAL_BEHIND_PROXY="true"
    )
    assert behind.returncode == 0, behind.stderr


def test_proxy_header_is_trusted_only_behind_a_proxy(tmp_path):
    plain = json.loads(_settings(tmp_path, "BEHIND_PROXY").stdout)
    assert plain["BEHIND_PROXY"] == "False"
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    without = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    assert without.stdout.strip() in {"None", "False"}
    behind = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(tmp_path, INVOICEPORTAL_BEHIND_PROXY="1"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "HTTP_X_FORWARDED_PROTO" in behind.stdout
