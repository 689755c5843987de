"""The suite runs on the database it was asked for: a leg never falls back in silence."""

import os

import pytest
from django.db import connection


@pytest.mark.django_db
def test_the_leg_uses_the_requested_database():
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres://", "postgresql://")) else "sqlite"
    assert connection.vendor == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
