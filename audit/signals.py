"""Record failed logins, lockouts and logouts from Django's and axes' signals. A successful
login is recorded with the accounts (clients/signins.py), which also tells the account holder
about a new browser."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from audit.models import EventKind
from audit.services import account_for_address, audit_record


@receiver(user_logged_out)
def _logged_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(kind=EventKind.LOGOUT, request=request, actor=user)


@receiver(user_login_failed)
def _login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django already masks the password in ``credentials``; only the name is kept.
    attempted = str(credentials.get("username") or credentials.get("email") or "")[:254]
    audit_record(
        kind=EventKind.LOGIN_FAILED,
        request=request,
        actor_email=attempted.lower(),
        subject=account_for_address(attempted, request),
    )


@receiver(user_locked_out)
def _locked_out(
    sender: Any, request: HttpRequest, username: str | None = None, **kwargs: Any
) -> None:
    audit_record(
        kind=EventKind.LOCKED_OUT,
        request=request,
        actor_email=(username or "")[:254],
        subject=account_for_address(username or "", request),
        detail="login refused: too many failures",
    )
