"""The password re-check on account pages (2FA set-up, backup codes, 2FA off, email and
password change): audited and limited like a login.

The threat: a stolen session (verified, 2FA passed) must not become an unlimited, silent
password oracle. Every wrong password is audited; after ``REAUTH_FAILURE_LIMIT`` wrong
passwords for the account within ``REAUTH_WINDOW`` the session ends and the failure counts
for django-axes against the account, so the login lockout tiers apply from then on.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent, EventKind
from audit.services import audit_record
from clients.models import User

__all__ = ["REAUTH_WINDOW", "password_recheck"]

REAUTH_WINDOW = dt.timedelta(minutes=15)


def password_recheck(*, request: HttpRequest, user: User, password: str) -> bool:
    """True if ``password`` is ``user``'s. Refuses (False, audited) a wrong password; at the
    limit also ends the session (logout) and counts one failed login for the account."""
    if user.check_password(password):
        return True
    audit_record(kind=EventKind.REAUTH_FAILED, request=request, actor=user)
    failures = AuditEvent.objects.filter(
        kind=EventKind.REAUTH_FAILED, actor=user, occurred_at__gte=timezone.now() - REAUTH_WINDOW
    ).count()
    if failures >= settings.REAUTH_FAILURE_LIMIT:
        audit_record(
            kind=EventKind.REAUTH_LOCKED,
            request=request,
            actor=user,
            detail=f"{failures} wrong passwords at a re-check",
        )
        email = user.email
        logout(request)
        # django-axes (and the audit trail) count it as a failed login for the account.
        user_login_failed.send(sender=__name__, credentials={"username": email}, request=request)
    return False
