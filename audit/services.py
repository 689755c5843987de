"""Writing audit events. Every security-relevant action calls ``audit_record``."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest

from audit.models import AuditEvent

__all__ = ["account_for_address", "audit_record", "request_ip", "request_user_agent"]


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


def account_for_address(address: str, request: HttpRequest | None = None) -> Any:
    """The account whose login address is ``address`` (any spelling), or ``None``. Used to
    record which account an anonymous event (a failed login, a lockout) is about, by id.
    Asked once per request and address: a refused login writes two rows about one account,
    and a refusal must stay cheap (docs/performance.md, "Login cost")."""
    cache = getattr(request, "_audit_accounts", None) if request is not None else None
    if cache is not None and address in cache:
        return cache[address]
    manager = get_user_model()._default_manager
    try:
        account = manager.get_by_natural_key(address) if address else None
    except (ObjectDoesNotExist, ValueError):
        account = None
    if request is not None:
        request._audit_accounts = {**(cache or {}), address: account}
    return account


def audit_record(
    *,
    kind: str,
    request: HttpRequest | None = None,
    actor: Any = None,
    actor_email: str = "",
    subject: Any = None,
    client: Any = None,
    invoice: Any = None,
    link: Any = None,
    bytes_sent: int | None = None,
    detail: str = "",
) -> AuditEvent:
    """Append one event. ``actor`` defaults to the request's authenticated user; ``subject``
    is the account the event is about when that is not the actor (by id, never by text)."""
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
        subject=subject,
        client=client,
        invoice=invoice,
        link=link,
        ip_address=request_ip(request),
        user_agent=request_user_agent(request),
        bytes_sent=bytes_sent,
        detail=detail[:500],
    )
