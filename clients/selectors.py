"""Reads about accounts."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django_otp import user_has_device

from audit.models import AuditEvent
from clients.models import User

__all__ = [
    "contact_by_email",
    "second_factor_state",
    "second_factor_state_for_request",
    "security_events_for_user",
]


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


_STATE_ATTR = "_portal_second_factor_state"


def second_factor_state_for_request(request: HttpRequest) -> str:
    """``second_factor_state(request.user)``, worked out once per request: the two-factor
    gate and the download view both ask, and for a contact without a device each answer
    costs two queries. Nothing between the gate and a view changes the answer."""
    state = getattr(request, _STATE_ATTR, None)
    if state is None:
        state = second_factor_state(request.user)
        setattr(request, _STATE_ATTR, state)
    return state


def security_events_for_user(*, user: User, limit: int = 50) -> QuerySet[AuditEvent]:
    """The user's own recent events (logins, 2FA, password, downloads), newest first, with
    the failed logins, lockouts and reset requests recorded as being about this account.

    Refuses to match by address text: an address changes hands, and the next holder must
    not read the previous one's failed logins. Refuses rows about another client's
    invoice, whoever wrote them (the log shows the invoice number)."""
    mine = Q(actor=user) | Q(subject=user)
    own_invoice = Q(invoice__isnull=True) | Q(invoice__client_id=user.client_id)
    return (
        AuditEvent.objects.filter(mine)
        .filter(own_invoice)
        .select_related("invoice")
        .order_by("-occurred_at", "-id")[:limit]
    )
