"""Writes for account security: password, email, sessions. Each is audited."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest

from audit.models import EventKind
from audit.services import audit_record
from clients.models import User
from clients.signals import credentials_reset
from core.signals import security_change

__all__ = [
    "email_change",
    "password_changed",
    "password_reset_done",
    "password_reset_requested",
    "sessions_end_all",
]


def sessions_end_all(*, user: User, request: HttpRequest | None = None) -> None:
    """End every session of ``user``: the session hash includes a generation that changes."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    audit_record(kind=EventKind.SESSIONS_ENDED, request=request, actor=user)


def _tell(user: User, what: str, email: str | None = None) -> None:
    security_change.send(sender=User, user=user, what=what, email=email or user.email)


def password_changed(*, user: User, request: HttpRequest) -> None:
    audit_record(kind=EventKind.PASSWORD_CHANGED, request=request, actor=user)
    _tell(user, "The password of your account was changed.")


def password_reset_requested(*, email: str, request: HttpRequest) -> None:
    """Audited with the address typed, whether or not an account has it (the page itself
    answers the same either way)."""
    audit_record(
        kind=EventKind.PASSWORD_RESET_REQUESTED, request=request, actor_email=email.lower()
    )


def password_reset_done(*, user: User, request: HttpRequest) -> None:
    """After a reset: every other session ends and the user's outstanding download links die.
    The second factor stays: the next login still asks for a code."""
    with transaction.atomic():
        # invoices listens and revokes the links this user made (clients never imports it).
        credentials_reset.send(sender=User, user=user)
        sessions_end_all(user=user, request=request)
        audit_record(kind=EventKind.PASSWORD_RESET, request=request, actor=user)
        _tell(user, "The password of your account was reset through the email link.")


def email_change(*, user: User, email: str, request: HttpRequest) -> None:
    old = user.email
    user.email = email
    user.save(update_fields=["email"])
    _tell(user, f"The email address of your account was changed to {email}.", email=old)
    audit_record(
        kind=EventKind.EMAIL_CHANGED, request=request, actor=user, detail=f"from {old} to {email}"
    )
