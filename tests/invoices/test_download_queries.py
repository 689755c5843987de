"""What one download costs the database: a small, fixed list of statements, whatever the
sendfile mode, asserted statement by statement (docs/performance.md, "Download path")."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent, EventKind
from invoices.services import link_create
from tests.conftest import logged_in, verify_second_factor

pytestmark = pytest.mark.django_db

# (verb, table) of every statement, in order. One short transaction holds the count and the
# audit row (so an outage cannot separate them); inside the test's own transaction it shows
# as a savepoint, in production as BEGIN/COMMIT, which Django does not log as queries.
TRANSACTION = [("SAVEPOINT", ""), ("RELEASE SAVEPOINT", "")]
WITH_VERIFIED_DEVICE = [
    ("SELECT", "django_session"),  # the session, once; written back at most once a minute
    ("SELECT", "clients_user"),  # the user, with its client joined (is_active is checked)
    ("SELECT", "otp_totp_totpdevice"),  # the device the session was verified with
    ("SELECT", "invoices_downloadlink"),  # link + invoice + client, owner-scoped
    TRANSACTION[0],  # (the stored file is checked before this, outside any transaction)
    ("UPDATE", "invoices_downloadlink"),  # download_count + 1, if still usable
    ("INSERT", "audit_auditevent"),  # the download's audit row
    TRANSACTION[1],
]
WITHOUT_DEVICE = [
    ("SELECT", "django_session"),
    ("SELECT", "clients_user"),
    # "has a confirmed device?", asked once per request; django-otp asks the device models
    # in INSTALLED_APPS order, and clients (backup codes) comes before otp_totp so that its
    # createsuperuser replaces Django's.
    ("SELECT", "clients_backupcodedevice"),
    ("SELECT", "otp_totp_totpdevice"),
    ("SELECT", "invoices_downloadlink"),
    TRANSACTION[0],
    ("UPDATE", "invoices_downloadlink"),
    ("INSERT", "audit_auditevent"),
    TRANSACTION[1],
]
_TABLE = re.compile(r'^(?:(SELECT|DELETE)\b.*?\bFROM|(UPDATE)|(INSERT) INTO)\s+"(\w+)"', re.S)
_SAVEPOINT = re.compile(r'^(SAVEPOINT|RELEASE SAVEPOINT) "\w+"$')


def _statements(captured: list[dict]) -> list[tuple[str, str]]:
    found = []
    for query in captured:
        sql = query["sql"]
        if savepoint := _SAVEPOINT.match(sql):
            found.append((savepoint.group(1), ""))
            continue
        match = _TABLE.match(sql)
        assert match, f"unexpected statement: {sql[:200]}"
        verb = match.group(1) or match.group(2) or match.group(3)
        found.append((verb, match.group(4)))
    return found


def _measured_download(web, token: str) -> tuple[int, list[tuple[str, str]], bytes]:
    with CaptureQueriesContext(connection) as captured:
        response = web.get(f"/d/{token}/")
        body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, _statements(captured.captured_queries), body


@pytest.mark.parametrize("sendfile", ["django", "nginx"])
@pytest.mark.parametrize(
    ("verified", "expected"), [(True, WITH_VERIFIED_DEVICE), (False, WITHOUT_DEVICE)]
)
def test_a_download_costs_a_fixed_list_of_statements(
    owner_setup, settings, sendfile, verified, expected
):
    settings.SENDFILE = sendfile
    invoice = owner_setup["invoice"]
    _link, token = link_create(invoice=invoice, ttl=dt.timedelta(days=30))
    web = logged_in(owner_setup["owner"])
    if verified:
        verify_second_factor(web, owner_setup["owner"])
    # The first request of a fresh session writes the idle clock; measure the steady state
    # and a second file check (the first one hashed the file).
    assert web.get(f"/d/{token}/").status_code == 200
    for _ in range(2):
        status, statements, body = _measured_download(web, token)
        assert status == 200
        assert statements == expected
    if sendfile == "django":
        assert body.startswith(b"%PDF-") and len(body) == invoice.pdf_size
    assert AuditEvent.objects.filter(kind=EventKind.DOWNLOAD, invoice=invoice).count() == 3


def test_a_refused_download_costs_no_more(owner_setup):
    """Another client's link: the same lookup finds nothing, one refusal row is written,
    and the 404 page reads the consultant's name for its footer."""
    _link, token = link_create(invoice=owner_setup["rival_invoice"], ttl=dt.timedelta(days=30))
    web = logged_in(owner_setup["owner"])
    web.get("/invoices/")  # settle the session's idle clock
    status, statements, _ = _measured_download(web, token)
    assert status == 404
    assert statements == [
        *WITHOUT_DEVICE[:5],
        ("INSERT", "audit_auditevent"),
        ("SELECT", "business_businessprofile"),
    ]


def test_the_count_keeps_its_conditions_where_a_row_lock_rechecks_them(owner_setup):
    """PostgreSQL re-evaluates an UPDATE's top-level WHERE after waiting for a row lock, but
    not an "id IN (SELECT ...)" subquery. If the count's conditions slid into such a
    subquery (Django does that for filters through a join), two racing requests could both
    take a single-use link's last download; tests/reliability/test_races.py shows the race,
    this shows the cause, deterministically, on both databases."""
    from invoices.tokens import link_find, link_take

    invoice = owner_setup["invoice"]
    _link, token = link_create(invoice=invoice, ttl=dt.timedelta(days=1), max_downloads=1)
    link = link_find(token=token, client_id=invoice.client_id)
    with CaptureQueriesContext(connection) as captured:
        assert link_take(link=link) is True
    (update,) = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    where = update[update.index(" WHERE ") :]
    top_level = where.split("(SELECT", 1)[0]
    for condition in ('"download_count" <', '"revoked_at" IS NULL', '"expires_at" >'):
        assert f'"invoices_downloadlink".{condition}' in top_level, update
