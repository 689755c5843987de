"""Writes for clients, contacts and invitations."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import EventKind
from audit.services import audit_record
from clients.models import Client, Invitation, User
from core import tokens

__all__ = [
    "INVITATION_NAMESPACE",
    "ClientError",
    "client_create_with_contact",
    "contact_create",
    "invitation_accept",
    "invitation_create",
    "invitation_find",
    "invitation_revoke",
]

INVITATION_NAMESPACE = "invoiceportal.clients.invitation"


class ClientError(ValueError):
    """A refused write; the message is safe to show."""


def contact_create(
    *, client: Client, email: str, first_name: str = "", last_name: str = ""
) -> User:
    """A contact of ``client`` without a usable password (set through an invitation)."""
    try:
        validate_email(email)
    except ValidationError:
        raise ClientError(f"{email!r} is not a valid email address.") from None
    normalized = User.objects.normalize_email_address(email)
    if User.objects.filter(email=normalized).exists():
        raise ClientError(f"An account for {normalized} already exists.")
    return User.objects.create_user(
        email=normalized, client=client, first_name=first_name, last_name=last_name
    )


def client_create_with_contact(*, name: str, email: str) -> tuple[Client, User]:
    """Create a client and its first contact together, or neither."""
    name = name.strip()
    if not name:
        raise ClientError("A client needs a name.")
    if Client.objects.filter(name=name).exists():
        raise ClientError(f"A client named {name!r} already exists.")
    with transaction.atomic():
        client = Client.objects.create(name=name, billing_email=email.strip().lower())
        contact = contact_create(client=client, email=email)
    return client, contact


def invitation_create(
    *,
    user: User,
    created_by: User | None = None,
    ttl: dt.timedelta | None = None,
    request: HttpRequest | None = None,
) -> tuple[Invitation, str]:
    """A fresh single-use invitation for ``user``; earlier open ones are revoked.

    Returns the row and the token, which is shown once and never stored.
    """
    if not user.is_contact or not user.is_active:
        raise ClientError("Only active client contacts can be invited.")
    ttl = ttl or dt.timedelta(days=settings.INVITATION_TTL_DAYS)
    if ttl <= dt.timedelta(0):
        raise ClientError("An invitation must be valid for some time.")
    minted = tokens.mint(INVITATION_NAMESPACE)
    now = timezone.now()
    with transaction.atomic():
        user.invitations.filter(used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=now
        )
        invitation = Invitation.objects.create(
            user=user,
            token_digest=minted.digest,
            created_at=now,
            expires_at=now + ttl,
            created_by=created_by,
        )
        audit_record(
            kind=EventKind.INVITATION_CREATED,
            request=request,
            actor=created_by,
            actor_email=created_by.email if created_by else "command line",
            client=user.client,
            detail=f"for {user.email}, valid until {invitation.expires_at.isoformat()}",
        )
    return invitation, minted.token


def invitation_revoke(
    *, invitation: Invitation, by: User | None = None, request: HttpRequest | None = None
) -> bool:
    """Revoke an open invitation; returns False if it was used or revoked already."""
    revoked = Invitation.objects.filter(
        pk=invitation.pk, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if revoked:
        audit_record(
            kind=EventKind.INVITATION_REVOKED,
            request=request,
            actor=by,
            client=invitation.user.client,
            detail=f"for {invitation.user.email}",
        )
    return bool(revoked)


def invitation_find(*, token: str) -> Invitation | None:
    """The open invitation for ``token``; ``None`` for malformed, unknown, used, revoked,
    expired, and for a contact or client that was deactivated since."""
    if not tokens.is_well_formed(token):
        return None
    invitation = (
        Invitation.objects.select_related("user", "user__client")
        .filter(
            token_digest=tokens.token_digest(INVITATION_NAMESPACE, token),
            used_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
            user__is_active=True,
            user__client__is_active=True,
        )
        .first()
    )
    if invitation is None:
        return None
    if not tokens.digests_match(invitation.token_digest, INVITATION_NAMESPACE, token):
        return None
    return invitation


def invitation_accept(
    *, invitation: Invitation, password: str, request: HttpRequest | None = None
) -> User:
    """Set the contact's password and use up the invitation, exactly once.

    Refuses (``ValidationError``) a password that fails the validators, and
    (``ClientError``) an invitation that was used in the meantime.
    """
    user = invitation.user
    validate_password(password, user)
    with transaction.atomic():
        claimed = Invitation.objects.filter(
            pk=invitation.pk,
            used_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).update(used_at=timezone.now())
        if claimed != 1:
            raise ClientError("This invitation is no longer valid.")
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(kind=EventKind.INVITATION_USED, request=request, actor=user)
    return user
