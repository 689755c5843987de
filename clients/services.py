"""Writes for clients, contacts and invitations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import EventKind
from audit.services import audit_record
from clients.models import Client, Invitation, User
from clients.signals import credentials_reset, password_reset_email_requested
from core import tokens
from core.signals import security_change

__all__ = [
    "INVITATION_NAMESPACE",
    "ClientError",
    "client_create_with_contact",
    "client_save",
    "contact_create",
    "contact_may_be_invited",
    "contact_password_reset_send",
    "contact_update",
    "invitation_accept",
    "invitation_create",
    "invitation_find",
    "invitation_revoke",
]

INVITATION_NAMESPACE = "invoiceportal.clients.invitation"
ACCESS_POLICY_PERMISSION = "clients.change_access_policy"
CLIENT_ACCESS_FIELDS = ("requires_2fa", "is_active")


class ClientError(ValueError):
    """A refused write; the message is safe to show."""


def client_save(
    *, actor: Any, client: Client, changed: list[str], request: HttpRequest | None = None
) -> Client:
    """Create or change ``client`` (the admin's form), audited with the fields changed.
    Deactivating it revokes its contacts' open invitations (clients.receivers). Refuses
    (``PermissionDenied``) a change of ``requires_2fa`` or ``is_active`` (of a new client:
    anything but the defaults) by a staff ``actor`` without ``clients.change_access_policy``."""
    created = client.pk is None
    with transaction.atomic():
        before = (
            Client.objects.select_for_update().filter(pk=client.pk).first() if client.pk else None
        )
        reference = before or Client()
        policy = [f for f in CLIENT_ACCESS_FIELDS if getattr(reference, f) != getattr(client, f)]
        if policy and actor is not None and not actor.has_perm(ACCESS_POLICY_PERMISSION):
            raise PermissionDenied("Changing a client's 2FA requirement or access is the owner's.")
        client.save()
        audit_record(
            kind=EventKind.CLIENT_CREATED if created else EventKind.CLIENT_CHANGED,
            request=request,
            actor=actor,
            client=client,
            detail=f"{client.name}: " + (", ".join(changed) or "no change"),
        )
    return client


def contact_create(
    *,
    client: Client,
    email: str,
    first_name: str = "",
    last_name: str = "",
    actor: Any = None,
    request: HttpRequest | None = None,
) -> User:
    """A contact of ``client`` without a usable password (set through an invitation).
    Refuses (``ClientError``) an invalid address and one that an account already has."""
    try:
        validate_email(email)
    except ValidationError:
        raise ClientError(f"{email!r} is not a valid email address.") from None
    normalized = User.objects.normalize_email_address(email)
    if User.objects.filter(email=normalized).exists():
        raise ClientError(f"An account for {normalized} already exists.")
    with transaction.atomic():
        contact = User.objects.create_user(
            email=normalized, client=client, first_name=first_name, last_name=last_name
        )
        audit_record(
            kind=EventKind.CONTACT_CREATED,
            request=request,
            actor=actor,
            actor_email="" if actor else "command line",
            client=client,
            detail=f"{normalized}",
        )
    return contact


CONTACT_FIELDS = frozenset({"email", "first_name", "last_name", "is_active"})


def contact_update(
    *,
    actor: Any,
    contact: User,
    changes: Mapping[str, object],
    request: HttpRequest | None = None,
) -> User:
    """Change a contact's name, address or active flag, audited. Deactivating revokes its
    open invitations (clients.receivers). Refuses (``ClientError``) any other field (a
    contact never moves to another client) and a new address for a contact who has set a
    password: their address is how a reset reaches them, so it is theirs to change; and
    (``PermissionDenied``) a change of the active flag by a staff ``actor`` without
    ``clients.change_access_policy``. A new address revokes the contact's open invitations,
    audited: one emailed to the old (mistyped, former holder's) address must not work."""
    refused = set(changes) - CONTACT_FIELDS
    if refused:
        raise ClientError(f"These fields cannot change here: {', '.join(sorted(refused))}.")
    if "email" in changes and _password_ever_set(contact):
        raise ClientError("The contact set a password: only they can change their address.")
    if (
        "is_active" in changes
        and actor is not None
        and not actor.has_perm(ACCESS_POLICY_PERMISSION)
        and User.objects.filter(pk=contact.pk, is_active=changes["is_active"]).count() == 0
    ):
        raise PermissionDenied("Activating or deactivating a contact is the owner's.")
    with transaction.atomic():
        old_email = User.objects.filter(pk=contact.pk).values_list("email", flat=True).first()
        if "email" in changes and old_email != User.objects.normalize_email_address(
            str(changes["email"])
        ):
            for invitation in Invitation.objects.filter(
                user_id=contact.pk, used_at__isnull=True, revoked_at__isnull=True
            ):
                invitation_revoke(invitation=invitation, by=actor, request=request)
        for field, value in changes.items():
            setattr(contact, field, value)
        if changes:
            contact.save(update_fields=list(changes))
            audit_record(
                kind=EventKind.CONTACT_CHANGED,
                request=request,
                actor=actor,
                client=contact.client,
                detail=f"{contact.email}: " + ", ".join(sorted(changes)),
            )
    return contact


def _password_ever_set(user: User) -> bool:
    """A usable password now, a login once, or a used invitation: the account has an
    owner who chose a password, even if it was made unusable since."""
    return (
        user.has_usable_password()
        or user.last_login is not None
        or user.invitations.filter(used_at__isnull=False).exists()
    )


def contact_may_be_invited(user: User) -> bool:
    """An invitation sets a password: only for an active contact who never had one.
    Anyone else gets a password reset at their own address (``contact_password_reset_send``)."""
    return bool(user.is_contact and user.is_active and not _password_ever_set(user))


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
    if not contact_may_be_invited(user):
        # An invitation would replace the holder's password, silently: refused.
        raise ClientError("This contact has set a password; send a password reset instead.")
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
    if invitation.user.has_usable_password():
        return None  # the contact set a password meanwhile: the invitation is spent
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
        # Locked and read again: a contact who set a password meanwhile (a reset, an
        # earlier invitation) keeps it; the invitation must not replace it.
        current = User.objects.select_for_update().get(pk=user.pk)
        if current.has_usable_password():
            raise ClientError("This invitation is no longer valid.")
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


def contact_password_reset_send(
    *, actor: Any, contact: User, request: HttpRequest | None = None
) -> None:
    """The consultant's answer to "I cannot log in" for a contact who has a password: a
    reset link goes to the contact's own address (never shown to staff), every session of
    the contact ends, their links and open invitations are revoked, and they are told in a
    separate security email. The password itself stays until they choose a new one (the
    reset link needs it usable). Refuses (``ClientError``) an inactive contact, a contact
    of an inactive client, and one who never set a password (invite them instead)."""
    from clients.account_services import sessions_end_all

    if not contact.is_contact or not contact.is_active or not contact.client.is_active:
        raise ClientError("Only active contacts of active clients can reset a password.")
    if not contact.has_usable_password():
        raise ClientError("This contact has no password yet; send an invitation instead.")
    with transaction.atomic():
        sessions_end_all(user=contact, request=None)
        contact.invitations.filter(used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        credentials_reset.send(sender=User, user=contact, actor=actor, request=request)
        audit_record(
            kind=EventKind.PASSWORD_RESET_BY_STAFF,
            request=request,
            actor=actor,
            subject=contact,  # so that the contact's own security log shows it
            client=contact.client,
            detail=f"reset link sent to {contact.email}; sessions ended, links revoked",
        )
        # Mail goes out once the rest has committed: a failing mail server must not leave
        # the sessions alive, and a rollback must not leave a link in a mailbox.
        transaction.on_commit(
            lambda: password_reset_email_requested.send(
                sender=User, user=contact, email=contact.email, refused=""
            )
        )
        transaction.on_commit(
            lambda: security_change.send(
                sender=User,
                user=contact,
                what="Your sessions were ended and a password reset link was sent to this "
                "address at the consultant's request. If you did not expect it, call them.",
                email=contact.email,
            )
        )
