"""`manage.py issue_invoices`: month-end, many invoices from one file. Checks everything
first (bad input names the invoice and row, nothing stored), issues each invoice in its own
transaction with gapless numbers, then sends the emails; progress on stderr."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import OutputWrapper

from invoices import storage
from invoices.management.progress import Progress
from invoices.models import Invoice, InvoiceStatus
from notifications.management.commands.issue_invoices import Command
from notifications.models import Notification, NotificationStatus
from tests.factories import make_client, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def contacts():
    acme, globex = make_client("Acme GmbH"), make_client("Globex Ltd")
    return [
        make_contact(acme, email="ap@acme.example"),
        make_contact(acme, email="boss@acme.example"),
        make_contact(globex, email="ap@globex.example"),
    ]


def _line(description="Consulting", quantity="2", unit_price="100.00", tax_rate="19"):
    return {
        "description": description,
        "quantity": quantity,
        "unit": "h",
        "unit_price": unit_price,
        "tax_rate": tax_rate,
    }


def _batch(n: int, **over) -> list[dict]:
    emails = ["ap@acme.example", "ap@globex.example"]
    return [
        {
            "client_email": emails[i % 2],
            "issued": "2026-11-30",
            "lines": [_line(f"Work package {i + 1}"), _line("Travel", "1", "50", "7")],
            **over,
        }
        for i in range(n)
    ]


def _write(tmp_path, data, name="batch.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_invoices", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _stored_files(private_dir):
    return sorted(p.name for p in private_dir.glob("*")) if private_dir.exists() else []


@pytest.mark.django_db(transaction=True)
def test_issues_every_invoice_with_consecutive_numbers_then_emails_each_contact(
    contacts, tmp_path, mailoutbox, private_dir
):
    out, err = _run(_write(tmp_path, _batch(5)), "--every", "2")
    invoices = list(Invoice.objects.order_by("id"))
    assert [i.number for i in invoices] == [f"INV-2026-{n:04}" for n in range(1, 6)]
    assert all(i.status == InvoiceStatus.ISSUED and i.pdf_sha256 for i in invoices)
    assert [i.client.name for i in invoices] == ["Acme GmbH", "Globex Ltd"] * 2 + ["Acme GmbH"]
    assert invoices[0].total == Decimal("291.50")  # 200 + 19 % and 50 + 7 %
    assert _stored_files(private_dir) == sorted(i.pdf_name for i in invoices)
    for invoice in invoices:
        assert storage.pdf_path(invoice.pdf_name).read_bytes().startswith(b"%PDF-")
    # Acme has two contacts and three invoices, Globex one contact and two invoices.
    assert len(mailoutbox) == 3 * 2 + 2 * 1
    assert sorted({m.to[0] for m in mailoutbox}) == sorted(c.email for c in contacts)
    assert Notification.objects.filter(status=NotificationStatus.SENT).count() == 8
    assert "Issued 5 invoice(s), INV-2026-0001 to INV-2026-0005" in out
    assert "Emails: 8 sent, 0 to retry, 0 given up" in out
    assert "Issuing: 2/5\nIssuing: 4/5\nIssuing: 5/5 in " in err


def test_emails_wait_until_every_invoice_is_issued(contacts, tmp_path):
    sent_while_issuing = []

    def issue_and_count(*, invoice, **kwargs):
        from invoices.services import invoice_issue as real

        sent_while_issuing.append(Notification.objects.filter(status="sent").count())
        return real(invoice=invoice, **kwargs)

    with mock.patch("invoices.services.batch.invoice_issue", side_effect=issue_and_count):
        _run(_write(tmp_path, _batch(3)))
    assert sent_while_issuing == [0, 0, 0]
    assert Invoice.objects.filter(status=InvoiceStatus.ISSUED).count() == 3


def test_csv_rows_with_the_same_label_make_one_invoice(contacts, tmp_path):
    csv_text = (
        "invoice,client_email,issued,due,currency,description,quantity,unit,unit_price,tax_rate\n"
        "A,ap@acme.example,2026-11-30,2026-12-15,EUR,Analysis,2,h,100.00,19\n"
        "B,ap@globex.example,2026-11-30,,USD,Audit,1,,500,0\n"
        "A,,,,,Report,1,,50,7\n"
    )
    out, _err = _run(_write(tmp_path, csv_text, "batch.csv"))
    a, b = Invoice.objects.order_by("id")
    assert (a.client.name, a.lines.count(), a.total, str(a.due_date)) == (
        "Acme GmbH",
        2,
        Decimal("291.50"),
        "2026-12-15",
    )
    assert (b.client.name, b.currency, b.total, str(b.due_date)) == (
        "Globex Ltd",
        "USD",
        Decimal("500.00"),
        "2026-12-30",  # the profile's 30 days of payment terms
    )
    assert "Issued 2 invoice(s)" in out


def test_bad_input_names_every_bad_invoice_and_line_and_stores_nothing(
    contacts, tmp_path, private_dir
):
    data = _batch(4)
    data[1]["client_email"] = "nobody@acme.example"
    data[2]["lines"][1]["quantity"] = "two"
    data[3]["lines"][0]["tax_rate"] = "150"
    data[3]["due"] = "2026-11-01"
    with pytest.raises(CommandError) as caught:
        _run(_write(tmp_path, data))
    message = str(caught.value)
    assert "Nothing was stored" in message
    assert "Invoice 2: no client contact with the email nobody@acme.example" in message
    assert "Invoice 3, line 2: quantity 'two' is not a number" in message
    assert "Invoice 4: " in message
    assert "Invoice 1" not in message
    assert Invoice.objects.count() == 0
    assert Notification.objects.count() == 0
    assert _stored_files(private_dir) == []


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("A,ap@acme.example,2026-11-30,,,Report,1,,x,7", "Row 3: unit price 'x' is not a number"),
        ("A,ap@globex.example,,,,Report,1,,5,7", "Row 3: client_email differs from row 2"),
        ("A,ap@acme.example,2026-11-31,,,Report,1,,5,7", "Row 3: issued differs from row 2"),
        (",ap@acme.example,,,,Report,1,,5,7", "Rows 3: the invoice label is empty"),
    ],
)
def test_a_bad_csv_row_is_named_and_nothing_is_stored(contacts, tmp_path, row, expected):
    csv_text = (
        "invoice,client_email,issued,due,currency,description,quantity,unit,unit_price,tax_rate\n"
        f"A,ap@acme.example,2026-11-30,,,Analysis,2,h,100.00,19\n{row}\n"
    )
    with pytest.raises(CommandError, match=expected):
        _run(_write(tmp_path, csv_text, "batch.csv"))
    assert Invoice.objects.count() == 0


def test_a_rule_of_draft_create_is_checked_before_anything_is_stored(contacts, tmp_path):
    data = _batch(3)
    data[2]["lines"][0]["tax_rate"] = "150"
    with pytest.raises(CommandError, match="Invoice 3: Line 1: the tax rate must be between"):
        _run(_write(tmp_path, data))
    assert Invoice.objects.count() == 0


def test_a_failure_while_issuing_leaves_no_half_written_invoice_and_says_how_to_go_on(
    contacts, tmp_path, private_dir
):
    path = _write(tmp_path, _batch(5))
    real_store = storage.store_pdf
    calls = []

    def store_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_store(*args, **kwargs)

    with (
        mock.patch.object(storage, "store_pdf", side_effect=store_then_fail),
        pytest.raises(CommandError) as caught,
    ):
        _run(path)
    assert "Invoice 3 failed" in str(caught.value) and "--start 3" in str(caught.value)
    issued = list(Invoice.objects.order_by("id"))
    assert [i.number for i in issued] == ["INV-2026-0001", "INV-2026-0002"]  # no draft left
    assert _stored_files(private_dir) == sorted(i.pdf_name for i in issued)

    out, _err = _run(path, "--start", "3")
    numbers = list(Invoice.objects.order_by("id").values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:04}" for n in range(1, 6)]  # no gap, no repeat
    assert "Issued 3 invoice(s), INV-2026-0003 to INV-2026-0005" in out


def test_check_only_stores_nothing(contacts, tmp_path):
    out, _err = _run(_write(tmp_path, _batch(4)), "--check")
    assert "All 4 invoices are valid; nothing was stored." in out
    assert Invoice.objects.count() == 0


def test_unreadable_or_empty_files_are_refused(contacts, tmp_path):
    with pytest.raises(CommandError, match="not valid JSON"):
        _run(_write(tmp_path, "[{", "bad.json"))
    with pytest.raises(CommandError, match="holds no invoices"):
        _run(_write(tmp_path, []))
    with pytest.raises(CommandError, match="'lines' must be a list"):
        _run(_write(tmp_path, [{"client_email": "ap@acme.example"}]))
    assert Invoice.objects.count() == 0


def test_help_explains_the_format_the_checking_and_the_restart():
    text = Command().create_parser("manage.py", "issue_invoices").format_help()
    for phrase in ("client_email", "nothing is\n   stored", "own transaction", "--start", "stderr"):
        assert phrase in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_a_bar_on_a_terminal_and_count_lines_elsewhere():
    terminal = _Terminal()
    bar = Progress(OutputWrapper(terminal), total=4, label="Issuing")
    for _ in range(4):
        bar.step()
    bar.done()
    drawn = terminal.getvalue()
    assert drawn.startswith("\rIssuing [")
    assert "#" * 30 + "] 4/4" in drawn and "\x1b[" not in drawn  # no colour codes
    assert drawn.endswith("/s\n")

    log = io.StringIO()
    lines = Progress(OutputWrapper(log), total=5, label="Issuing", every=2)
    for _ in range(5):
        lines.step()
    lines.done()
    assert log.getvalue().splitlines()[:2] == ["Issuing: 2/5", "Issuing: 4/5"]
    assert log.getvalue().splitlines()[2].startswith("Issuing: 5/5 in ")
    assert "\r" not in log.getvalue()
