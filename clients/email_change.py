"""Changing the login address in two steps: a request, then a confirmation link sent to the
new address and used by the logged-in account holder. The old address is told both times.

The threat: a stolen session (or a shoulder) must not move an account to an attacker's
mailbox, and an address must never change hands without its new holder proving the mailbox.
Only the token's digest is stored (core.tokens); the token is minted when the queue sends it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent, EventKind
from audit.services import audit_record
from clients.models import EmailChange, User
from clients.services import ClientError
from clients.signals import email_change_email_requested
from core import tokens
from core.signals import security_change

__all__ = [
    "EMAIL_CHANGE_NAMESPACE",
    "EMAIL_CHANGE_WINDOW",
    "email_change_confirm",
    "email_change_create",
    "email_change_find",
    "email_change_request",
    "email_change_revoke",
    "email_changes_revoke_open",
]

EMAIL_CHANGE_NAMESPACE = "invoiceportal.clients.email-change"
EMAIL_CHANGE_WINDOW = dt.timedelta(hours=1)


def _address(email: str) -> str:
    try:
        validate_email(email)
    except ValidationError:
        raise ClientError("This address cannot be used.") from None
    return User.objects.normalize_email_address(email)


def email_changes_revoke_open(*, user: User) -> int:
    """Revoke every open change of ``user`` (another change, an email change in the admin)."""
    return EmailChange.objects.filter(
        user=user, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())


def email_change_request(*, user: User, email: str, request: HttpRequest | None = None) -> None:
    """Ask for ``email`` to become ``user``'s login address: a link goes to that address and
    the current address is told. Nothing changes until the link is used. Refuses
    (``ClientError``) an invalid address and the current one. Refuses quietly (audited, no
    mail, no error: the caller answers alike) beyond EMAIL_CHANGE_LIMIT_PER_ACCOUNT requests
    an hour; an address another account holds is dropped when the link would be sent
    (``email_change_create``), so the answer never tells who has an account."""
    new = _address(email)
    if new == user.email:
        raise ClientError("This is already your address.")
    recent = AuditEvent.objects.filter(
        kind=EventKind.EMAIL_CHANGE_REQUESTED,
        actor=user,
        occurred_at__gte=timezone.now() - EMAIL_CHANGE_WINDOW,
    ).count()
    if recent >= settings.EMAIL_CHANGE_LIMIT_PER_ACCOUNT:
        audit_record(
            kind=EventKind.EMAIL_CHANGE_LIMITED,
            request=request,
            actor=user,
            detail=f"to {new}: {recent} requests within the hour",
        )
        return
    audit_record(
        kind=EventKind.EMAIL_CHANGE_REQUESTED, request=request, actor=user, detail=f"to {new}"
    )
    email_change_email_requested.send(sender=User, user=user, email=new)
    security_change.send(
        sender=User,
        user=user,
        what=f"Someone asked to change the login address of your account to {new}. "
        "Nothing changes unless the link sent to that address is used.",
        email=user.email,
    )


def email_change_create(*, user: User, new_email: str) -> tuple[EmailChange, str]:
    """A fresh single-use, expiring change of ``user`` to ``new_email``; earlier open ones are
    revoked. Returns the row and the token (shown once, in the email, never stored).
    Refuses (``ClientError``) an inactive account and an address another account holds."""
    new = _address(new_email)
    if not user.is_active:
        raise ClientError("The account is not active.")
    if User.objects.filter(email=new).exclude(pk=user.pk).exists():
        audit_record(kind=EventKind.EMAIL_CHANGE_DROPPED, actor=user, detail=f"to {new}")
        raise ClientError("This address cannot be used.")
    minted = tokens.mint(EMAIL_CHANGE_NAMESPACE)
    now = timezone.now()
    with transaction.atomic():
        email_changes_revoke_open(user=user)
        change = EmailChange.objects.create(
            user=user,
            new_email=new,
            token_digest=minted.digest,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=settings.EMAIL_CHANGE_TTL),
        )
    return change, minted.token


def email_change_revoke(*, change: EmailChange) -> bool:
    """Revoke one open change (its email could not be sent); False if it was not open."""
    return bool(
        EmailChange.objects.filter(
            pk=change.pk, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
    )


def email_change_find(*, user: User, token: str) -> EmailChange | None:
    """``user``'s open change for ``token``; ``None`` for malformed, unknown, used, revoked,
    expired, and for a change that belongs to another account (the link works only for the
    account holder, logged in)."""
    if not tokens.is_well_formed(token):
        return None
    change = EmailChange.objects.filter(
        user=user,
        token_digest=tokens.token_digest(EMAIL_CHANGE_NAMESPACE, token),
        used_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).first()
    if change is None or not tokens.digests_match(
        change.token_digest, EMAIL_CHANGE_NAMESPACE, token
    ):
        return None
    return change


def email_change_confirm(
    *, user: User, change: EmailChange, request: HttpRequest | None = None
) -> None:
    """Make the change, exactly once: the account's address becomes ``change.new_email``,
    the old address is told. Refuses (``ClientError``) a change that is no longer open, that
    belongs to another account, or whose address another account took in the meantime."""
    old = user.email
    try:
        with transaction.atomic():
            claimed = EmailChange.objects.filter(
                pk=change.pk,
                user=user,
                used_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
            ).update(used_at=timezone.now())
            if claimed != 1:
                raise ClientError("This link is no longer valid.")
            user.email = change.new_email
            user.save(update_fields=["email"])
            audit_record(
                kind=EventKind.EMAIL_CHANGED,
                request=request,
                actor=user,
                detail=f"from {old} to {change.new_email}",
            )
    except IntegrityError:
        user.email = old
        raise ClientError("This address cannot be used.") from None
    security_change.send(
        sender=User,
        user=user,
        what=f"The login address of your account was changed to {change.new_email}.",
        email=old,
    )
