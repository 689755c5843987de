"""A database that cannot be reached is an outage, not a bug: our 503 page with
Retry-After, wherever in the request the first query fails (middleware or view), never a
traceback; every other uncaught exception stays the plain 500."""

import json
from unittest import mock

import pytest
from django.db import IntegrityError, InterfaceError, OperationalError
from django.urls import reverse

from tests.config.test_settings import _settings
from tests.conftest import logged_in
from tests.factories import make_client, make_contact


def _client_page(**patch):
    web = logged_in(make_contact(make_client()))
    web.raise_request_exception = False
    with mock.patch(**patch):
        return web.get(reverse("invoice-list"))


@pytest.mark.django_db
@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_database_lost_in_middleware_gives_the_503_page(error):
    # The session is loaded by the middleware, before any view runs.
    response = _client_page(
        target="django.contrib.sessions.backends.db.SessionStore.load",
        side_effect=error("server closed the connection unexpectedly"),
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert b"<h1>Temporarily unavailable</h1>" in response.content
    assert b"server closed" not in response.content and b"Traceback" not in response.content


@pytest.mark.django_db
def test_database_lost_in_a_view_gives_the_503_page():
    response = _client_page(
        target="invoices.selectors.invoice_list_for_contact",
        side_effect=OperationalError("could not connect to server"),
    )
    assert response.status_code == 503
    assert b"<h1>Temporarily unavailable</h1>" in response.content
    assert response["Content-Security-Policy"]  # the middleware still wraps it


@pytest.mark.django_db
def test_other_database_errors_stay_a_500():
    response = _client_page(
        target="invoices.selectors.invoice_list_for_contact",
        side_effect=IntegrityError("duplicate key"),
    )
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert b"duplicate key" not in response.content


@pytest.mark.django_db
def test_healthz_asks_to_retry_when_the_database_is_unreachable():
    from django.test import Client

    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("gone")
    ):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"


def test_pooled_postgres_connections_are_checked_before_reuse(tmp_path):
    # The real settings, in a fresh interpreter, as tests/config/test_settings.py reads them.
    result = _settings(tmp_path, "DATABASES", DATABASE_URL="postgres://u@127.0.0.1:5432/x")
    assert result.returncode == 0, result.stderr
    databases = json.loads(result.stdout.strip().splitlines()[-1])["DATABASES"]
    assert "'CONN_HEALTH_CHECKS': True" in databases
    assert "'CONN_MAX_AGE': 60" in databases
