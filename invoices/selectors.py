"""Reads for the portal. Every function that returns a client's data takes the contact and
scopes the query to that contact's client in the query itself."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db.models import Q, QuerySet

from audit.models import AuditEvent, EventKind
from clients.models import User
from invoices.models import (
    VISIBLE_STATUSES,
    IntegrityAlert,
    Invoice,
    InvoiceYearTotal,
)

__all__ = [
    "HISTORY_PAGE_SIZE",
    "HistoryPage",
    "YearTotal",
    "integrity_alerts_open",
    "invoice_downloads_for_contact",
    "invoice_get_for_contact",
    "invoice_history_page",
    "invoice_list_for_contact",
    "invoice_year_totals_for_contact",
]


def _visible(contact: User) -> QuerySet[Invoice]:
    if contact.client_id is None:
        return Invoice.objects.none()
    return Invoice.objects.filter(
        client_id=contact.client_id, client__is_active=True, status__in=VISIBLE_STATUSES
    )


def invoice_list_for_contact(*, contact: User) -> QuerySet[Invoice]:
    """The contact's client's issued, paid and void invoices, newest first. Drafts never."""
    return _visible(contact).order_by("-issue_date", "-id")


HISTORY_PAGE_SIZE = 25


@dataclass(frozen=True)
class HistoryPage:
    """One page of a client's history, newest first, and whether there is more either way.
    The links to the neighbouring pages name the first and the last invoice shown."""

    invoices: list[Invoice]
    has_newer: bool
    has_older: bool


def invoice_history_page(
    *,
    contact: User,
    older_than: UUID | None = None,
    newer_than: UUID | None = None,
    oldest: bool = False,
    size: int = HISTORY_PAGE_SIZE,
) -> HistoryPage | None:
    """A page of the contact's client's history: the newest ``size`` invoices; with
    ``older_than`` the ``size`` after that invoice, with ``newer_than`` the ``size`` before
    it (or the first page when fewer are left), with ``oldest`` the last page.

    Pages are found by seeking in the (client, issue date, id) index from the named
    invoice, never by counting and skipping rows, so a page of a client with 10,000
    invoices costs what a page of a client with 10 does (docs/performance.md).
    Refuses (``None``) a cursor that is not a listed invoice of the contact's client:
    unknown and foreign ids alike. Give at most one of the three.
    """
    if (older_than is not None) + (newer_than is not None) + oldest > 1:
        raise ValueError("at most one of older_than, newer_than and oldest")
    listed = invoice_list_for_contact(contact=contact)
    if oldest:
        rows = list(listed.reverse()[: size + 1])
        return HistoryPage(rows[:size][::-1], has_newer=len(rows) > size, has_older=False)
    cursor = older_than or newer_than
    if cursor is None:
        rows = list(listed[: size + 1])
        return HistoryPage(rows[:size], has_newer=False, has_older=len(rows) > size)
    anchor = listed.filter(public_id=cursor).values("issue_date", "id").first()
    if anchor is None:
        return None
    day, pk = anchor["issue_date"], anchor["id"]
    if older_than is not None:
        # "issue_date <= day" bounds the index range; the Q picks the rows after the anchor.
        after = listed.filter(Q(issue_date__lt=day) | Q(id__lt=pk), issue_date__lte=day)
        rows = list(after[: size + 1])
        return HistoryPage(rows[:size], has_newer=True, has_older=len(rows) > size)
    before = listed.filter(Q(issue_date__gt=day) | Q(id__gt=pk), issue_date__gte=day)
    rows = list(before.reverse()[: size + 1])
    if len(rows) <= size:
        # Back at the top: the full first page rather than a short one above the anchor.
        return invoice_history_page(contact=contact, size=size)
    return HistoryPage(rows[:size][::-1], has_newer=True, has_older=True)


def invoice_get_for_contact(*, contact: User, public_id: UUID) -> Invoice | None:
    """One invoice of the contact's client, or ``None`` for unknown and foreign ids alike."""
    return _visible(contact).filter(public_id=public_id).first()


@dataclass(frozen=True)
class YearTotal:
    year: int
    currency: str
    total: Decimal
    count: int


def invoice_year_totals_for_contact(*, contact: User) -> list[YearTotal]:
    """Invoiced totals per issue year and currency; void invoices and credit notes do not
    count (a credit note's amount is shown on its own page). Read from the totals the
    services keep when they issue and void (invoices/services/totals.py): a few rows,
    however many invoices the client has. Nothing for an inactive client."""
    if contact.client_id is None:
        return []
    rows = InvoiceYearTotal.objects.filter(
        client_id=contact.client_id, client__is_active=True, count__gt=0
    ).order_by("-year", "currency")
    return [YearTotal(r.year, r.currency, r.total, r.count) for r in rows]


def invoice_downloads_for_contact(*, contact: User, invoice: Invoice) -> QuerySet[AuditEvent]:
    """Downloads of ``invoice`` (by anyone of the client), if it is the contact's client's."""
    if contact.client_id is None or invoice.client_id != contact.client_id:
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(
        invoice=invoice, kind=EventKind.DOWNLOAD, invoice__client_id=contact.client_id
    ).order_by("-occurred_at")


def integrity_alerts_open() -> list[IntegrityAlert]:
    """Staff only: every open checksum alert with its invoice and client, oldest first.
    Never for a client's page."""
    return list(
        IntegrityAlert.objects.filter(resolved_at__isnull=True)
        .select_related("invoice__client")
        .order_by("detected_at", "id")
    )
