"""Writes on staff accounts and roles, made in the admin. Each is audited in the same
transaction: who may do what in the admin is itself evidence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def _label(item: Any) -> str:
    """A group by name, a permission as "app.codename"."""
    content_type = getattr(item, "content_type", None)
    if content_type is not None:
        return f"{content_type.app_label}.{item.codename}"
    return str(getattr(item, "name", item))


def _memberships(obj: Any, changed: list[str], new: Mapping[str, Iterable[Any]]) -> list[str]:
    """The fields changed, each many-to-many one (groups, permissions) with what it gains
    and loses: "groups +owner -assistant". ``new`` holds the form's values; ``obj``'s own
    relations still hold the old ones (the admin saves them after the object)."""
    described = []
    for name in changed:
        if name not in new:
            described.append(name)
            continue
        before = {_label(i) for i in getattr(obj, name).all()} if obj.pk else set()
        after = {_label(i) for i in new[name]}
        gained = [f"+{x}" for x in sorted(after - before)]
        lost = [f"-{x}" for x in sorted(before - after)]
        described.append(" ".join([name, *gained, *lost]))
    return described


def staff_user_save(
    *,
    actor: Any,
    user: User,
    changed: list[str],
    memberships: Mapping[str, Iterable[Any]] | None = None,
    request: HttpRequest | None = None,
) -> User:
    """Create or change a staff account, audited with the fields changed, naming the groups
    and permissions added and removed (``memberships``: the new values of ``groups`` and
    ``user_permissions``, before they are saved). Refuses (``ValueError``) a client
    contact: contacts are changed through clients.services."""
    if user.client_id is not None:
        raise ValueError("A client contact is not a staff user.")
    created = user.pk is None
    with transaction.atomic():
        described = _memberships(user, changed, memberships or {})
        user.save()
        audit_record(
            kind=EventKind.STAFF_USER_CREATED if created else EventKind.STAFF_USER_CHANGED,
            request=request,
            actor=actor,
            subject=user,
            detail=f"{user.email}: " + ("; ".join(described) or "no change"),
        )
    return user


def role_save(
    *,
    actor: Any,
    group: Group,
    changed: list[str],
    memberships: Mapping[str, Iterable[Any]] | None = None,
    request: HttpRequest | None = None,
) -> Group:
    """Create or change a role (a group), audited with the permissions added and removed
    (``memberships``: the new ``permissions``, before they are saved). ``manage.py
    setup_roles`` restores the definitions of owner, assistant and bookkeeper
    (clients/roles.py)."""
    created = group.pk is None
    with transaction.atomic():
        described = _memberships(group, changed, memberships or {})
        group.save()
        audit_record(
            kind=EventKind.ROLE_CHANGED,
            request=request,
            actor=actor,
            detail=f"{'created' if created else 'changed'} {group.name}: " + "; ".join(described),
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
