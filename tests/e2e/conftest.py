"""The e2e suites' fixtures: a real installation (SQLite, or a throwaway PostgreSQL
database when the suite runs on PostgreSQL) and gunicorn serving it over TLS, one of each
per module. The harness they call lives in tests/support/servers.py."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.servers import Installation, Server, gunicorn_over_tls, new_installation


@pytest.fixture(scope="module")
def installation(tmp_path_factory) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("install")
    with new_installation(root, os.environ.get("DATABASE_URL", "")) as install:
        yield install


@pytest.fixture(scope="module")
def server(installation: Installation) -> Iterator[Server]:
    with gunicorn_over_tls(installation, workers="2", log_name="gunicorn.log") as srv:
        yield srv
