"""Invoices made in the portal: drafts from line items, gapless numbering, the reportlab PDF,
issuing (which freezes the invoice) and credit notes.

An issued invoice is never re-rendered or edited: issuing renders the final PDF once,
stores it with its SHA-256 and from then on only the stored bytes are served.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import EventKind
from audit.services import audit_record
from business.models import BusinessProfile
from business.services import profile_get
from clients.models import Client
from invoices import pdf, storage
from invoices.models import (
    CURRENCY_VALIDATOR,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSource,
    InvoiceStatus,
    NumberSequence,
)
from invoices.money import LineInput, Totals, compute_totals
from invoices.services.core import InvoiceError, StorageError, announce_issued, upload_issue
from invoices.services.totals import year_total_apply

__all__ = [
    "credit_note_create",
    "document_for",
    "draft_check",
    "draft_create",
    "draft_preview_pdf",
    "draft_recompute",
    "invoice_issue",
    "next_number",
]

MAX_LINES = 1000


def _check_lines(lines: Sequence[LineInput]) -> None:
    if not lines:
        raise InvoiceError("An invoice needs at least one line.")
    if len(lines) > MAX_LINES:
        raise InvoiceError(f"An invoice can have at most {MAX_LINES} lines.")
    for number, line in enumerate(lines, start=1):
        if not line.description.strip():
            raise InvoiceError(f"Line {number}: the description is empty.")
        if line.quantity < 0 or line.unit_price < 0:
            raise InvoiceError(f"Line {number}: quantity and unit price cannot be negative.")
        if not Decimal(0) <= line.tax_rate <= Decimal(100):
            raise InvoiceError(f"Line {number}: the tax rate must be between 0 and 100.")
        for value, what, limit in (
            (line.quantity, "quantity", Decimal("1e10")),
            (line.unit_price, "unit price", Decimal("1e14")),
            (line.tax_rate, "tax rate", Decimal("1e3")),
        ):
            places = 2 if what == "tax rate" else 4
            if (
                not value.is_finite()
                or value >= limit
                or value != value.quantize(Decimal(1).scaleb(-places))
            ):
                raise InvoiceError(
                    f"Line {number}: the {what} needs fewer digits (at most {places} decimals, "
                    f"below {limit:,.0f})."
                )


def _line_inputs(invoice: Invoice) -> list[LineInput]:
    return [
        LineInput(
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            unit=line.unit,
        )
        for line in invoice.lines.all()
    ]


def draft_check(
    *,
    lines: Sequence[LineInput],
    issue_date: dt.date,
    due_date: dt.date | None = None,
    currency: str | None = None,
    profile: BusinessProfile | None = None,
) -> tuple[str, dt.date]:
    """The currency and due date a draft of ``lines`` would get (the profile's defaults
    filling in what is not given), reading nothing but the profile and writing nothing.
    Refuses (``InvoiceError``) an invalid currency, bad lines (naming the line) and a due
    date before the issue date: a batch is checked with this before anything is stored."""
    profile = profile or profile_get()
    currency = (currency or profile.default_currency).upper()
    try:
        CURRENCY_VALIDATOR(currency)
    except Exception:
        raise InvoiceError(f"{currency!r} is not a three-letter currency code.") from None
    _check_lines(lines)
    due_date = due_date or issue_date + dt.timedelta(days=profile.payment_terms_days)
    if due_date < issue_date:
        raise InvoiceError("The due date cannot be before the issue date.")
    return currency, due_date


def draft_create(
    *,
    client: Client,
    lines: Sequence[LineInput],
    issue_date: dt.date,
    due_date: dt.date | None = None,
    currency: str | None = None,
    kind: str = InvoiceKind.INVOICE,
    credited_invoice: Invoice | None = None,
    by: object | None = None,
    request: HttpRequest | None = None,
) -> Invoice:
    """A draft made from ``lines``; refuses what ``draft_check`` refuses, and stores nothing
    then. The number is given when it is issued."""
    currency, due_date = draft_check(
        lines=lines, issue_date=issue_date, due_date=due_date, currency=currency
    )
    totals = compute_totals(lines, currency)
    with transaction.atomic():
        invoice = Invoice.objects.create(
            client=client,
            kind=kind,
            source=InvoiceSource.GENERATED,
            credited_invoice=credited_invoice,
            issue_date=issue_date,
            due_date=due_date,
            currency=currency,
            total=totals.total,
            subtotal=totals.subtotal,
            tax_total=totals.tax_total,
            created_by=by,
        )
        InvoiceLine.objects.bulk_create(
            InvoiceLine(
                invoice=invoice,
                position=i,
                description=line.description,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
            )
            for i, line in enumerate(lines)
        )
        audit_record(
            kind=EventKind.INVOICE_CREATED,
            request=request,
            actor=by,
            client=client,
            invoice=invoice,
        )
    return invoice


def draft_recompute(*, invoice: Invoice) -> Totals:
    """Store the totals of a draft's current lines (after the admin edited them)."""
    totals = compute_totals(_line_inputs(invoice), invoice.currency)
    Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.DRAFT).update(
        total=totals.total, subtotal=totals.subtotal, tax_total=totals.tax_total
    )
    invoice.total, invoice.subtotal, invoice.tax_total = (
        totals.total,
        totals.subtotal,
        totals.tax_total,
    )
    return totals


