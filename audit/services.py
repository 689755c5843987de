"""Writing audit events. Every security-relevant action calls ``audit_record``."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from audit.models import AuditEvent

__all__ = ["audit_record", "request_ip", "request_user_agent"]


def request_ip(request: HttpRequest | None) -> str | None:
    """The client's address: the socket peer, or, only when INVOICEPORTAL_BEHIND_PROXY is
    set, the address our one trusted proxy appended to X-Forwarded-For (the rightmost).
    Anything left of it was written by the client and is not evidence of anything."""
    if request is None:
        return None
    candidate = request.META.get("REMOTE_ADDR", "")
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            candidate = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def request_user_agent(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return request.META.get("HTTP_USER_AGENT", "")[:512]


def audit_record(
    *,
    kind: str,
    request: HttpRequest | None = None,
    actor: Any = None,
    actor_email: str = "",
    client: Any = None,
    invoice: Any = None,
    link: Any = None,
    bytes_sent: int | None = None,
    detail: str = "",
) -> AuditEvent:
    """Append one event. ``actor`` defaults to the request's authenticated user."""
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    if actor is not None and not actor_email:
        actor_email = actor.email
    if client is None and actor is not None and getattr(actor, "client_id", None):
        client = actor.client
    return AuditEvent.objects.create(
        kind=kind,
        actor=actor,
        actor_email=actor_email[:254],
        client=client,
        invoice=invoice,
        link=link,
        ip_address=request_ip(request),
        user_agent=request_user_agent(request),
        bytes_sent=bytes_sent,
        detail=detail[:500],
    )
