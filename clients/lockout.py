"""Brute-force lockout with django-axes: three tiers over one database table.

django-axes keeps one failure limit. The portal needs three (docs/security.md):
- an account from one address: LOCKOUT_FAILURES (default 5);
- an account from anywhere: LOCKOUT_ACCOUNT_FAILURES (default 20), against a botnet
  spreading guesses over many addresses; the price is that a determined attacker can hold a
  victim's account closed, which the consultant can lift in the admin;
- an address against any account: LOCKOUT_ADDRESS_FAILURES (default 50), against
  credential stuffing from one host.
The handler maps a tripped higher tier onto axes' own limit. State lives in the database,
so every gunicorn worker sees the same counts. A locked request is refused by axes'
authentication backend, which runs before any password hasher.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.services import request_ip

__all__ = ["TieredLockoutHandler", "attempted_email", "client_ip", "lockout_response"]


class TieredLockoutHandler(AxesDatabaseHandler):
    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        pair, account, address = (
            attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if (
            account >= settings.LOCKOUT_ACCOUNT_FAILURES
            or address >= settings.LOCKOUT_ADDRESS_FAILURES
        ):
            return max(pair, settings.LOCKOUT_FAILURES)
        return pair


def attempted_email(request: HttpRequest, credentials: dict | None) -> str | None:
    """The login name as axes counts it: one spelling per address, like the login itself."""
    raw = (credentials or {}).get("username") or request.POST.get("username")
    return str(raw).strip().lower()[:254] if raw else None


def client_ip(request: HttpRequest) -> str:
    """The same address the audit trail records (proxy headers only behind a proxy)."""
    return request_ip(request) or "0.0.0.0"  # noqa: S104  (a placeholder, never bound)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "clients/locked_out.html", {"minutes": minutes}, status=429)
