"""Invoices made from line items: numbering, issue (final PDF, frozen), credit notes, the
admin pages, the portal's figures and the create_invoice / mark_paid commands."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from pypdf import PdfReader

from business.services import profile_get
from invoices import storage
from invoices.models import Invoice, InvoiceKind, InvoiceLine, InvoiceStatus
from invoices.money import LineInput, format_amount
from invoices.services import (
    InvoiceError,
    credit_note_create,
    draft_create,
    invoice_issue,
    invoice_mark_paid,
)
from tests.conftest import logged_in, logged_in_staff
from tests.factories import make_client, make_contact, make_invoice

LINES = [
    LineInput("Workshop «Sicherheit»", Decimal("2"), Decimal("950.00"), Decimal("19"), "day"),
    LineInput("Travel", Decimal("1"), Decimal("120.50"), Decimal("7")),
]


def _draft(client, lines=LINES, **kwargs):
    return draft_create(
        client=client,
        lines=lines,
        issue_date=kwargs.pop("issue_date", dt.date(2026, 11, 2)),
        **kwargs,
    )


def _pdf_text(invoice) -> str:
    data = storage.pdf_path(invoice.pdf_name).read_bytes()
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


@pytest.mark.django_db
def test_issue_numbers_renders_stores_and_freezes(private_dir):
    client = make_client("Acme GmbH")
    draft = _draft(client)
    assert draft.number is None and draft.status == InvoiceStatus.DRAFT
    issued = invoice_issue(invoice=draft)
    assert issued.number == "INV-2026-0001"
    assert issued.payment_reference == "INV-2026-0001"
    assert issued.total == Decimal("2389.94")  # 1900 + 361 + 120.50 + 8.44 (8.435 half-up)
    assert (private_dir / issued.pdf_name).exists()
    text = _pdf_text(issued)
    assert "INV-2026-0001" in text and format_amount(issued.total, "EUR") in text
    with pytest.raises(InvoiceError, match="not a draft"):
        invoice_issue(invoice=issued)
    second = invoice_issue(invoice=_draft(client))
    assert second.number == "INV-2026-0002"


@pytest.mark.django_db
def test_a_failed_issue_leaves_no_gap_and_no_file(private_dir, monkeypatch):
    client = make_client()
    from invoices import pdf

    def broken(doc):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(pdf, "render_invoice", broken)
    with pytest.raises(RuntimeError):
        invoice_issue(invoice=_draft(client))
    monkeypatch.undo()
    assert not private_dir.exists() or list(private_dir.iterdir()) == []
    assert invoice_issue(invoice=_draft(client)).number == "INV-2026-0001"


@pytest.mark.django_db
def test_uploaded_numbers_are_skipped_by_the_sequence():
    client = make_client()
    make_invoice(client, number="INV-2026-0001")
    assert invoice_issue(invoice=_draft(client)).number == "INV-2026-0002"


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_issues_get_twenty_consecutive_numbers():
    client = make_client()
    drafts = [_draft(client) for _ in range(20)]
    barrier = threading.Barrier(20)
    errors: list[Exception] = []

    def issue(invoice):
        try:
            barrier.wait(timeout=20)
            invoice_issue(invoice=invoice)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=(d,)) for d in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:04d}" for n in range(1, 21)]


@pytest.mark.django_db
def test_credit_note_references_the_original_and_leaves_it_alone():
    client = make_client()
    original = invoice_issue(invoice=_draft(client))
    before = (original.pdf_sha256, original.total, original.status)
    note = credit_note_create(original=original)
    assert note.kind == InvoiceKind.CREDIT_NOTE and note.credited_invoice == original
    assert note.lines.count() == 2
    issued = invoice_issue(invoice=note)
    assert issued.number == "CN-2026-0001"
    text = _pdf_text(issued)
    assert "Credit note" in text and f"Credits invoice {original.number}" in text
    original.refresh_from_db()
    assert (original.pdf_sha256, original.total, original.status) == before


@pytest.mark.django_db
def test_portal_pdf_and_admin_show_the_same_figures(private_dir):
    client = make_client()
    contact = make_contact(client)
    profile = profile_get()
    profile.iban, profile.account_holder = "DE89 3704 0044 0532 0130 00", "Jo Consultant"
    profile.save()
    issued = invoice_issue(invoice=_draft(client))
    page = (
        logged_in(contact).get(reverse("invoice-detail", args=[issued.public_id])).content.decode()
    )
    text = _pdf_text(issued)
    for amount in [
        "1,900.00 EUR",
        "120.50 EUR",
        "2,020.50 EUR",
        "361.00 EUR",
        "8.44 EUR",
        "2,389.94 EUR",
    ]:
        assert amount in page, amount
        assert amount in text, amount
    assert "DE89 3704 0044 0532 0130 00" in page  # unpaid: payment details shown
    invoice_mark_paid(invoice=issued, paid_on=dt.date(2026, 11, 20))
    paid_page = (
        logged_in(contact).get(reverse("invoice-detail", args=[issued.public_id])).content.decode()
    )
    assert "DE89" not in paid_page and "2026-11-20" in paid_page
    admin_page = logged_in_staff().get(
        reverse("admin:invoices_generatedinvoice_change", args=[issued.pk])
    )
    assert b"2389.94" in admin_page.content


@pytest.mark.django_db
def test_admin_makes_previews_and_issues_a_draft():
    client = make_client("Admin Lines Ltd")
    staff = logged_in_staff()
    data = {
        "client": client.pk,
        "issue_date": "2026-11-03",
        "due_date": "",
        "currency": "eur",
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "lines-0-position": "1",
        "lines-0-description": "Audit",
        "lines-0-quantity": "3",
        "lines-0-unit": "h",
        "lines-0-unit_price": "100",
        "lines-0-tax_rate": "19",
        "lines-1-position": "2",
        "lines-1-description": "Report",
        "lines-1-quantity": "1",
        "lines-1-unit": "",
        "lines-1-unit_price": "50",
        "lines-1-tax_rate": "19",
    }
    response = staff.post(reverse("admin:invoices_generatedinvoice_add"), data)
    assert response.status_code == 302, response.content[:3000]
    draft = Invoice.objects.get(client=client)
    assert draft.total == Decimal("416.50") and draft.due_date == dt.date(2026, 12, 3)
    preview = staff.get(reverse("admin:invoices_generatedinvoice_preview", args=[draft.pk]))
    assert preview["Content-Type"] == "application/pdf"
    assert "DRAFT" in PdfReader(io.BytesIO(preview.content)).pages[0].extract_text()
    staff.post(
        reverse("admin:invoices_generatedinvoice_changelist"),
        {"action": "issue", "_selected_action": [str(draft.pk)]},
    )
    draft.refresh_from_db()
    assert draft.status == InvoiceStatus.ISSUED and draft.number == "INV-2026-0001"
    # frozen: lines cannot be changed through the admin any more
    staff.post(
        reverse("admin:invoices_generatedinvoice_change", args=[draft.pk]),
        {**data, "lines-0-unit_price": "1"},
    )
    assert InvoiceLine.objects.get(invoice=draft, description="Audit").unit_price == Decimal("100")
    assert (
        staff.get(reverse("admin:invoices_generatedinvoice_preview", args=[draft.pk])).status_code
        == 404
    )


# create_invoice and mark_paid


@pytest.fixture
def contact(db):
    return make_contact(make_client("Acme GmbH"), email="ap@acme.example")


def test_create_invoice_from_csv_issues_and_prints_the_url(contact, tmp_path, capsys):
    path = tmp_path / "lines.csv"
    path.write_text(
        "description,quantity,unit,unit_price,tax_rate\nAnalysis,2,h,100.00,19\nReport,1,,50,7\n"
    )
    call_command(
        "create_invoice", str(path), "--client-email", "ap@acme.example", "--issued", "2026-11-05"
    )
    invoice = Invoice.objects.get()
    assert invoice.status == InvoiceStatus.ISSUED and invoice.total == Decimal("291.50")
    assert f"/invoices/{invoice.public_id}/" in capsys.readouterr().out


def test_create_invoice_from_json_as_draft(contact, tmp_path):
    path = tmp_path / "lines.json"
    path.write_text(
        json.dumps(
            [{"description": "Advice", "quantity": "1.5", "unit_price": "200", "tax_rate": "0"}]
        )
    )
    call_command(
        "create_invoice",
        str(path),
        "--client-email",
        "ap@acme.example",
        "--draft",
        "--currency",
        "usd",
    )
    invoice = Invoice.objects.get()
    assert (
        invoice.status == InvoiceStatus.DRAFT
        and invoice.currency == "USD"
        and invoice.number is None
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "description,quantity,unit,unit_price,tax_rate\nOK,1,,10,19\n,1,,10,19\n",
            "Row 2: the description is empty",
        ),
        (
            "description,quantity,unit,unit_price,tax_rate\nOK,1,,10,19\nBad,two,,10,19\n",
            "Row 2: quantity 'two'",
        ),
        (
            "description,quantity,unit,unit_price,tax_rate\nOK,1,,10,19\nOK,1,,10,119\n",
            "Line 2: the tax rate",
        ),
        (
            "description,quantity,unit,unit_price,tax_rate\nNeg,-1,,10,19\n",
            "Line 1: quantity and unit price",
        ),
        ("description,unit\nx,h\n", "lacks the column"),
    ],
)
def test_create_invoice_refuses_bad_rows_and_stores_nothing(
    contact, tmp_path, content, message, private_dir
):
    path = tmp_path / "lines.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("create_invoice", str(path), "--client-email", "ap@acme.example")
    assert Invoice.objects.count() == 0 and InvoiceLine.objects.count() == 0
    assert not private_dir.exists() or list(private_dir.iterdir()) == []


def test_mark_paid_command(contact, capsys):
    invoice = make_invoice(contact.client, number="INV-P-1", issue_date=dt.date(2026, 11, 1))
    call_command("mark_paid", "INV-P-1", "--date", "2026-11-10")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.paid_on == dt.date(2026, 11, 10)
    with pytest.raises(CommandError, match="not issued"):
        call_command("mark_paid", "INV-P-1")
    with pytest.raises(CommandError, match="No invoice"):
        call_command("mark_paid", "NOPE")
    with pytest.raises(CommandError, match="not a date"):
        call_command("mark_paid", "INV-P-1", "--date", "yesterday")


@pytest.mark.django_db
def test_a_credit_note_is_never_overdue_and_uploads_can_be_credited():
    client = make_client()
    upload = make_invoice(
        client, number="UP-9", issue_date=dt.date(2026, 1, 1), due_date=dt.date(2026, 1, 31)
    )
    note = invoice_issue(invoice=credit_note_create(original=upload))
    assert note.lines.get().unit_price == upload.total
    assert not note.is_overdue and note.display_status == "Issued"
    staff = logged_in_staff()
    staff.post(
        reverse("admin:invoices_invoice_changelist"),
        {"action": "credit_note", "_selected_action": [str(upload.pk)]},
    )
    assert Invoice.objects.filter(credited_invoice=upload).count() == 2


@pytest.mark.django_db
def test_a_line_item_draft_can_be_deleted_from_the_invoice_list():
    draft = _draft(make_client())
    response = logged_in_staff().post(
        reverse("admin:invoices_invoice_delete", args=[draft.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Invoice.objects.filter(pk=draft.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            LineInput("Huge", Decimal("1e20"), Decimal("1"), Decimal("0")),
            "the quantity needs fewer digits",
        ),
        (
            LineInput("Fine", Decimal("1"), Decimal("0.00001"), Decimal("0")),
            "the unit price needs fewer digits",
        ),
        (
            LineInput("Rate", Decimal("1"), Decimal("1"), Decimal("7.125")),
            "the tax rate needs fewer digits",
        ),
    ],
)
def test_lines_with_more_precision_than_stored_are_refused(line, message):
    with pytest.raises(InvoiceError, match=message):
        _draft(make_client(), lines=[line])
    assert Invoice.objects.count() == 0
