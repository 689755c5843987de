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

A refused attempt must stay much cheaper than a hash (issue 7: under 5 %), or a flood of
them would cost the server what the lockout saves it. axes' own bookkeeping for a failure
(clean-up, a locked get-or-create, appending the request's data to the row, counting all
three tiers again) is replaced, for a request it has just refused, by one UPDATE that counts
the failure and restarts the cool-off exactly as before; as a side effect the row no longer
grows with every refused request.
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_parameters, get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.services import request_ip

__all__ = ["TieredLockoutHandler", "attempted_email", "client_ip", "lockout_response"]


class TieredLockoutHandler(AxesDatabaseHandler):
    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        tiers = get_client_parameters(
            username, request.axes_ip_address, request.axes_user_agent, request, credentials
        )
        pair, account, address = _recent_failures(tiers, get_cool_off_threshold(request))
        if (
            account >= settings.LOCKOUT_ACCOUNT_FAILURES
            or address >= settings.LOCKOUT_ADDRESS_FAILURES
        ):
            return max(pair, settings.LOCKOUT_FAILURES)
        return pair

    def is_allowed(self, request: HttpRequest, credentials: dict | None = None) -> bool:
        allowed = super().is_allowed(request, credentials)
        # Remembered for user_login_failed: this failure is a refusal, no guess was checked.
        request.portal_lockout_refused = not allowed
        return allowed

    def user_login_failed(
        self, sender: Any, credentials: dict, request: HttpRequest | None = None, **kwargs: Any
    ) -> None:
        """A failure that axes refused for a lockout: counted and restarting the cool-off in
        one UPDATE of its (account, address, browser) row, and signalled for the audit
        trail. Any other failure, or a refusal without such a row (a lock from another
        tier or another browser), takes axes' full path."""
        if request is not None and getattr(request, "portal_lockout_refused", False):
            username = get_client_username(request, credentials)
            # The count and its audit row in one commit: one write to the database, not two.
            with transaction.atomic():
                counted = AccessAttempt.objects.filter(
                    username=username,
                    ip_address=request.axes_ip_address,
                    user_agent=request.axes_user_agent,
                ).update(
                    failures_since_start=F("failures_since_start") + 1,
                    attempt_time=request.axes_attempt_time,
                )
                if counted:
                    request.axes_locked_out = True  # AxesMiddleware answers: the lockout page
                    request.axes_credentials = credentials
                    user_locked_out.send(
                        "axes",
                        request=request,
                        username=username,
                        ip_address=request.axes_ip_address,
                    )
            if counted:
                return
        super().user_login_failed(sender, credentials, request, **kwargs)


def _recent_failures(tiers: list[dict[str, Any]], since: Any) -> list[int]:
    """The failures counted since ``since`` for each tier (a dict of AccessAttempt fields
    and values), in one query. This runs for every login attempt, refused ones included,
    so it is plain SQL: compiling the same query through the ORM (three filtered sums) took
    longer than running it. Only field names of AccessAttempt go into the SQL text; every
    value is a parameter."""
    meta, quote = AccessAttempt._meta, connection.ops.quote_name
    conditions: list[str] = []
    values: list[list[Any]] = []
    for tier in tiers:
        parts, params = [], []
        for name, value in tier.items():
            column = quote(meta.get_field(name).column)
            if value is None:
                parts.append(f"{column} IS NULL")
            else:
                parts.append(f"{column} = %s")
                params.append(value)
        conditions.append("(" + " AND ".join(parts) + ")")
        values.append(params)
    count = quote(meta.get_field("failures_since_start").column)
    sums = ", ".join(f"SUM(CASE WHEN {c} THEN {count} ELSE 0 END)" for c in conditions)
    sql = (
        f"SELECT {sums} FROM {quote(meta.db_table)} "  # noqa: S608  (names from the model)
        f"WHERE {quote(meta.get_field('attempt_time').column)} >= %s "
        f"AND ({' OR '.join(conditions)})"
    )
    params = [v for group in values for v in group]
    params += [connection.ops.adapt_datetimefield_value(since)]
    params += [v for group in values for v in group]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return [int(n or 0) for n in row]


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
