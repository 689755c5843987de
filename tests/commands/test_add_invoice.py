"""`manage.py add_invoice`: stores and issues, or exits non-zero and stores nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from invoices.models import Invoice, InvoiceStatus
from tests.factories import make_client, make_contact, pdf_bytes
from tests.static_checks.test_architecture import LAYERS

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pdf(tmp_path):
    path = tmp_path / "file.pdf"
    path.write_bytes(pdf_bytes("CLI"))
    return path


@pytest.fixture
def contact():
    return make_contact(make_client("Acme GmbH"), email="ap@acme.example")


def _args(pdf, **over):
    args = {
        "--client-email": "ap@acme.example",
        "--number": "INV-2026-001",
        "--issued": "2026-11-01",
        "--due": "2026-12-01",
        "--total": "1200.00",
        "--currency": "EUR",
    }
    args.update(over)
    return [str(pdf), *[x for pair in args.items() for x in pair]]


def test_stores_issues_and_prints_the_portal_url(contact, pdf, capsys, settings, private_dir):
    settings.BASE_URL = "https://portal.example"
    call_command("add_invoice", *_args(pdf))
    invoice = Invoice.objects.get(number="INV-2026-001")
    assert invoice.status == InvoiceStatus.ISSUED
    assert invoice.client == contact.client
    assert (private_dir / invoice.pdf_name).read_bytes() == pdf.read_bytes()
    out = capsys.readouterr().out
    assert f"https://portal.example/invoices/{invoice.public_id}/" in out


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"--client-email": "nobody@acme.example"}, "No client contact"),
        ({"--issued": "2026-13-01"}, "not a date"),
        ({"--due": "1.12.2026"}, "not a date"),
        ({"--total": "-5.00"}, "cannot be negative"),
        ({"--total": "twelve"}, "not an amount"),
        ({"--total": "NaN"}, "not an amount"),
        ({"--total": "1.001"}, "2 decimal places"),
        ({"--currency": "EURO"}, "three-letter"),
        ({"--due": "2026-10-01"}, "before the issue date"),
        ({"--number": "../etc"}, "letters, digits"),
    ],
)
def test_bad_input_exits_with_a_reason_and_stores_nothing(contact, pdf, over, message, private_dir):
    with pytest.raises(CommandError, match=message):
        call_command("add_invoice", *_args(pdf, **over))
    assert Invoice.objects.count() == 0
    assert not private_dir.exists() or list(private_dir.iterdir()) == []


def test_duplicate_number_is_refused(contact, pdf, private_dir):
    call_command("add_invoice", *_args(pdf))
    with pytest.raises(CommandError, match="already exists"):
        call_command("add_invoice", *_args(pdf))
    assert Invoice.objects.count() == 1
    assert len(list(private_dir.iterdir())) == 1


def test_not_a_pdf_is_refused(contact, tmp_path, private_dir):
    fake = tmp_path / "fake.pdf"
    fake.write_text("I am not a PDF")
    with pytest.raises(CommandError, match="not a PDF"):
        call_command("add_invoice", *_args(fake))
    assert Invoice.objects.count() == 0
    assert list(private_dir.iterdir()) == []


# Every app of the project, as the import-order check lists them.
OUR_APPS = set(LAYERS)


def _our_commands() -> list[str]:
    from django.core.management import get_commands

    return sorted(name for name, app in get_commands().items() if app in OUR_APPS)


def test_the_command_list_is_complete():
    expected = {
        "add_invoice",
        "backup",
        "create_invoice",
        "invite_client",
        "issue_invoices",
        "mark_paid",
        "restore",
        "send_pending_notifications",
        "send_reminders",
        "tls_selfsigned",
    }
    assert expected <= set(_our_commands())


@pytest.mark.parametrize("command", _our_commands())
def test_every_command_has_help(command):
    result = subprocess.run(
        [sys.executable, "manage.py", command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "usage:" in result.stdout


def test_bad_input_exits_non_zero_with_one_line(tmp_path):
    """The real process, as a script sees it: exit status 1 and a one-line reason."""
    env_dir = tmp_path / "data"
    import os

    env = {**os.environ, "INVOICEPORTAL_DATA_DIR": str(env_dir), "DATABASE_URL": ""}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "add_invoice",
            "missing.pdf",
            "--client-email",
            "x@y.example",
            "--number",
            "N-1",
            "--issued",
            "2026-11-01",
            "--due",
            "2026-12-01",
            "--total",
            "1",
            "--currency",
            "EUR",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: No client contact with the email x@y.example."
    ]
