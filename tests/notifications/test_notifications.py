"""Notifications carry no secrets, need a login to be useful, survive failures and are
idempotent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, EventKind
from business.services import profile_get
from invoices.money import LineInput
from invoices.services import draft_create, invoice_issue
from notifications.models import Notification, NotificationStatus
from notifications.services import enqueue_document_waiting, enqueue_reminders, send_due
from tests.conftest import HttpsClient
from tests.factories import make_client, make_contact, make_invoice

pytestmark = pytest.mark.django_db

IBAN = "DE89 3704 0044 0532 0130 00"


class FailingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise ConnectionRefusedError("smtp server down")


@pytest.fixture
def setup():
    profile = profile_get()
    profile.business_name, profile.iban, profile.account_holder = "Jo Consulting", IBAN, "Jo"
    profile.save()
    client = make_client("Acme GmbH")
    first = make_contact(client, email="ap@acme.example")
    second = make_contact(client, email="boss@acme.example")
    make_contact(client, email="gone@acme.example").__class__.objects.filter(
        email="gone@acme.example"
    ).update(is_active=False)
    return client, [first, second]


def test_issuing_notifies_every_active_contact_without_secrets(
    setup, mailoutbox, django_capture_on_commit_callbacks
):
    client, _contacts = setup
    lines = [LineInput("Secret project Falcon", Decimal(3), Decimal("1234.56"), Decimal("19"))]
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_issue(
            invoice=draft_create(client=client, lines=lines, issue_date=dt.date(2026, 11, 1))
        )
    assert sorted(m.to[0] for m in mailoutbox) == ["ap@acme.example", "boss@acme.example"]
    for message in mailoutbox:
        text = message.subject + "\n" + message.body
        assert not message.attachments
        assert invoice.number not in text
        for secret in [
            "1234.56",
            "1,234.56",
            "4407",
            str(invoice.total),
            "Falcon",
            IBAN,
            "DE89",
            "EUR",
        ]:
            assert secret not in text, secret
        assert "never trust bank details" in text.lower()
        url = next(w for w in message.body.split() if w.startswith("https://"))
        path = url.split("testserver", 1)[-1] if "testserver" in url else "/" + url.split("/", 3)[3]
        response = HttpsClient().get(path)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_failures_stay_queued_and_are_retried_with_back_off(setup, settings, mailoutbox):
    client, _contacts = setup
    invoice = make_invoice(client)
    start = timezone.now().replace(microsecond=0)
    settings.MAILERS = {
        "default": {"BACKEND": "tests.notifications.test_notifications.FailingBackend"}
    }
    with time_machine.travel(start, tick=False):
        assert enqueue_document_waiting(invoice=invoice) == 2
        report = send_due()
    assert (report.sent, report.retrying, report.failed) == (0, 2, 0)
    note = Notification.objects.first()
    assert note.status == NotificationStatus.PENDING and note.attempts == 1
    assert "ConnectionRefusedError" in note.last_error
    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        assert send_due().retrying == 0  # not due yet: waits a minute
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    with time_machine.travel(start + dt.timedelta(minutes=2), tick=False):
        assert send_due().sent == 2
    assert len(mailoutbox) == 2
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}


def test_a_message_is_given_up_after_the_last_retry_and_audited(setup, settings):
    client, _contacts = setup
    enqueue_document_waiting(invoice=make_invoice(client))
    settings.MAILERS = {
        "default": {"BACKEND": "tests.notifications.test_notifications.FailingBackend"}
    }
    moment = timezone.now()
    for _ in range(8):
        moment += dt.timedelta(days=1)
        with time_machine.travel(moment, tick=False):
            send_due()
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.FAILED}
    assert Notification.objects.first().attempts == 6
    assert AuditEvent.objects.filter(kind=EventKind.NOTIFICATION_FAILED).count() == 2


def test_reminders_are_idempotent_and_weekly(setup, mailoutbox):
    client, _contacts = setup
    overdue = make_invoice(client, issue_date=dt.date(2026, 10, 1), due_date=dt.date(2026, 10, 31))
    make_invoice(client, issue_date=dt.date(2026, 11, 1), due_date=dt.date(2026, 12, 31))  # not due
    assert enqueue_reminders(today=dt.date(2026, 11, 1)) == 2
    assert enqueue_reminders(today=dt.date(2026, 11, 1)) == 0
    assert enqueue_reminders(today=dt.date(2026, 11, 3)) == 0  # same week
    assert enqueue_reminders(today=dt.date(2026, 11, 8)) == 2  # a week later
    send_due()
    assert len(mailoutbox) == 4
    for message in mailoutbox:
        assert overdue.number not in message.subject + message.body
        assert "1200" not in message.body and "1,200" not in message.body


def test_paid_and_void_invoices_get_no_reminder(setup):
    from invoices.services import invoice_mark_paid, invoice_void

    client, _contacts = setup
    paid = make_invoice(client, issue_date=dt.date(2026, 10, 1), due_date=dt.date(2026, 10, 31))
    invoice_mark_paid(invoice=paid, paid_on=dt.date(2026, 10, 20))
    invoice_void(
        invoice=make_invoice(
            client, issue_date=dt.date(2026, 10, 1), due_date=dt.date(2026, 10, 31)
        )
    )
    assert enqueue_reminders(today=dt.date(2026, 11, 10)) == 0


def test_commands_have_help_and_report_counts(setup, capsys):
    from django.core.management import call_command

    client, _contacts = setup
    make_invoice(client, issue_date=dt.date(2026, 10, 1), due_date=dt.date(2026, 10, 31))
    call_command("send_reminders", "--today", "2026-11-02")
    out = capsys.readouterr().out
    assert "queued 2 reminder(s)" in out and "sent 2" in out
    call_command("send_notifications")
    assert "sent 0" in capsys.readouterr().out
