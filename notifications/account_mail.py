"""Account emails that carry a link minted at sending time: the password reset and the
confirmation of a new login address. Every link is built from INVOICEPORTAL_BASE_URL, never
from a request's Host header (a forged Host must not end up in a mailbox).

A reset request is queued whatever its outcome: a message for an account that may reset,
or a row that is dropped at once (no such account, a limit reached). Every request does the
same work; the queue sends after the answer is out (clients.account_views).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from clients.email_change import email_change_create, email_change_revoke
from clients.models import User
from clients.services import ClientError
from notifications.models import LinkKind, Notification, NotificationKind, NotificationStatus
from notifications.rendering import render_message

__all__ = ["enqueue_email_change", "enqueue_password_reset", "mint_account_link"]

RESET_SUBJECT = "Reset your invoice portal password"


def enqueue_password_reset(*, email: str, refused: str) -> Notification:
    """Queue a reset email to ``email``; when ``refused`` says why none may go out, store
    the same row already dropped (same work on every path). The row names no account: the
    sender finds it by address, so a request for a real address writes nothing that an
    unknown one does not (no foreign key for PostgreSQL to check and lock)."""
    text, html = render_message("password_reset", {})
    return Notification.objects.create(
        kind=NotificationKind.PASSWORD_RESET,
        recipient=None,
        to_email=email,
        subject=RESET_SUBJECT,
        body=text,
        body_html=html,
        link_kind=LinkKind.PASSWORD_RESET,
        dedupe_key=f"reset:{uuid.uuid4().hex}",
        status=NotificationStatus.DROPPED if refused else NotificationStatus.PENDING,
        last_error=f"not sent: {refused}"[:300] if refused else "",
    )


def enqueue_email_change(*, user: Any, email: str) -> Notification:
    """Queue the confirmation link for ``user``'s requested new address ``email``; the
    change itself (and its token) is made when the message is sent."""
    text, html = render_message("email_change", {"new_email": email})
    return Notification.objects.create(
        kind=NotificationKind.EMAIL_CHANGE,
        recipient=user,
        to_email=email,
        subject="Confirm your new invoice portal login address",
        body=text,
        body_html=html,
        link_kind=LinkKind.EMAIL_CHANGE,
        dedupe_key=f"email-change:{user.pk}:{uuid.uuid4().hex}",
    )


def _reset_link(note: Notification) -> tuple[str, Callable[[], Any]]:
    # The account that has the address now: it may have changed hands since the request,
    # and a reset link must only ever reach an account's current address.
    user = User.objects.select_related("client").filter(email=note.to_email).first()
    if (
        user is None
        or not user.is_active
        or not user.has_usable_password()
        or (user.client_id is not None and not user.client.is_active)
    ):
        raise ClientError("the account can no longer reset its password at this address")
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    # Django's reset tokens are derived (they die with a new password, a login or a new
    # address, or after PASSWORD_RESET_TIMEOUT); there is nothing stored to withdraw.
    return settings.BASE_URL + path, lambda: None


def mint_account_link(note: Notification) -> tuple[str, Callable[[], Any]]:
    """The link for a reset or email-change message and a way to withdraw it if sending
    fails. Refuses (``ClientError``) an account that may no longer receive it."""
    if note.link_kind == LinkKind.PASSWORD_RESET:
        return _reset_link(note)
    change, token = email_change_create(user=note.recipient, new_email=note.to_email)
    url = settings.BASE_URL + reverse("email-change-confirm", args=[token])
    return url, lambda: email_change_revoke(change=change)