def next_number(*, series: str, pattern: str, year: int) -> tuple[str, int]:
    """The next free number of ``series`` in ``year``. Call inside a transaction: the
    sequence row stays locked until it commits, so concurrent issues queue up, and a
    rollback gives the number back (no gaps). Numbers taken by uploaded invoices are skipped."""
    NumberSequence.objects.bulk_create(
        [NumberSequence(series=series, year=year, last=0)], ignore_conflicts=True
    )
    sequence = NumberSequence.objects.select_for_update().get(series=series, year=year)
    while True:
        sequence.last += 1
        number = pattern.format(year=year, seq=sequence.last)
        if not Invoice.objects.filter(number=number).exists():
            break
    sequence.save(update_fields=["last"])
    return number, sequence.last


def document_for(
    invoice: Invoice, profile: BusinessProfile, *, number: str, reference: str, draft: bool
) -> pdf.InvoiceDocument:
    """The PDF's input for ``invoice``: data only, so pdf.py never touches the ORM."""
    lines = tuple(_line_inputs(invoice))
    client = invoice.client
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE
    note = ""
    if credit and invoice.credited_invoice_id:
        note = f"Credits invoice {invoice.credited_invoice.number}"
    return pdf.InvoiceDocument(
        title="Credit note" if credit else "Invoice",
        number=number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        currency=invoice.currency,
        seller=pdf.Party(profile.business_name, profile.address, profile.tax_id, profile.email),
        buyer=pdf.Party(client.name, client.address, client.tax_id, client.billing_email),
        lines=lines,
        totals=compute_totals(lines, invoice.currency),
        payment=pdf.PaymentDetails()
        if credit
        else pdf.PaymentDetails(
            account_holder=profile.account_holder,
            iban=profile.iban,
            bic=profile.bic,
            account_number=profile.account_number,
            reference=reference,
        ),
        footer=profile.footer_text,
        logo=bytes(profile.logo) if profile.logo else None,
        note=note,
        draft=draft,
    )


def draft_preview_pdf(*, invoice: Invoice) -> bytes:
    """The draft rendered with a DRAFT watermark and no number; nothing is stored."""
    if invoice.source != InvoiceSource.GENERATED or invoice.status != InvoiceStatus.DRAFT:
        raise InvoiceError("Only drafts made from line items have a preview.")
    doc = document_for(invoice, profile_get(), number="(draft)", reference="", draft=True)
    return pdf.render_invoice(doc)


