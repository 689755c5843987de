"""Error pages: plain, identical for every cause, never a stack trace or the requested path."""

from __future__ import annotations

import sys

from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.templatetags.static import static
from django.views.decorators.cache import never_cache

# How long a client is asked to wait after a 503: a database restart takes seconds.
RETRY_AFTER_SECONDS = 30


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "400.html", status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    response = render(request, "404.html", status=404)
    # The path may hold a token: keep it out of any Referer sent from this page.
    response["Referrer-Policy"] = "no-referrer"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page; or the 503 page when the uncaught exception is the database being
    unreachable (restarting, down, out of connections), which is an outage, not a bug.

    Django calls this handler inside the ``except`` block of whichever layer (view or
    middleware) raised, so ``sys.exc_info()`` is the exception being handled. A handler
    rather than a middleware's ``process_exception``: the first query of a request runs
    in middleware (the session, the user, the 2FA gate), where ``process_exception``
    never sees it.
    """
    # No context processors: the failure may be in the database or the session.
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return database_unavailable()
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def database_unavailable() -> HttpResponse:
    """503 with ``Retry-After``: our own page, no detail of the failure. Django's request
    logger records the exception itself (at ERROR, with the traceback, in the server log)."""
    response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", status=403)


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers, 503 when it does not. Reads no client data."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        response = JsonResponse({"status": "database unavailable"}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return JsonResponse({"status": "ok"})


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every site (the admin has no icon link)."""
    return HttpResponsePermanentRedirect(static("portal/favicon.svg"))
