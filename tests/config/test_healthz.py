"""GET /healthz: 200 with a database, 503 without, no client data either way."""

from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from tests.factories import make_client, make_invoice


@pytest.mark.django_db
def test_healthz_answers_ok_on_https_and_plain_http():
    make_invoice(make_client("Secret Client Ltd"), number="SECRET-1")
    for response in (Client().get("/healthz"), Client().get("/healthz", secure=True)):
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert b"Secret" not in response.content


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_unreachable():
    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("gone")
    ):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "database unavailable"}
