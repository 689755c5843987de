from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.dispatch import receiver

from clients.signals import (
    email_change_email_requested,
    invitation_email_requested,
    password_reset_email_requested,
)
from core.signals import mail_queue_flush, security_change
from invoices.signals import invoice_issued
from notifications.account_mail import enqueue_email_change, enqueue_password_reset
from notifications.flusher import flush_in_background
from notifications.services import (
    enqueue_document_waiting,
    enqueue_invitation,
    enqueue_security_notice,
    send_due,
)

logger = logging.getLogger(__name__)


@receiver(invoice_issued)
def _issued(sender: Any, invoice: Any, send_now: bool = True, **kwargs: Any) -> None:
    enqueue_document_waiting(invoice=invoice)
    if not send_now:
        return  # a batch sends its queue once everything is issued
    # Try at once; whatever fails stays queued for `manage.py send_pending_notifications`.
    report = send_due(limit=50)
    if report.retrying or report.failed:
        logger.warning("notifications: %s sent, %s to retry", report.sent, report.retrying)


@receiver(invitation_email_requested)
def _invitation(sender: Any, user: Any, **kwargs: Any) -> None:
    enqueue_invitation(contact=user)
    send_due(limit=50)


@receiver(security_change)
def _security_change(sender: Any, user: Any, what: str, email: str, **kwargs: Any) -> None:
    enqueue_security_notice(user=user, what=what, email=email)
    send_due(limit=50)


@receiver(password_reset_email_requested)
def _password_reset(sender: Any, email: str, refused: str, user: Any = None, **kwargs: Any) -> None:
    # Queued only: the view sends the queue after its answer (mail_queue_flush), so the
    # answer takes as long for an unknown address as for a known one.
    enqueue_password_reset(email=email, refused=refused)
    if user is not None:
        # A reset the consultant sent (contact_password_reset_send): no timing to hide.
        send_due(limit=50)


@receiver(email_change_email_requested)
def _email_change(sender: Any, user: Any, email: str, **kwargs: Any) -> None:
    enqueue_email_change(user=user, email=email)
    send_due(limit=50)


@receiver(mail_queue_flush)
def _flush(sender: Any, **kwargs: Any) -> None:
    # Off the request thread (notifications.flusher): the caller's close() must take as
    # long whatever it queued. Tests send inline (MAIL_FLUSH_IN_BACKGROUND off).
    if settings.MAIL_FLUSH_IN_BACKGROUND:
        flush_in_background()
    else:
        send_due(limit=50)
