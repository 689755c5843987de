"""The history at scale (issue 7, item 2): pages found by seeking from an invoice, never by
counting and skipping rows; as many queries for a client with 80 invoices as for one with 3;
yearly totals kept in step with the invoices. Render times are measured by
benchmarks/history.py, never asserted here (docs/performance.md)."""

from __future__ import annotations

import datetime as dt
import importlib
import re
import threading
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoices.models import Invoice, InvoiceKind, InvoiceYearTotal
from invoices.money import LineInput
from invoices.services import (
    InvoiceError,
    credit_note_create,
    draft_create,
    invoice_issue,
    invoice_mark_paid,
    invoice_void,
)
from invoices.services.totals import year_totals_rebuild
from tests.conftest import logged_in
from tests.factories import make_client, make_contact, make_invoice

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<a href="/invoices/[0-9a-f-]{36}/">([^<]+)</a>')
PAGER_LINK = re.compile(r'<a href="([^"]+)"[^>]*>([^<]+)</a>')
FROZEN = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)


def _history(client, count: int, prefix: str = "H") -> list[str]:
    """``count`` issued invoices, two per day (same-day pairs test the id tie-break);
    returns their numbers in the order the history shows them, newest first."""
    start = dt.date(2020, 1, 1)
    for i in range(count):
        day = start + dt.timedelta(days=i // 2)
        make_invoice(
            client, number=f"{prefix}-{i:03d}", issue_date=day, due_date=day + dt.timedelta(30)
        )
    return [f"{prefix}-{i:03d}" for i in reversed(range(count))]


def _page(web, query: str = "") -> tuple[list[str], dict[str, str]]:
    """The invoice numbers on a history page and its pager links by label."""
    response = web.get(reverse("invoice-list") + query)
    assert response.status_code == 200, query
    html = response.content.decode()
    pager = html[html.index('<nav class="pager"') :] if '<nav class="pager"' in html else ""
    pager = pager[: pager.find("</nav>")]
    links = {
        label.strip("\u00ab\u00bb\u2039\u203a "): href for href, label in PAGER_LINK.findall(pager)
    }
    return ROW.findall(html), links


def _query(href: str) -> str:
    return href.removeprefix(reverse("invoice-list"))


@pytest.fixture
def big():
    """A client with 80 invoices, a draft it never sees, and a neighbour with its own."""
    client = make_client("Big GmbH")
    numbers = _history(client, 80)
    make_invoice(client, number="DRAFT-1", issue=False, issue_date=dt.date(2020, 1, 5))
    _history(make_client("Neighbour AG"), 30, prefix="N")
    return make_contact(client), numbers


def test_walking_older_then_newer_reaches_every_invoice_once(big):
    contact, numbers = big
    web = logged_in(contact)
    pages, query = [], ""
    while True:
        rows, links = _page(web, query)
        pages.append(rows)
        if "Older" not in links:
            break
        query = _query(links["Older"])
    assert [len(p) for p in pages] == [25, 25, 25, 5]
    # Every invoice once, newest first; neither the draft nor the neighbour's invoices.
    assert [n for page in pages for n in page] == numbers
    back = []
    while "Newer" in links:
        query = _query(links["Newer"])
        rows, links = _page(web, query)
        back.append(rows)
    assert back == pages[-2::-1]  # the same pages on the way back, ending on the first


def test_oldest_and_newest_links(big):
    contact, numbers = big
    web = logged_in(contact)
    first, links = _page(web)
    assert "Newer" not in links and "Newest" not in links
    assert links["Oldest"] == "?page=last"
    last, last_links = _page(web, links["Oldest"])
    assert last == numbers[-25:]
    assert "Older" not in last_links and "Oldest" not in last_links
    assert last_links["Newest"] == reverse("invoice-list")
    assert _page(web, _query(last_links["Newest"]))[0] == first == numbers[:25]


def test_a_client_with_one_page_has_no_pager():
    contact = make_contact(make_client())
    numbers = _history(contact.client, 3)
    rows, links = _page(logged_in(contact))
    assert rows == numbers and links == {}
    assert _page(logged_in(contact), "?page=last") == (numbers, {})


def test_a_page_url_stays_the_same_page_when_invoices_are_added(big):
    """Bookmarkable: a page is named by an invoice, not by a number that shifts."""
    contact, numbers = big
    web = logged_in(contact)
    query = _query(_page(web)[1]["Older"])
    before = _page(web, query)[0]
    assert before == numbers[25:50]
    make_invoice(contact.client, number="NEW-1", issue_date=dt.date(2026, 11, 20))
    assert _page(web, query)[0] == before
    assert _page(web)[0][0] == "NEW-1"


def test_old_page_numbers_and_nonsense_pages_give_the_first_page(big):
    contact, numbers = big
    web = logged_in(contact)
    for query in ("?page=2", "?page=abc", "?page=-1", "?page=" + "9" * 50, "?other=1"):
        assert _page(web, query)[0] == numbers[:25], query


def test_cursors_of_other_clients_drafts_and_unknown_ids_are_a_404(big):
    contact, _numbers = big
    web = logged_in(contact)
    neighbour = Invoice.objects.get(number="N-010").public_id
    draft = Invoice.objects.get(number="DRAFT-1").public_id
    own = Invoice.objects.get(number="H-040").public_id
    for cursor in (neighbour, draft, uuid.uuid4()):
        for key in ("older", "newer"):
            response = web.get(f"{reverse('invoice-list')}?{key}={cursor}")
            assert response.status_code == 404, (key, cursor)
            assert b"H-0" not in response.content and b"N-0" not in response.content
    # The same cursors work for their owner: a 404 above is the ownership check, nothing else.
    assert _page(web, f"?older={own}")[0][0] == "H-039"


def test_an_older_page_after_the_oldest_invoice_is_empty_with_a_way_back(big):
    contact, numbers = big
    web = logged_in(contact)
    oldest = Invoice.objects.get(number=numbers[-1]).public_id
    html = web.get(f"{reverse('invoice-list')}?older={oldest}").content.decode()
    assert ROW.findall(html) == []
    assert f'No older invoices. <a href="{reverse("invoice-list")}">' in html
    assert "No invoices yet" not in html


def _page_costs(size: int) -> dict[str, tuple[int, int]]:
    """(queries, rows) of each kind of history page for a new client with ``size`` invoices;
    a query that counts or skips the client's invoices (COUNT, OFFSET) fails the test."""
    contact = make_contact(make_client())
    numbers = _history(contact.client, size, prefix=f"Q{size}")
    ids = {n: Invoice.objects.get(number=n).public_id for n in numbers}
    queries = {
        "first": "",
        "older": f"?older={ids[numbers[1]]}",  # the second page (1 row of 3, 25 of 80)
        "newer, back at the top": f"?newer={ids[numbers[2]]}",
        "last": "?page=last",
    }
    if size > 50:
        queries["older, deep"] = f"?older={ids[numbers[size // 2]]}"
        queries["newer, deep"] = f"?newer={ids[numbers[size // 2]]}"
    web = logged_in(contact)
    web.get(reverse("invoice-list"))
    costs = {}
    for kind, query in queries.items():
        with CaptureQueriesContext(connection) as captured:
            response = web.get(reverse("invoice-list") + query)
        assert response.status_code == 200
        sql = [q["sql"].upper() for q in captured.captured_queries]
        assert not [s for s in sql if "COUNT(" in s or "OFFSET" in s], kind
        costs[kind] = (len(sql), len(ROW.findall(response.content.decode())))
    return costs


def test_queries_per_page_do_not_grow_with_the_history():
    """A client with 80 invoices costs the same queries per page as one with 3; the pages
    deep inside the history cost no more than those at its ends."""
    with time_machine.travel(FROZEN, tick=False):  # no minute passes: no session write
        few, many = _page_costs(3), _page_costs(80)
    assert {k: rows for k, (_q, rows) in few.items()} == {
        "first": 3,
        "older": 1,
        "newer, back at the top": 3,
        "last": 3,
    }
    assert {rows for _q, rows in many.values()} == {25}
    for kind, (queries, _rows) in few.items():
        assert many[kind][0] == queries, kind
    assert many["older, deep"][0] == many["older"][0]
    assert many["newer, deep"][0] <= many["newer, back at the top"][0]
    # Session, user, its client, 2FA devices, bank notice, yearly totals; then the rows, plus
    # the cursor's invoice for older/newer, plus the first page when newer reaches the top.
    assert max(q for q, _rows in many.values()) <= 10


# ---------------------------------------------------------------------------------------
# Yearly totals: kept by the services, always equal to what the invoices add up to
# ---------------------------------------------------------------------------------------


def _kept() -> set[tuple]:
    """The kept totals; a row that every invoice has left (all voided) must be all zero."""
    rows = list(InvoiceYearTotal.objects.all())
    assert all(t.total == 0 for t in rows if t.count == 0)
    assert all(t.count >= 0 for t in rows)
    return {(t.client_id, t.year, t.currency, t.total, t.count) for t in rows if t.count}


def _from_invoices() -> set[tuple]:
    """The oracle: the rule of the totals applied to the invoice rows, in Python."""
    sums: dict[tuple, list] = {}
    for invoice in Invoice.objects.all():
        if invoice.status in ("issued", "paid") and invoice.kind == InvoiceKind.INVOICE:
            key = (invoice.client_id, invoice.issue_date.year, invoice.currency)
            entry = sums.setdefault(key, [Decimal(0), 0])
            entry[0] += invoice.total
            entry[1] += 1
    return {(*k, total, n) for k, (total, n) in sums.items()}


def test_year_totals_follow_issue_pay_void_and_credit_notes():
    acme, rival = make_client("Acme"), make_client("Rival")
    steps = []

    def check(step: str) -> None:
        steps.append(step)
        assert _kept() == _from_invoices(), step

    a1 = make_invoice(acme, issue_date=dt.date(2025, 3, 1), due_date=dt.date(2025, 4, 1))
    check("issued upload")
    make_invoice(acme, total=Decimal("99.95"), currency="USD")
    make_invoice(rival, total=Decimal("10.10"))
    check("other currency and client")
    draft = make_invoice(acme, issue=False, total=Decimal("500.00"))
    check("a draft is not counted")
    invoice_issue(invoice=draft)
    check("the draft issued")
    invoice_mark_paid(invoice=draft, paid_on=dt.date(2026, 11, 5))
    check("paid stays counted")
    with pytest.raises(InvoiceError):
        invoice_void(invoice=draft)
    check("a paid invoice cannot be voided")
    invoice_void(invoice=make_invoice(acme, issue=False, total=Decimal("7.00")))
    check("a voided draft was never counted")
    invoice_void(invoice=a1)
    check("an issued invoice voided")
    with pytest.raises(InvoiceError):
        invoice_void(invoice=a1)
    check("a refused second void changes nothing")
    line = LineInput("Audit", Decimal("3"), Decimal("333.33"), Decimal("19"))
    generated = invoice_issue(
        invoice=draft_create(client=acme, lines=[line], issue_date=dt.date(2024, 12, 31))
    )
    check("a generated invoice issued")
    note = invoice_issue(invoice=credit_note_create(original=generated))
    assert note.kind == InvoiceKind.CREDIT_NOTE
    check("a credit note is not counted")
    assert len(steps) == 11 and InvoiceYearTotal.objects.filter(year=2024).get().count == 1
    kept = _kept()
    assert year_totals_rebuild() == len(kept) + InvoiceYearTotal.objects.filter(count=0).count()
    assert _kept() == kept


def test_the_page_shows_the_kept_totals_and_an_inactive_client_none():
    contact = make_contact(make_client())
    make_invoice(contact.client, total=Decimal("1200.00"))
    make_invoice(contact.client, total=Decimal("300.00"))
    response = logged_in(contact).get(reverse("invoice-list"))
    assert [(t.year, t.total, t.count) for t in response.context["year_totals"]] == [
        (2026, Decimal("1500.00"), 2)
    ]
    assert b"1,500.00 EUR" in response.content
    contact.client.is_active = False
    contact.client.save()
    from invoices.selectors import invoice_year_totals_for_contact

    assert invoice_year_totals_for_contact(contact=contact) == []


def test_the_migration_counts_invoices_issued_before_it():
    make_invoice(make_client(), total=Decimal("70.00"))
    make_invoice(make_client(), total=Decimal("30.00"), issue_date=dt.date(2023, 1, 1))
    expected = _from_invoices()
    InvoiceYearTotal.objects.all().delete()
    migration = importlib.import_module("invoices.migrations.0004_invoice_year_totals")
    migration.count_existing_invoices(apps, None)
    assert _kept() == expected and len(expected) == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_issues_of_one_client_year_and_currency_each_count_once():
    client = make_client()
    drafts = [make_invoice(client, issue=False, total=Decimal("10.01")) for _ in range(10)]
    barrier = threading.Barrier(len(drafts))
    errors: list[Exception] = []

    def issue(invoice: Invoice) -> None:
        try:
            barrier.wait(timeout=20)
            invoice_issue(invoice=invoice)
        except Exception as exc:  # recorded, then asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=(d,)) for d in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert _kept() == _from_invoices() == {(client.pk, 2026, "EUR", Decimal("100.10"), 10)}
