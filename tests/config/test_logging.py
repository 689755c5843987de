"""Tokens never reach the logs."""

from __future__ import annotations

import logging

import pytest

from core.logfilters import RedactTokens, redact
from tests.conftest import logged_in
from tests.factories import make_contact

TOKEN = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dX"


def test_redact_hides_download_and_invitation_tokens():
    assert redact(f"GET /d/{TOKEN}/ HTTP/1.1") == "GET /d/[redacted]/ HTTP/1.1"
    assert redact(f"Not Found: /invite/{TOKEN}/") == "Not Found: /invite/[redacted]/"
    confirm = f"/account/email/confirm/{TOKEN}/"
    assert redact(f"Not Found: {confirm}") == "Not Found: /account/email/confirm/[redacted]/"
    assert redact("GET /invoices/ HTTP/1.1") == "GET /invoices/ HTTP/1.1"


@pytest.mark.django_db
def test_django_request_log_of_a_refused_download_holds_no_token(caplog):
    handler_filter = RedactTokens()
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect()
    handler.addFilter(handler_filter)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = logged_in(make_contact()).get(f"/d/{TOKEN}a/")
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 404
    assert records, "django.request logged nothing for the 404"
    assert all(TOKEN not in line for line in records)
    assert any("/d/[redacted]/" in line for line in records)


def test_gunicorn_access_log_atoms_are_redacted():
    from types import SimpleNamespace

    from gunicorn.config import Config

    from core.gunicorn_logging import RedactingLogger

    log = RedactingLogger(Config())
    req = SimpleNamespace(
        headers=[], method="GET", path=f"/d/{TOKEN}/", query="", uri=f"/d/{TOKEN}/", version=(1, 1)
    )
    resp = SimpleNamespace(status="200 OK", sent=10, headers=[], response_length=10)
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "RAW_URI": f"/d/{TOKEN}/",
        "PATH_INFO": f"/d/{TOKEN}/",
        "QUERY_STRING": f"next=%2Fd%2F{TOKEN}%2F",
        "HTTP_REFERER": f"https://x/invite/{TOKEN}/",
    }
    import datetime as dt

    atoms = log.atoms(resp, req, environ, dt.timedelta(seconds=0.01))
    assert all(TOKEN not in str(value) for value in atoms.values())
