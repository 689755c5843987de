"""Races that the database must settle: the last download of a link, void against download.

Real threads with their own database connections, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from invoices.models import DownloadLink, InvoiceStatus
from invoices.services import link_create
from invoices.tokens import link_redeem
from tests.factories import make_client, make_invoice
from tests.support.waiting import Deadline

pytestmark = pytest.mark.django_db(transaction=True)


def _race(workers: int, action) -> list:
    barrier = threading.Barrier(workers)
    results: list = [None] * workers

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = action()
        except Exception as exc:  # recorded, then asserted on below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    # Generous for a loaded machine, bounded; a thread still running would leave its
    # result None, which some of the assertions below would take for an answer.
    joined = Deadline(120)
    for thread in threads:
        thread.join(timeout=joined.left())
    assert not any(t.is_alive() for t in threads), "a racing thread did not finish in 120 s"
    return results


def test_a_single_use_link_is_redeemed_exactly_once_under_concurrency():
    client = make_client()
    invoice = make_invoice(client)
    link, token = link_create(invoice=invoice, ttl=dt.timedelta(minutes=5), max_downloads=1)
    results = _race(20, lambda: link_redeem(token=token, client_id=client.pk))
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert sum(r is not None for r in results) == 1
    assert DownloadLink.objects.get(pk=link.pk).download_count == 1


def test_no_download_is_counted_after_a_concurrent_void():
    from invoices.services import invoice_void

    client = make_client()
    invoice = make_invoice(client)
    _link, token = link_create(invoice=invoice, ttl=dt.timedelta(minutes=5))
    invoice_void(invoice=invoice)
    results = _race(4, lambda: link_redeem(token=token, client_id=client.pk))
    assert results == [None] * 4
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.VOID


def test_lockout_counters_stay_exact_under_concurrent_failed_logins():
    from axes.models import AccessAttempt
    from django.db.models import Sum
    from django.urls import reverse

    from tests.conftest import HttpsClient
    from tests.factories import make_contact

    make_contact(email="target@acme.example")

    def fail_once():
        web = HttpsClient(REMOTE_ADDR="198.51.100.20")
        return web.post(
            reverse("login"), {"username": "target@acme.example", "password": "nope nope"}
        ).status_code

    results = _race(4, fail_once)
    assert all(isinstance(r, int) for r in results), results
    total = AccessAttempt.objects.filter(username="target@acme.example").aggregate(
        n=Sum("failures_since_start")
    )["n"]
    assert total == 4


def test_concurrent_failed_checks_open_one_integrity_alert_and_count_every_failure():
    from django.db import transaction

    from audit.models import AuditEvent, EventKind
    from invoices.models import IntegrityAlert
    from invoices.services import integrity_failure_record

    invoice = make_invoice(make_client())

    def fail_check():
        # As download_begin calls it: inside the download's transaction.
        with transaction.atomic():
            return integrity_failure_record(invoice=invoice, link=None, request=None).pk

    results = _race(8, fail_check)
    assert [r for r in results if isinstance(r, Exception)] == []
    alert = IntegrityAlert.objects.get(invoice=invoice)
    assert set(results) == {alert.pk}
    assert alert.failures == 8
    assert AuditEvent.objects.filter(kind=EventKind.INTEGRITY_FAILURE).count() == 8
