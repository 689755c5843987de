"""Notifications that carry no secrets.

An email says that a document is waiting, or that a payment is overdue, and links to the
portal, where the reader still has to log in. It never holds the amount, the invoice number
(not even in the subject), bank details or an attachment: a forwarded or intercepted
message gives nothing away, and a forged one cannot carry fake bank details that look
like ours (the text tells readers never to trust bank details that arrive by email).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.models import EventKind
from audit.services import audit_record
from business.services import profile_get
from invoices.models import Invoice, InvoiceKind, InvoiceStatus
from notifications.models import Notification, NotificationKind, NotificationStatus

__all__ = [
    "SendReport",
    "enqueue_document_waiting",
    "enqueue_reminders",
    "enqueue_security_notice",
    "send_due",
]

logger = logging.getLogger(__name__)
# Waits after the 1st, 2nd, ... failure; after the last one the message is given up.
RETRY_DELAYS = [dt.timedelta(minutes=m) for m in (1, 5, 30, 120, 720)]
REMINDER_EVERY_DAYS = 7


def _contacts(invoice: Invoice):
    return invoice.client.contacts.filter(is_active=True).order_by("pk")


def _enqueue(*, kind: str, invoice: Invoice, template: str, subject: str, key: str) -> int:
    profile = profile_get()
    url = settings.BASE_URL + reverse("invoice-detail", args=[invoice.public_id])
    made = 0
    for contact in _contacts(invoice):
        body = render_to_string(
            template, {"business": profile.business_name, "url": url, "contact": contact}
        )
        try:
            with transaction.atomic():
                Notification.objects.create(
                    kind=kind,
                    recipient=contact,
                    to_email=contact.email,
                    invoice=invoice,
                    subject=subject,
                    body=body,
                    dedupe_key=f"{key}:{contact.pk}",
                )
            made += 1
        except IntegrityError:
            continue  # already queued: idempotent
    return made


def enqueue_document_waiting(*, invoice: Invoice) -> int:
    """Queue "a document is waiting" for each active contact of the invoice's client."""
    return _enqueue(
        kind=NotificationKind.DOCUMENT_WAITING,
        invoice=invoice,
        template="notifications/document_waiting.txt",
        subject=f"A new document from {profile_get().business_name} is waiting for you",
        key=f"waiting:{invoice.pk}",
    )


def enqueue_reminders(*, today: dt.date) -> int:
    """Queue a reminder for each overdue invoice: the day after the due date, then every
    seven days. Running it twice on a day queues nothing new."""
    made = 0
    overdue = Invoice.objects.filter(
        status=InvoiceStatus.ISSUED,
        kind=InvoiceKind.INVOICE,
        due_date__lt=today,
        client__is_active=True,
    ).select_related("client")
    for invoice in overdue:
        stage = (today - invoice.due_date).days // REMINDER_EVERY_DAYS
        made += _enqueue(
            kind=NotificationKind.REMINDER,
            invoice=invoice,
            template="notifications/reminder.txt",
            subject=f"Payment reminder from {profile_get().business_name}",
            key=f"reminder:{invoice.pk}:{stage}",
        )
    return made


def enqueue_security_notice(*, user: Any, what: str, email: str) -> Notification:
    """Queue "this changed on your account" (password, 2FA, email address, a new browser),
    with the time and the advice to tell the consultant if it was not the reader."""
    body = render_to_string(
        "notifications/security_notice.txt",
        {"what": what, "when": timezone.now(), "business": profile_get().business_name},
    )
    return Notification.objects.create(
        kind=NotificationKind.SECURITY,
        recipient=user,
        to_email=email,
        subject="A security change on your invoice portal account",
        body=body,
        dedupe_key=f"security:{user.pk}:{uuid.uuid4().hex}",
    )


@dataclass(frozen=True)
class SendReport:
    sent: int
    retrying: int
    failed: int


def send_due(*, limit: int = 100) -> SendReport:
    """Send queued messages that are due; a failure is retried later with a growing wait,
    and given up (and audited) after the last retry."""
    sent = retrying = failed = 0
    now = timezone.now()
    due = Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
    for note in due.order_by("next_attempt_at", "pk")[:limit]:
        # Claim it, so that two senders (a timer and an issue) never send it twice.
        claimed = Notification.objects.filter(
            pk=note.pk, status=NotificationStatus.PENDING, attempts=note.attempts
        ).update(attempts=note.attempts + 1, next_attempt_at=now + dt.timedelta(minutes=10))
        if not claimed:
            continue
        note.attempts += 1
        try:
            EmailMessage(
                note.subject, note.body, settings.DEFAULT_FROM_EMAIL, [note.to_email]
            ).send()
        except Exception as exc:  # any transport error: keep the message, try again later
            logger.warning("email to %s failed: %s", note.to_email, type(exc).__name__)
            note.last_error = f"{type(exc).__name__}: {exc}"[:300]
            if note.attempts > len(RETRY_DELAYS):
                note.status = NotificationStatus.FAILED
                failed += 1
                audit_record(
                    kind=EventKind.NOTIFICATION_FAILED,
                    actor_email=note.to_email,
                    invoice=note.invoice,
                    detail=note.last_error,
                )
            else:
                note.next_attempt_at = now + RETRY_DELAYS[note.attempts - 1]
                retrying += 1
            note.save(update_fields=["status", "last_error", "next_attempt_at"])
            continue
        note.status = NotificationStatus.SENT
        note.sent_at = timezone.now()
        note.save(update_fields=["status", "sent_at"])
        sent += 1
    return SendReport(sent=sent, retrying=retrying, failed=failed)
