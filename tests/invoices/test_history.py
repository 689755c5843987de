"""The client's invoice history: order, statuses, pagination, totals per year."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from invoices.services import invoice_mark_paid, invoice_void
from tests.conftest import logged_in
from tests.factories import make_client, make_contact, make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact():
    return make_contact(make_client("History GmbH"))


def test_history_is_newest_first_with_derived_statuses(contact):
    client = contact.client
    make_invoice(
        client, number="A-OLD", issue_date=dt.date(2025, 1, 10), due_date=dt.date(2025, 2, 10)
    )
    paid = make_invoice(
        client, number="B-PAID", issue_date=dt.date(2026, 3, 1), due_date=dt.date(2026, 4, 1)
    )
    invoice_mark_paid(invoice=paid, paid_on=dt.date(2026, 3, 20))
    void = make_invoice(
        client, number="C-VOID", issue_date=dt.date(2026, 5, 1), due_date=dt.date(2026, 6, 1)
    )
    invoice_void(invoice=void)
    make_invoice(
        client, number="D-OPEN", issue_date=dt.date(2026, 11, 1), due_date=dt.date(2026, 12, 1)
    )
    with time_machine.travel(dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC), tick=False):
        html = logged_in(contact).get(reverse("invoice-list")).content.decode()
    positions = [html.index(n) for n in ["D-OPEN", "C-VOID", "B-PAID", "A-OLD"]]
    assert positions == sorted(positions)
    row = lambda number: html[html.index(number) : html.index("</tr>", html.index(number))]  # noqa: E731
    assert ">Issued<" in row("D-OPEN")
    assert ">Void<" in row("C-VOID")
    assert ">Paid<" in row("B-PAID") and "2026-03-20" in row("B-PAID")
    assert ">Overdue<" in row("A-OLD")


def test_overdue_is_derived_from_the_due_date(contact):
    invoice = make_invoice(contact.client, due_date=dt.date(2026, 12, 1))
    url = reverse("invoice-detail", args=[invoice.public_id])
    with time_machine.travel(dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC), tick=False):
        assert b">Issued<" in logged_in(contact).get(url).content
    with time_machine.travel(dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC), tick=False):
        assert b">Overdue<" in logged_in(contact).get(url).content


def test_totals_per_year_and_currency_leave_out_void(contact):
    client = contact.client
    make_invoice(
        client,
        issue_date=dt.date(2025, 6, 1),
        due_date=dt.date(2025, 7, 1),
        total=Decimal("100.00"),
    )
    make_invoice(
        client,
        issue_date=dt.date(2026, 1, 1),
        due_date=dt.date(2026, 2, 1),
        total=Decimal("1200.50"),
    )
    make_invoice(
        client, issue_date=dt.date(2026, 2, 1), due_date=dt.date(2026, 3, 1), total=Decimal("99.50")
    )
    make_invoice(
        client,
        issue_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 3, 1),
        total=Decimal("10.00"),
        currency="USD",
    )
    invoice_void(
        invoice=make_invoice(
            client,
            issue_date=dt.date(2026, 3, 1),
            due_date=dt.date(2026, 4, 1),
            total=Decimal("5000.00"),
        )
    )
    response = logged_in(contact).get(reverse("invoice-list"))
    totals = [(t.year, t.currency, t.total, t.count) for t in response.context["year_totals"]]
    assert totals == [
        (2026, "EUR", Decimal("1300.00"), 2),
        (2026, "USD", Decimal("10.00"), 1),
        (2025, "EUR", Decimal("100.00"), 1),
    ]
    assert b"1,300.00 EUR" in response.content


def test_history_is_paginated(contact):
    for day in range(1, 28):
        make_invoice(
            contact.client,
            number=f"P-{day:02d}",
            issue_date=dt.date(2026, 1, day),
            due_date=dt.date(2026, 3, 1),
        )
    web = logged_in(contact)
    first = web.get(reverse("invoice-list")).content.decode()
    assert "P-27" in first and "P-03" in first and "P-02" not in first
    older = re.search(r'href="(\?older=[0-9a-f-]{36})" rel="next">Older', first)
    second = web.get(reverse("invoice-list") + older.group(1)).content.decode()
    assert "P-02" in second and "P-01" in second and "P-27" not in second
    assert "Issued 2026-01-03 to 2026-01-27" in first
    # a nonsense page number gives a page, not an error
    assert web.get(reverse("invoice-list") + "?page=abc").status_code == 200


def test_invoice_page_shows_sha256_and_size(contact):
    invoice = make_invoice(contact.client)
    html = (
        logged_in(contact).get(reverse("invoice-detail", args=[invoice.public_id])).content.decode()
    )
    assert invoice.pdf_sha256 in html
    assert f"{invoice.pdf_size} bytes" in html
    assert len(invoice.pdf_sha256) == 64
