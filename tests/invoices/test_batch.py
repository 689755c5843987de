"""invoices.services.batch: a month-end batch is checked as a whole before anything is
stored, then issued one invoice per transaction; its emails are queued, not sent, until the
caller sends the queue."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest

from invoices import storage
from invoices.lineitems import BatchItem
from invoices.models import Invoice, InvoiceLine, InvoiceStatus
from invoices.money import LineInput
from invoices.services import draft_create, invoice_issue
from invoices.services.batch import BatchInvalid, ReadyInvoice, batch_check, batch_issue
from notifications.models import Notification, NotificationStatus
from notifications.services import send_all_due
from tests.factories import make_client, make_contact

pytestmark = pytest.mark.django_db

NOV_30 = dt.date(2026, 11, 30)
LINES = [LineInput("Consulting", Decimal(2), Decimal("100.00"), Decimal(19), "h")]


@pytest.fixture
def acme():
    client = make_client("Acme GmbH")
    make_contact(client, email="ap@acme.example")
    make_contact(client, email="boss@acme.example")
    return client


def _item(n: int, **over) -> BatchItem:
    fields = {
        "label": f"Invoice {n}",
        "email": "ap@acme.example",
        "issued": "",
        "due": "",
        "currency": "",
        "lines": LINES,
        "lines_ok": True,
    }
    return BatchItem(**{**fields, **over})


def _ready(client, n: int) -> ReadyInvoice:
    return ReadyInvoice(
        f"Invoice {n}", client, NOV_30, NOV_30 + dt.timedelta(days=30), "EUR", LINES
    )


def test_check_fills_in_the_defaults_and_writes_nothing(acme):
    (ready,) = batch_check(items=[_item(1, email="AP@Acme.example")], default_issued=NOV_30)
    assert (ready.client, ready.issue_date, ready.due_date, ready.currency) == (
        acme,
        NOV_30,
        dt.date(2026, 12, 30),  # the profile's 30 days of payment terms
        "EUR",
    )
    assert Invoice.objects.count() == 0


def test_check_lists_every_error_with_the_reading_errors_first_and_writes_nothing(acme):
    items = [
        _item(1),
        _item(2, email="nobody@acme.example"),
        _item(3, email=""),
        _item(4, issued="30.11.2026", due="2026-11-01"),
        _item(5, lines_ok=False),
        _item(6, currency="EURO"),
        _item(7, issued="2026-12-01", due="2026-11-30"),
    ]
    with pytest.raises(BatchInvalid) as caught:
        batch_check(items=items, default_issued=NOV_30, read_errors=["Row 9: read error."])
    assert caught.value.errors == [
        "Row 9: read error.",
        "Invoice 2: no client contact with the email nobody@acme.example.",
        "Invoice 3: client_email is missing.",
        "Invoice 4: '30.11.2026' is not a date; use YYYY-MM-DD.",
        "Invoice 4: The due date cannot be before the issue date.",  # checked with the default
        "Invoice 6: 'EURO' is not a three-letter currency code.",
        "Invoice 7: The due date cannot be before the issue date.",
    ]
    assert Invoice.objects.count() == 0


def test_issue_issues_in_order_reports_each_and_only_queues_the_emails(
    acme, mailoutbox, django_capture_on_commit_callbacks
):
    seen = []
    with django_capture_on_commit_callbacks(execute=True):
        outcome = batch_issue(ready=[_ready(acme, 1), _ready(acme, 2)], on_issued=seen.append)
    assert [i.number for i in outcome.issued] == ["INV-2026-0001", "INV-2026-0002"]
    assert seen == outcome.issued and outcome.failed_at is None and outcome.error is None
    assert all(i.status == InvoiceStatus.ISSUED for i in outcome.issued)
    assert mailoutbox == []
    assert Notification.objects.filter(status=NotificationStatus.PENDING).count() == 4

    assert send_all_due(round_size=3).sent == 4
    assert len(mailoutbox) == 4


def test_issue_with_send_now_sends_at_once(acme, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        batch_issue(ready=[_ready(acme, 1)], send_now=True)
    assert len(mailoutbox) == 2


def test_invoice_issue_sends_at_once_unless_told_not_to(
    acme, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invoice_issue(invoice=draft_create(client=acme, lines=LINES, issue_date=NOV_30))
    assert len(mailoutbox) == 2
    with django_capture_on_commit_callbacks(execute=True):
        draft = draft_create(client=acme, lines=LINES, issue_date=NOV_30)
        invoice_issue(invoice=draft, send_now=False)
    assert len(mailoutbox) == 2
    assert Notification.objects.filter(status=NotificationStatus.PENDING).count() == 2


def test_a_failure_stops_the_batch_keeps_those_before_and_leaves_nothing_of_it(acme):
    real_store = storage.store_pdf
    calls = []

    def store_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_store(*args, **kwargs)

    seen = []
    with mock.patch.object(storage, "store_pdf", side_effect=store_then_fail):
        outcome = batch_issue(ready=[_ready(acme, n) for n in (1, 2, 3)], on_issued=seen.append)
    assert (outcome.failed_at, len(seen), len(calls)) == (1, 1, 2)  # the third never tried
    assert "No space left on device" in str(outcome.error)
    assert [i.number for i in outcome.issued] == ["INV-2026-0001"]
    assert list(Invoice.objects.values_list("number", flat=True)) == ["INV-2026-0001"]
    assert InvoiceLine.objects.count() == 1  # the failed one's draft and lines rolled back
