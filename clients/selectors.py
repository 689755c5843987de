"""Reads about accounts."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django_otp import user_has_device

from audit.models import AuditEvent
from clients.models import User

__all__ = ["contact_by_email", "second_factor_state", "security_events_for_user"]


def contact_by_email(*, email: str) -> User | None:
    """The client contact with this address (any spelling), with its client; staff never."""
    normalized = User.objects.normalize_email_address(email)
    return (
        User.objects.filter(email=normalized, client__isnull=False).select_related("client").first()
    )


def second_factor_state(user: User) -> str:
    """``"ok"`` when the session may see client data; ``"verify"`` when a confirmed device
    waits for a code; ``"enrol"`` when policy requires a device the user does not have."""
    if user.is_verified():
        return "ok"
    if user_has_device(user, confirmed=True):
        return "verify"
    if user.needs_second_factor:
        return "enrol"
    return "ok"


def security_events_for_user(*, user: User, limit: int = 50) -> QuerySet[AuditEvent]:
    """The user's own recent events (logins, 2FA, password, downloads), newest first, with
    the failed logins, lockouts and reset requests made against the user's address."""
    mine = Q(actor=user) | Q(actor__isnull=True, actor_email=user.email)
    return AuditEvent.objects.filter(mine).order_by("-occurred_at", "-id")[:limit]
