"""Session lifetime and the two-factor gate, for every request of a logged-in user."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from audit.models import EventKind
from audit.services import audit_record
from clients.access import Access, access_decision, access_refusal

AUTH_AT = "_portal_auth_at"
SEEN_AT = "_portal_seen_at"
# Writing the session on every request would cost a database write per page; the idle
# clock only needs minute precision.
SEEN_RESOLUTION = 60


@receiver(user_logged_in)
def _start_clock(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    now = time.time()
    request.session[AUTH_AT] = now
    request.session[SEEN_AT] = now


# How long after the password step a session counts as "just logged in" (no re-entry of
# the password for turning on 2FA).
RECENT_LOGIN_SECONDS = 10 * 60


# When the password was last entered again in this session (kept apart from AUTH_AT, which
# also bounds the session's absolute lifetime and must not move).
REAUTH_AT = "_portal_reauth_at"


def recently_authenticated(request: HttpRequest) -> bool:
    """The password was entered in this session (login or re-entry) in the last 10 minutes."""
    latest = max(request.session.get(AUTH_AT) or 0, request.session.get(REAUTH_AT) or 0)
    return time.time() - latest <= RECENT_LOGIN_SECONDS


def mark_reauthenticated(request: HttpRequest) -> None:
    request.session[REAUTH_AT] = time.time()


class SessionLifetimeMiddleware:
    """Ends a session after SESSION_IDLE_TIMEOUT without requests, and SESSION_COOKIE_AGE
    after login whatever the activity (the cookie's own expiry is only the browser's)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            auth_at = request.session.get(AUTH_AT)
            seen_at = request.session.get(SEEN_AT, auth_at)
            if auth_at is None:
                request.session[AUTH_AT] = request.session[SEEN_AT] = now
            elif (
                now - seen_at > settings.SESSION_IDLE_TIMEOUT
                or now - auth_at > settings.SESSION_COOKIE_AGE
            ):
                user = request.user
                logout(request)
                audit_record(kind=EventKind.SESSION_EXPIRED, request=request, actor=user)
                messages.info(request, "Your session expired. Please log in again.")
                return redirect_to_login(request.get_full_path())
            elif now - seen_at >= SEEN_RESOLUTION:
                request.session[SEEN_AT] = now
        return self.get_response(request)


# Views a logged-in user may reach before the second factor is settled.
_ALWAYS_OPEN = {
    "healthz",
    "favicon",
    "login",
    "logout",
    "invitation",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
}


class TwoFactorGateMiddleware:
    """Nothing but the verification page before a code is entered; nothing but enrolment
    for a user whom policy requires to have a device (staff always)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if not request.user.is_authenticated:
            return None  # each view decides what an anonymous visitor gets
        name = request.resolver_match.view_name if request.resolver_match else None
        if name in _ALWAYS_OPEN:
            return None
        decision = access_decision(request, contact_only=False)
        if (decision, name) in {(Access.VERIFY, "otp-verify"), (Access.ENROL, "otp-setup")}:
            return None
        return access_refusal(request, decision)
