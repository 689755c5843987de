"""Notifications that carry no secrets.

An email says that a document is waiting, that a payment is overdue, that an account was
changed, or invites a contact; it links to the portal, where the reader still has to log
in. It never holds an amount, the invoice number (not even in the subject), bank details or
an attachment: a forwarded or intercepted message gives nothing away, and a forged one
cannot look like ours with fake bank details (the text tells readers never to trust bank
details that arrive by email).

Messages are stored before they are sent, so a failing mail server never rolls back what
caused them (an issue, an invitation) and a timer retries them. The link a message carries
is minted at the moment of sending and never stored: the queue holds a placeholder.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.models import EventKind
from audit.services import audit_record
from business.services import profile_get
from clients.services import ClientError, invitation_create
from invoices.models import Invoice, InvoiceKind, InvoiceStatus
from invoices.services import InvoiceError, link_create, link_revoke
from notifications.models import LinkKind, Notification, NotificationKind, NotificationStatus

__all__ = [
    "LINK",
    "SendReport",
    "enqueue_document_waiting",
    "enqueue_invitation",
    "enqueue_reminders",
    "enqueue_security_notice",
    "overdue_reminders",
    "send_all_due",
    "send_due",
]

logger = logging.getLogger(__name__)
LINK = "[[portal-link]]"  # replaced by a freshly minted link when the message is sent
# Waits after the 1st, 2nd, ... failure; after the last one the message is given up.
RETRY_DELAYS = [dt.timedelta(minutes=m) for m in (1, 5, 30, 120, 720)]


def _render(template: str, context: dict[str, Any]) -> tuple[str, str]:
    context = {"business": profile_get().business_name, "link": LINK, **context}
    return (
        render_to_string(f"notifications/{template}.txt", context),
        render_to_string(f"notifications/{template}.html", context),
    )


def _create(**fields: Any) -> bool:
    """Store one message; False if its dedupe key was queued before (idempotent)."""
    try:
        with transaction.atomic():
            Notification.objects.create(**fields)
    except IntegrityError:
        return False
    return True


def _enqueue_for_contacts(
    *, kind: str, invoice: Invoice, template: str, subject: str, key: str
) -> int:
    made = 0
    for contact in invoice.client.contacts.filter(is_active=True).order_by("pk"):
        text, html = _render(template, {"contact": contact})
        made += _create(
            kind=kind,
            recipient=contact,
            to_email=contact.email,
            invoice=invoice,
            subject=subject,
            body=text,
            body_html=html,
            link_kind=LinkKind.INVOICE,
            dedupe_key=f"{key}:{contact.pk}",
        )
    return made


def enqueue_document_waiting(*, invoice: Invoice) -> int:
    """Queue "a new document is waiting" for each active contact of the invoice's client."""
    business = profile_get().business_name
    return _enqueue_for_contacts(
        kind=NotificationKind.DOCUMENT_WAITING,
        invoice=invoice,
        template="document_waiting",
        subject=f"A new document from {business} is waiting in your portal",
        key=f"waiting:{invoice.pk}",
    )


