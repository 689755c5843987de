from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from clients.signals import invitation_email_requested, password_reset_email_requested
from core.signals import security_change
from invoices.signals import invoice_issued
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
def _password_reset(sender: Any, user: Any, email: str, refused: str, **kwargs: Any) -> None:
    """Send the reset email with a link built from INVOICEPORTAL_BASE_URL. (The branch of
    issue 12 item 6 queues it through the notification queue instead; at the merge, its
    receiver replaces this one.)"""
    if refused or user is None:
        return
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.contrib.auth.forms import PasswordResetForm
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from business.services import profile_get

    base = urlsplit(settings.BASE_URL)
    PasswordResetForm().send_mail(
        "clients/email/password_reset_subject.txt",
        "clients/email/password_reset.txt",
        {
            "email": email,
            "domain": base.netloc,
            "protocol": base.scheme,
            "uid": urlsafe_base64_encode(force_bytes(user.pk)),
            "user": user,
            "token": default_token_generator.make_token(user),
            "business": profile_get().business_name,
        },
        settings.DEFAULT_FROM_EMAIL,
        email,
        html_email_template_name="clients/email/password_reset.html",
    )