def _issue_generated(
    *, invoice: Invoice, by: object | None, request: HttpRequest | None, send_now: bool
) -> Invoice:
    profile = profile_get()
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE
    stored = None
    try:
        with transaction.atomic():
            locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
            if locked.status != InvoiceStatus.DRAFT:
                raise InvoiceError(
                    f"{locked} is {locked.get_status_display().lower()}, not a draft."
                )
            if not locked.lines.exists():
                raise InvoiceError(f"{locked} has no lines.")
            year = locked.issue_date.year
            pattern = profile.credit_note_pattern if credit else profile.number_pattern
            number, seq = next_number(series=locked.kind, pattern=pattern, year=year)
            reference = (
                ""
                if credit
                else profile.payment_reference_pattern.format(number=number, year=year, seq=seq)
            )
            doc = document_for(locked, profile, number=number, reference=reference, draft=False)
            stored = storage.store_pdf([pdf.render_invoice(doc)], max_bytes=2**31)
            totals = doc.totals
            Invoice.objects.filter(pk=locked.pk, status=InvoiceStatus.DRAFT).update(
                number=number,
                status=InvoiceStatus.ISSUED,
                issued_at=timezone.now(),
                total=totals.total,
                subtotal=totals.subtotal,
                tax_total=totals.tax_total,
                payment_reference=reference,
                pdf_name=stored.name,
                pdf_sha256=stored.sha256,
                pdf_size=stored.size,
            )
            year_total_apply(invoice_pk=locked.pk, sign=1)
            invoice.refresh_from_db()
            audit_record(
                kind=EventKind.INVOICE_ISSUED,
                request=request,
                actor=by,
                client=invoice.client,
                invoice=invoice,
            )
            announce_issued(invoice, send_now=send_now)
    except BaseException as exc:
        if stored is not None:
            storage.delete_pdf(stored.name)
        if isinstance(exc, IntegrityError):
            raise InvoiceError("The number is already in use; check the number pattern.") from None
        if isinstance(exc, storage.StorageUnavailable):
            raise StorageError(str(exc)) from exc
        raise
    return invoice


def invoice_issue(
    *,
    invoice: Invoice,
    by: object | None = None,
    request: HttpRequest | None = None,
    send_now: bool = True,
) -> Invoice:
    """Issue a draft, uploaded or generated. A generated one gets its number, its final PDF
    (stored with its SHA-256) and is frozen; refuses anything but a draft. The "a document
    is waiting" emails are queued once the issue commits and, with ``send_now`` (the
    default), sent at once; a batch passes False and sends the queue at the end."""
    if invoice.source == InvoiceSource.GENERATED:
        return _issue_generated(invoice=invoice, by=by, request=request, send_now=send_now)
    return upload_issue(invoice=invoice, by=by, request=request, send_now=send_now)


def credit_note_create(
    *, original: Invoice, by: object | None = None, request: HttpRequest | None = None
) -> Invoice:
    """A draft credit note for an issued or paid invoice: its lines copied (or, for an
    uploaded invoice, one line for the whole total at 0 % tax), for the consultant to adjust
    before issuing. The original stays as it was issued."""
    if (
        original.status not in (InvoiceStatus.ISSUED, InvoiceStatus.PAID)
        or original.kind != InvoiceKind.INVOICE
    ):
        raise InvoiceError("Only issued or paid invoices can be credited.")
    lines = _line_inputs(original) or [
        LineInput(f"Credit for invoice {original.number}", Decimal(1), original.total, Decimal(0))
    ]
    note = draft_create(
        client=original.client,
        lines=lines,
        issue_date=timezone.localdate(),
        due_date=timezone.localdate(),
        currency=original.currency,
        kind=InvoiceKind.CREDIT_NOTE,
        credited_invoice=original,
        by=by,
        request=request,
    )
    audit_record(
        kind=EventKind.CREDIT_NOTE_CREATED,
        request=request,
        actor=by,
        client=original.client,
        invoice=note,
        detail=f"credits {original.number}",
    )
    return note