def overdue_reminders(*, today: dt.date) -> list[tuple[Invoice, int]]:
    """(invoice, stage) for every overdue invoice: stage 0 from the day after the due date,
    then one more every REMINDER_INTERVAL_DAYS."""
    every = settings.REMINDER_INTERVAL_DAYS
    overdue = Invoice.objects.filter(
        status=InvoiceStatus.ISSUED,
        kind=InvoiceKind.INVOICE,
        due_date__lt=today,
        client__is_active=True,
    ).select_related("client")
    return [(invoice, ((today - invoice.due_date).days - 1) // every) for invoice in overdue]


def enqueue_reminders(*, today: dt.date) -> int:
    """Queue one reminder per overdue invoice, contact and interval; reruns queue nothing."""
    business = profile_get().business_name
    return sum(
        _enqueue_for_contacts(
            kind=NotificationKind.REMINDER,
            invoice=invoice,
            template="reminder",
            subject=f"Payment reminder from {business}",
            key=f"reminder:{invoice.pk}:{stage}",
        )
        for invoice, stage in overdue_reminders(today=today)
    )


def enqueue_invitation(*, contact: Any) -> Notification:
    """Queue an invitation email; the invitation itself is made when it is sent."""
    text, html = _render("invitation", {"contact": contact, "client": contact.client})
    return Notification.objects.create(
        kind=NotificationKind.INVITATION,
        recipient=contact,
        to_email=contact.email,
        subject=f"Your invoice portal account with {profile_get().business_name}",
        body=text,
        body_html=html,
        link_kind=LinkKind.INVITATION,
        dedupe_key=f"invitation:{contact.pk}:{uuid.uuid4().hex}",
    )


def enqueue_security_notice(*, user: Any, what: str, email: str) -> Notification:
    """Queue "this changed on your account" (password, 2FA, email address, a new browser)."""
    text, html = _render("security_notice", {"what": what, "when": timezone.now()})
    return Notification.objects.create(
        kind=NotificationKind.SECURITY,
        recipient=user,
        to_email=email,
        subject="A security change on your invoice portal account",
        body=text,
        body_html=html,
        dedupe_key=f"security:{user.pk}:{uuid.uuid4().hex}",
    )


def _mint_link(note: Notification) -> tuple[str, Any]:
    """A fresh link for this attempt and a way to withdraw it if the attempt fails."""
    if note.link_kind == LinkKind.INVOICE:
        if note.kind == NotificationKind.REMINDER and note.invoice.status != InvoiceStatus.ISSUED:
            raise InvoiceError("the invoice is no longer unpaid")
        # max_downloads=0: the link opens the invoice's page (/v/) but downloads nothing
        # through /d/; the page's own Download button makes a fresh single-use link.
        link, token = link_create(
            invoice=note.invoice,
            ttl=dt.timedelta(days=settings.NOTICE_LINK_TTL_DAYS),
            max_downloads=0,
            note=f"email to {note.to_email}"[:200],
        )
        return settings.BASE_URL + reverse("invoice-link", args=[token]), lambda: link_revoke(
            link=link
        )
    if note.link_kind == LinkKind.INVITATION:
        _invitation, token = invitation_create(user=note.recipient)
        return settings.BASE_URL + reverse("invitation", args=[token]), lambda: None
    return "", lambda: None


@dataclass(frozen=True)
class SendReport:
    sent: int
    retrying: int
    failed: int


def _deliver(note: Notification) -> None:
    url, withdraw = _mint_link(note)
    message = EmailMultiAlternatives(
        note.subject, note.body.replace(LINK, url), settings.DEFAULT_FROM_EMAIL, [note.to_email]
    )
    if note.body_html:
        message.attach_alternative(note.body_html.replace(LINK, url), "text/html")
    try:
        message.send()
    except Exception:
        withdraw()  # a link nobody received must not stay valid
        raise


def send_due(*, limit: int = 100) -> SendReport:
    """Send queued messages that are due; a failure is retried later with a growing wait and
    given up (and audited) after the last retry. Invoices that were voided in the meantime
    are not announced any more."""
    sent = retrying = failed = 0
    now = timezone.now()
    due = Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
    for note in due.select_related("invoice", "recipient").order_by("next_attempt_at", "pk")[
        :limit
    ]:
        # Claim it, so that two senders (a timer and an issue) never send it twice.
        claimed = Notification.objects.filter(
            pk=note.pk, status=NotificationStatus.PENDING, attempts=note.attempts
        ).update(attempts=note.attempts + 1, next_attempt_at=now + dt.timedelta(minutes=10))
        if not claimed:
            continue
        note.attempts += 1
        try:
            _deliver(note)
        except (InvoiceError, ClientError) as exc:
            note.status, note.last_error = NotificationStatus.FAILED, f"not sent: {exc}"[:300]
            note.save(update_fields=["status", "last_error"])
            audit_record(
                kind=EventKind.NOTIFICATION_FAILED,
                actor_email=note.to_email,
                invoice=note.invoice,
                detail=note.last_error,
            )
            failed += 1
            continue
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


def send_all_due(
    *, round_size: int = 500, on_round: Callable[[SendReport], None] | None = None
) -> SendReport:
    """Send everything that is due, ``round_size`` messages at a time, until a round finds
    nothing left (what fails waits for its retry, so the loop ends); ``on_round`` gets the
    running totals after each round. Used after a batch that queued without sending."""
    sent = retrying = failed = 0
    while True:
        report = send_due(limit=round_size)
        if report.sent + report.retrying + report.failed == 0:
            return SendReport(sent=sent, retrying=retrying, failed=failed)
        sent, retrying, failed = (
            sent + report.sent,
            retrying + report.retrying,
            failed + report.failed,
        )
        if on_round is not None:
            on_round(SendReport(sent=sent, retrying=retrying, failed=failed))
