"""The yearly totals of invoices.models.InvoiceYearTotal, kept in step with the invoices.

Only two events change them: an invoice is issued (counted) and an issued invoice is
voided (no longer counted). Marking paid and voiding a draft change nothing, credit notes
are never counted, and an issued invoice's client, date, currency and total never change.
Both events call ``year_total_apply`` in the transaction that changes the status, so a
total is committed or rolled back together with the invoice.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F

from invoices.models import Invoice, InvoiceKind, InvoiceStatus, InvoiceYearTotal

__all__ = ["COUNTED_STATUSES", "year_total_apply", "year_totals_rebuild"]

# The statuses of invoices that count in the totals (void and drafts do not).
COUNTED_STATUSES = (InvoiceStatus.ISSUED, InvoiceStatus.PAID)


def year_total_apply(*, invoice_pk: int, sign: int) -> None:
    """Count the invoice in its client's yearly total (``sign=1``, when it is issued) or
    take it out again (``sign=-1``, when it is voided). Call after the status UPDATE, in its
    transaction. Refuses any other sign (``ValueError``); ignores credit notes.

    The invoice is read back from the database, not taken from the caller's instance, which
    may be stale; the UPDATE with F() adds to the row atomically, so concurrent issues of
    the same client, year and currency each count once."""
    if sign not in (1, -1):
        raise ValueError("sign must be 1 or -1")
    row = (
        Invoice.objects.filter(pk=invoice_pk)
        .values("kind", "client_id", "issue_date", "currency", "total")
        .get()
    )
    if row["kind"] != InvoiceKind.INVOICE:
        return
    key = {
        "client_id": row["client_id"],
        "year": row["issue_date"].year,
        "currency": row["currency"],
    }
    # get_or_create copes with a concurrent creation of the same row (unique constraint).
    InvoiceYearTotal.objects.get_or_create(**key)
    InvoiceYearTotal.objects.filter(**key).update(
        total=F("total") + sign * row["total"], count=F("count") + sign
    )


def year_totals_rebuild() -> int:
    """Recompute every yearly total from the invoices, in one transaction (docs/invoices.md:
    should a total ever be edited by hand; tests/invoices/test_history_scale.py checks the
    kept totals against it). Returns the number of rows written."""
    with transaction.atomic():
        return _rebuild()


def _rebuild() -> int:
    sums: dict[tuple[int, int, str], list] = {}
    counted = Invoice.objects.filter(
        status__in=COUNTED_STATUSES, kind=InvoiceKind.INVOICE
    ).values_list("client_id", "issue_date", "currency", "total")
    for client_id, issue_date, currency, total in counted.iterator(chunk_size=5000):
        entry = sums.setdefault((client_id, issue_date.year, currency), [Decimal("0"), 0])
        entry[0] += total
        entry[1] += 1
    InvoiceYearTotal.objects.all().delete()
    InvoiceYearTotal.objects.bulk_create(
        [
            InvoiceYearTotal(client_id=c, year=y, currency=cur, total=t, count=n)
            for (c, y, cur), (t, n) in sums.items()
        ],
        batch_size=1000,
    )
    return len(sums)
