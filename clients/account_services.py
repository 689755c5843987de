"""Writes for account security: password, email, sessions. Each is audited."""

from __future__ import annotations

import datetime as dt
import ipaddress

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent, EventKind
from audit.services import audit_record, request_ip
from clients.models import User
from clients.signals import credentials_reset, password_reset_email_requested
from core.signals import security_change

__all__ = [
    "RESET_WINDOW",
    "password_changed",
    "password_reset_done",
    "password_reset_request",
    "reset_network",
    "sessions_end_all",
]

RESET_WINDOW = dt.timedelta(hours=1)


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


def _may_reset(user: User | None) -> bool:
    """Django's rule (active, with a usable password: an invited contact uses its
    invitation) plus ours: a contact of a deactivated client cannot log in anyway."""
    if user is None or not user.is_active or not user.has_usable_password():
        return False
    return user.client_id is None or user.client.is_active


def reset_network(ip: str | None) -> str:
    """The network a reset request is counted under: an IPv4 address itself, an IPv6 /64
    (one host or household holds a whole /64, 2**64 addresses); "" for none."""
    if not ip:
        return ""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"network {address.ipv4_mapped}"
        return f"network {ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"network {address}"


def _reset_limit_reached(*, address: str, network: str) -> str:
    """Which limit this request would break ("" for none): accepted requests in the last
    hour for the address typed, and from the client's network (``reset_network``, stored in
    the accepted rows' detail). One query."""
    recent = AuditEvent.objects.filter(
        kind=EventKind.PASSWORD_RESET_REQUESTED, occurred_at__gte=timezone.now() - RESET_WINDOW
    ).aggregate(
        address=Count("pk", filter=Q(actor_email=address)),
        ip=Count("pk", filter=Q(detail=network) & ~Q(detail="")),
    )
    if recent["address"] >= settings.RESET_LIMIT_PER_ADDRESS:
        return "too many requests for this address"
    if recent["ip"] >= settings.RESET_LIMIT_PER_IP:
        return "too many requests from this client address"
    return ""


def password_reset_request(*, email: str, request: HttpRequest) -> None:
    """Queue a reset email for the account with this address, if there is one that may
    reset, and if neither limit is reached. Refuses nothing visibly: the caller answers the
    same page whatever happened, and this function does the same database work on every
    path (one lookup, one count, one audit row, one queued message, sent or dropped by the
    queue), so neither the page nor its timing says whether the address has an account or
    was limited. The token is minted by the queue when it sends, never stored."""
    address = User.objects.normalize_email_address(email)
    ip = request_ip(request)
    with transaction.atomic():
        # No row lock: on PostgreSQL locking a found row writes to it, which an unknown
        # address would not; a burst of simultaneous requests may pass a limit by the
        # number served at the same moment (docs/security.md, known gaps).
        user = User.objects.select_related("client").filter(email=address).first()
        network = reset_network(ip)
        refused = _reset_limit_reached(address=address, network=network)
        kind = EventKind.PASSWORD_RESET_LIMITED if refused else EventKind.PASSWORD_RESET_REQUESTED
        audit_record(
            kind=kind,
            request=request,
            actor_email=address,
            subject=user,
            detail=refused or network,
        )
        if not refused and not _may_reset(user):
            refused = "no account that may reset its password"
        # notifications queues the message (dropped at once when ``refused``); the queue
        # finds the account again by address when it sends.
        password_reset_email_requested.send(sender=User, email=address, refused=refused)


def password_reset_done(*, user: User, request: HttpRequest) -> None:
    """After a reset: every other session ends and the user's outstanding download links die.
    The second factor stays: the next login still asks for a code."""
    with transaction.atomic():
        # invoices listens and revokes the links this user made (clients never imports it).
        credentials_reset.send(sender=User, user=user)
        sessions_end_all(user=user, request=request)
        audit_record(kind=EventKind.PASSWORD_RESET, request=request, actor=user)
        _tell(user, "The password of your account was reset through the email link.")
