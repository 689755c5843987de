"""Writes on staff accounts and roles, made in the admin. Each is audited in the same
transaction: who may do what in the admin is itself evidence."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest

from audit.models import EventKind
from audit.services import audit_record
from clients.models import User

__all__ = [
    "lockout_lift",
    "role_delete",
    "role_save",
    "staff_password_set_record",
    "staff_user_save",
]


def staff_user_save(
    *, actor: Any, user: User, changed: list[str], request: HttpRequest | None = None
) -> User:
    """Create or change a staff account, audited with the fields changed (groups and
    permissions included). Refuses (``ValueError``) a client contact: contacts are changed
    through clients.services."""
    if user.client_id is not None:
        raise ValueError("A client contact is not a staff user.")
    created = user.pk is None
    with transaction.atomic():
        user.save()
        audit_record(
            kind=EventKind.STAFF_USER_CREATED if created else EventKind.STAFF_USER_CHANGED,
            request=request,
            actor=actor,
            detail=f"{user.email}: " + (", ".join(changed) or "no change"),
        )
    return user


def role_save(
    *, actor: Any, group: Group, changed: list[str], request: HttpRequest | None = None
) -> Group:
    """Create or change a role (a group), audited. ``manage.py setup_roles`` restores the
    definitions of owner, assistant and bookkeeper (clients/roles.py)."""
    created = group.pk is None
    with transaction.atomic():
        group.save()
        audit_record(
            kind=EventKind.ROLE_CHANGED,
            request=request,
            actor=actor,
            detail=f"{'created' if created else 'changed'} {group.name}: " + ", ".join(changed),
        )
    return group


def role_delete(*, actor: Any, group: Group, request: HttpRequest | None = None) -> None:
    """Delete a role; its members lose its permissions at once. Audited."""
    with transaction.atomic():
        name = group.name
        group.delete()
        audit_record(
            kind=EventKind.ROLE_CHANGED, request=request, actor=actor, detail=f"deleted {name}"
        )


def lockout_lift(*, actor: Any, attempt: Any, request: HttpRequest | None = None) -> None:
    """Delete one django-axes lockout record: the account (or address) may try again at
    once. Audited with whom and from where the record was about."""
    with transaction.atomic():
        audit_record(
            kind=EventKind.LOCKOUT_LIFTED,
            request=request,
            actor=actor,
            detail=f"for {attempt.username or '(no name)'} from {attempt.ip_address or '?'}",
        )
        attempt.delete()


def staff_password_set_record(
    *, actor: Any, user: User, request: HttpRequest | None = None
) -> None:
    """Audit a password that one staff user set for another in the admin (Django's own form
    writes it; the admin calls this in the same transaction)."""
    audit_record(
        kind=EventKind.STAFF_USER_CHANGED,
        request=request,
        actor=actor,
        detail=f"{user.email}: password set in the admin",
    )
