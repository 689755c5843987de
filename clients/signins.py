"""A successful login: recorded in the audit trail, and the account holder told when it came
from a browser the account has not logged in from before."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from audit.models import AuditEvent, EventKind
from audit.services import audit_record, request_user_agent
from core.signals import security_change

__all__ = ["is_new_browser"]


def is_new_browser(*, user: Any, user_agent: str) -> bool:
    """True when the account has logged in before, but never with this browser (its
    User-Agent). The first login of an account is not "new": there is nothing to compare."""
    earlier = AuditEvent.objects.filter(actor=user, kind=EventKind.LOGIN)
    return earlier.exists() and not earlier.filter(user_agent=user_agent).exists()


@receiver(user_logged_in)
def _logged_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    agent = request_user_agent(request)
    new_browser = is_new_browser(user=user, user_agent=agent)
    event = audit_record(kind=EventKind.LOGIN, request=request, actor=user)
    if new_browser:
        browser = agent[:80] or "an unknown browser"
        security_change.send(
            sender=AuditEvent,
            user=user,
            what=f"Your account was used to log in from a new browser ({browser}, "
            f"address {event.ip_address or 'unknown'}).",
            email=user.email,
        )
