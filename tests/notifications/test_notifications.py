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
from tests.conftest import HttpsClient, logged_in
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
    client, contacts = setup
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
        ((html, mime),) = message.alternatives
        assert mime == "text/html" and "never trust bank details" in html.lower()
        assert invoice.number not in html and "1,234.56" not in html and IBAN not in html
        url = next(w for w in message.body.split() if w.startswith("https://"))
        assert url in html
        path = "/" + url.split("/", 3)[3]
        token = path.strip("/").split("/")[-1]
        assert path.startswith("/v/")
        # the link is minted when sent: the queue never stored it
        assert not Notification.objects.filter(body__contains=token).exists()
        assert not Notification.objects.filter(body_html__contains=token).exists()
        response = HttpsClient().get(path)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
        owner = logged_in(contacts[0])
        assert owner.get(path)["Location"] == reverse("invoice-detail", args=[invoice.public_id])
        stranger = logged_in(make_contact(make_client()))
        assert stranger.get(path).status_code == 404


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
    call_command("send_pending_notifications")
    assert "sent 0" in capsys.readouterr().out
    call_command("send_reminders", "--today", "2026-11-20", "--dry-run")
    out = capsys.readouterr().out
    assert "20 days overdue, reminder 3: ap@acme.example, boss@acme.example" in out
    assert "nothing was queued or sent" in out
    assert Notification.objects.count() == 2  # the dry run queued nothing


def test_notice_links_last_the_configured_time_and_can_be_revoked(setup, mailoutbox, settings):
    from invoices.models import DownloadLink
    from invoices.services import link_revoke

    settings.NOTICE_LINK_TTL_DAYS = 14
    client, contacts = setup
    invoice = make_invoice(client)
    enqueue_document_waiting(invoice=invoice)
    send_due()
    links = DownloadLink.objects.filter(invoice=invoice)
    assert links.count() == 2
    for link in links:
        assert (link.expires_at - link.created_at) == dt.timedelta(days=14)
    path = (
        "/"
        + next(w for w in mailoutbox[0].body.split() if w.startswith("https://")).split("/", 3)[3]
    )
    owner = logged_in(contacts[0])
    assert owner.get(path).status_code == 302
    for link in links:
        link_revoke(link=link)
    assert owner.get(path).status_code == 404


def test_a_failed_send_withdraws_the_link_it_carried(setup, settings):
    from invoices.models import DownloadLink

    client, _contacts = setup
    invoice = make_invoice(client)
    settings.MAILERS = {
        "default": {"BACKEND": "tests.notifications.test_notifications.FailingBackend"}
    }
    enqueue_document_waiting(invoice=invoice)
    send_due()
    assert DownloadLink.objects.filter(invoice=invoice, revoked_at__isnull=True).count() == 0


def test_a_send_failure_never_rolls_back_the_issue(
    setup, settings, django_capture_on_commit_callbacks
):
    from invoices.models import InvoiceStatus

    client, _contacts = setup
    settings.MAILERS = {
        "default": {"BACKEND": "tests.notifications.test_notifications.FailingBackend"}
    }
    lines = [LineInput("Work", Decimal(1), Decimal("10"), Decimal("0"))]
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_issue(
            invoice=draft_create(client=client, lines=lines, issue_date=dt.date(2026, 11, 1))
        )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.ISSUED
    assert set(Notification.objects.values_list("status", flat=True)) == {
        NotificationStatus.PENDING
    }


def test_invitations_by_email_from_the_command_and_the_admin(db, mailoutbox, capsys):
    from django.core.management import call_command

    from clients.models import User
    from tests.conftest import logged_in_staff

    call_command("invite_client", "--name", "Mailed GmbH", "--email", "ap@mailed.example", "--send")
    assert "queued and sent" in capsys.readouterr().out
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ap@mailed.example"]
    url = next(w for w in mailoutbox[0].body.split() if w.startswith("https://"))
    path = "/" + url.split("/", 3)[3]
    assert path.startswith("/invite/")
    assert HttpsClient().get(path).status_code == 200
    contact = User.objects.get(email="ap@mailed.example")
    logged_in_staff().post(
        reverse("admin:clients_contact_changelist"),
        {"action": "email_invitation", "_selected_action": [str(contact.pk)]},
    )
    assert len(mailoutbox) == 2
    assert HttpsClient().get(path).status_code == 404  # the newer invitation replaced it


def test_the_notice_link_opens_the_page_but_downloads_nothing(setup, mailoutbox):
    client, contacts = setup
    invoice = make_invoice(client)
    enqueue_document_waiting(invoice=invoice)
    send_due()
    token = next(w for w in mailoutbox[0].body.split() if "/v/" in w).rstrip("/").rsplit("/", 1)[-1]
    owner = logged_in(contacts[0])
    assert owner.get(reverse("invoice-link", args=[token])).status_code == 302
    assert owner.get(reverse("download", args=[token])).status_code == 404


def test_a_queued_reminder_is_dropped_once_the_invoice_is_paid(setup, mailoutbox):
    from invoices.services import invoice_mark_paid

    client, _contacts = setup
    invoice = make_invoice(client, issue_date=dt.date(2026, 10, 1), due_date=dt.date(2026, 10, 31))
    enqueue_reminders(today=dt.date(2026, 11, 2))
    invoice_mark_paid(invoice=invoice, paid_on=dt.date(2026, 11, 2))
    report = send_due()
    assert mailoutbox == [] and report.failed == 2
    assert (
        AuditEvent.objects.filter(kind=EventKind.NOTIFICATION_FAILED, invoice=invoice).count() == 2
    )
