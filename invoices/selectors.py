"""Reads for the portal. Every function that returns a client's data takes the contact and
scopes the query to that contact's client in the query itself."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import ExtractYear

from audit.models import AuditEvent, EventKind
from clients.models import User
from invoices.models import (
    VISIBLE_STATUSES,
    IntegrityAlert,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
)

__all__ = [
    "YearTotal",
    "integrity_alerts_open",
    "invoice_downloads_for_contact",
    "invoice_get_for_contact",
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
    count (a credit note's amount is shown on its own page)."""
    rows = (
        _visible(contact)
        .exclude(status=InvoiceStatus.VOID)
        .exclude(kind=InvoiceKind.CREDIT_NOTE)
        .annotate(year=ExtractYear("issue_date"))
        .values("year", "currency")
        .annotate(total=Sum("total"), count=Count("id"))
        .order_by("-year", "currency")
    )
    return [YearTotal(r["year"], r["currency"], r["total"], r["count"]) for r in rows]


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
