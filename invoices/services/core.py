"""Writes for invoices: create, issue, mark paid, void, links, downloads.

Issued invoices are immutable: nothing here changes an issued invoice's data or file; a
correction is a new invoice (or, with issue #4, a credit note).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import EventKind
from audit.services import audit_record
from clients.models import Client
from invoices import storage
from invoices.models import (
    CURRENCY_VALIDATOR,
    NUMBER_VALIDATOR,
    DownloadLink,
    Invoice,
    InvoiceStatus,
)
from invoices.money import minor_units, quantize
from invoices.services.integrity import integrity_failure_record
from invoices.services.totals import COUNTED_STATUSES, year_total_apply
from invoices.signals import invoice_issued
from invoices.tokens import link_find, link_mint, link_take

__all__ = [
    "InvoiceError",
    "ServedDownload",
    "StorageError",
    "download_begin",
    "invoice_create",
    "invoice_mark_paid",
    "invoice_void",
    "link_create",
    "link_revoke",
    "upload_issue",
]

logger = logging.getLogger(__name__)


class InvoiceError(ValueError):
    """A refused write; the message is safe to show to the consultant."""


class StorageError(InvoiceError):
    """The private file store refused the write (read-only or full disk): an outage of
    the server, not a fault of the upload. Nothing was saved."""


def _validate_fields(
    *, number: str, issue_date: dt.date, due_date: dt.date, total: Decimal, currency: str
) -> None:
    try:
        NUMBER_VALIDATOR(number)
        CURRENCY_VALIDATOR(currency)
    except ValidationError as exc:
        raise InvoiceError(" ".join(exc.messages)) from None
    if total < 0:
        raise InvoiceError("The total cannot be negative.")
    places = minor_units(currency)
    if total != quantize(total, currency) or abs(total) >= Decimal("1e12"):
        raise InvoiceError(
            f"The total needs at most {places} decimal places for {currency} "
            "and 12 digits before them."
        )
    if due_date < issue_date:
        raise InvoiceError("The due date cannot be before the issue date.")


def invoice_create(
    *,
    client: Client,
    number: str,
    issue_date: dt.date,
    due_date: dt.date,
    total: Decimal,
    currency: str,
    pdf: BinaryIO,
    original_filename: str = "",
    created_by: object | None = None,
    issue: bool = False,
    request: HttpRequest | None = None,
) -> Invoice:
    """Store ``pdf`` privately and create a draft (or, with ``issue``, an issued) invoice.

    Refuses (``InvoiceError``) invalid fields, a duplicate number, and any file that
    storage refuses (not a PDF, encrypted, truncated, over the size cap). On any refusal
    nothing is left behind: no row and no file. A store that cannot be written (read-only,
    full) raises ``StorageError``, an ``InvoiceError``, also audited as a refused upload.
    """
    _validate_fields(
        number=number, issue_date=issue_date, due_date=due_date, total=total, currency=currency
    )
    if Invoice.objects.filter(number=number).exists():
        raise InvoiceError(f"An invoice numbered {number} already exists.")
    try:
        stored = storage.store_pdf_file(pdf, max_bytes=settings.MAX_UPLOAD_BYTES)
    except storage.PdfRejected as exc:
        audit_record(kind=EventKind.UPLOAD_REFUSED, request=request, client=client, detail=str(exc))
        raise InvoiceError(str(exc)) from None
    except storage.StorageUnavailable as exc:
        logger.error("invoice upload refused, the store is not writable: %s", exc.__cause__)
        audit_record(kind=EventKind.UPLOAD_REFUSED, request=request, client=client, detail=str(exc))
        raise StorageError(str(exc)) from exc
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                client=client,
                number=number,
                issue_date=issue_date,
                due_date=due_date,
                total=total,
                currency=currency,
                pdf_name=stored.name,
                pdf_sha256=stored.sha256,
                pdf_size=stored.size,
                original_filename=original_filename[:255],
                created_by=created_by,
            )
            audit_record(
                kind=EventKind.INVOICE_CREATED,
                request=request,
                actor=created_by,
                client=client,
                invoice=invoice,
            )
            if issue:
                upload_issue(invoice=invoice, by=created_by, request=request)
    except IntegrityError:
        storage.delete_pdf(stored.name)
        raise InvoiceError(f"An invoice numbered {number} already exists.") from None
    except BaseException:
        storage.delete_pdf(stored.name)
        raise
    return invoice


def _transition(
    *,
    invoice: Invoice,
    allowed: tuple[str, ...],
    changes: dict[str, object],
    kind: str,
    refusal: str,
    by: object | None,
    request: HttpRequest | None,
    send_now: bool = True,
) -> Invoice:
    """Move ``invoice`` to a new status only if it is still in one of ``allowed``.

    The status check is part of the UPDATE, so two staff members acting at once cannot
    bring a voided invoice back (the loser gets ``InvoiceError``, nothing changes).
    """
    with transaction.atomic():
        # Two UPDATEs, each with its own status check, tell whether the invoice was counted
        # in its year's total before (issued or paid) without a read that could go stale.
        rows = Invoice.objects.filter(pk=invoice.pk)
        counted = [s for s in allowed if s in COUNTED_STATUSES]
        uncounted = [s for s in allowed if s not in COUNTED_STATUSES]
        was_counted = rows.filter(status__in=counted).update(**changes) if counted else 0
        moved = was_counted or (
            rows.filter(status__in=uncounted).update(**changes) if uncounted else 0
        )
        if moved != 1:
            invoice.refresh_from_db(fields=["status"])
            status = invoice.get_status_display().lower()
            raise InvoiceError(refusal.format(number=invoice.number, status=status))
        for field, value in changes.items():
            setattr(invoice, field, value)
        # Issuing counts the invoice in its year's total, voiding an issued one takes it
        # out; paying and voiding a draft change nothing.
        sign = (changes["status"] in COUNTED_STATUSES) - was_counted
        if sign:
            year_total_apply(invoice_pk=invoice.pk, sign=sign)
        if invoice.status == InvoiceStatus.VOID:
            invoice.links.filter(revoked_at__isnull=True).update(revoked_at=invoice.voided_at)
        audit_record(kind=kind, request=request, actor=by, client=invoice.client, invoice=invoice)
        if invoice.status == InvoiceStatus.ISSUED:
            announce_issued(invoice, send_now=send_now)
    return invoice


def announce_issued(invoice: Invoice, *, send_now: bool = True) -> None:
    """Tell listeners (notifications) once the issuing transaction has committed; with
    ``send_now`` False they queue their messages without sending them (a batch sends the
    queue once everything is issued)."""
    transaction.on_commit(
        lambda: invoice_issued.send(sender=Invoice, invoice=invoice, send_now=send_now)
    )


def upload_issue(
    *,
    invoice: Invoice,
    by: object | None = None,
    request: HttpRequest | None = None,
    send_now: bool = True,
) -> Invoice:
    """Issue an uploaded draft: from now on the client sees it and it can no longer change.
    (Generated invoices are issued by invoices.services.generation.invoice_issue.)"""
    return _transition(
        invoice=invoice,
        allowed=(InvoiceStatus.DRAFT,),
        changes={"status": InvoiceStatus.ISSUED, "issued_at": timezone.now()},
        kind=EventKind.INVOICE_ISSUED,
        refusal="{number} is {status}, not a draft.",
        by=by,
        request=request,
        send_now=send_now,
    )


def invoice_mark_paid(
    *,
    invoice: Invoice,
    paid_on: dt.date,
    by: object | None = None,
    request: HttpRequest | None = None,
) -> Invoice:
    """Mark an issued invoice paid on ``paid_on``; refuses drafts, void and paid ones."""
    return _transition(
        invoice=invoice,
        allowed=(InvoiceStatus.ISSUED,),
        changes={"status": InvoiceStatus.PAID, "paid_on": paid_on},
        kind=EventKind.INVOICE_PAID,
        refusal="{number} is {status}, not issued.",
        by=by,
        request=request,
    )


def invoice_void(
    *, invoice: Invoice, by: object | None = None, request: HttpRequest | None = None
) -> Invoice:
    """Withdraw an issued or draft invoice. Its links stop working at once. Refuses a draft
    made from line items: it has no number and no PDF yet, so there is nothing to withdraw
    (delete the draft instead)."""
    if invoice.number is None or not invoice.pdf_name:
        raise InvoiceError(f"{invoice} has no number yet; delete the draft instead.")
    return _transition(
        invoice=invoice,
        allowed=(InvoiceStatus.DRAFT, InvoiceStatus.ISSUED),
        changes={"status": InvoiceStatus.VOID, "voided_at": timezone.now()},
        kind=EventKind.INVOICE_VOIDED,
        refusal="{number} is {status} and cannot be voided.",
        by=by,
        request=request,
    )


@transaction.atomic  # the link and its audit row, together or not at all
def link_create(
    *,
    invoice: Invoice,
    ttl: dt.timedelta,
    by: object | None = None,
    max_downloads: int | None = None,
    note: str = "",
    request: HttpRequest | None = None,
) -> tuple[DownloadLink, str]:
    """Mint a link for an issued or paid invoice; returns the row and the one-time token."""
    if invoice.status not in (InvoiceStatus.ISSUED, InvoiceStatus.PAID):
        raise InvoiceError(
            f"{invoice.number} is {invoice.get_status_display().lower()}; "
            "only issued or paid invoices get links."
        )
    if ttl <= dt.timedelta(0):
        raise InvoiceError("A link must be valid for some time.")
    link, token = link_mint(
        invoice=invoice, ttl=ttl, created_by=by, max_downloads=max_downloads, note=note
    )
    audit_record(
        kind=EventKind.LINK_CREATED,
        request=request,
        actor=by,
        client=invoice.client,
        invoice=invoice,
        link=link,
        detail=f"valid until {link.expires_at.isoformat()}",
    )
    return link, token


def link_revoke(
    *, link: DownloadLink, by: object | None = None, request: HttpRequest | None = None
) -> bool:
    """Revoke ``link``; returns False if it was already revoked."""
    now = timezone.now()
    if not DownloadLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=now):
        return False
    link.revoked_at = now
    audit_record(
        kind=EventKind.LINK_REVOKED,
        request=request,
        actor=by,
        client=link.invoice.client,
        invoice=link.invoice,
        link=link,
    )
    return True


@dataclass(frozen=True)
class ServedDownload:
    invoice: Invoice
    link: DownloadLink
    handle: BinaryIO


def _stored_file_intact(handle: BinaryIO, invoice: Invoice) -> bool:
    """The file check of a download; a file that cannot be read (EIO from a failing disk)
    counts as damaged: refused, audited and alerted, never a server error."""
    try:
        return storage.content_matches(
            handle, name=invoice.pdf_name, sha256=invoice.pdf_sha256, size=invoice.pdf_size
        )
    except OSError:
        logger.exception("stored file of invoice %s could not be read", invoice.pk)
        return False


def download_begin(*, token: str, request: HttpRequest) -> ServedDownload | None:
    """Authorize and audit one download; returns an open file positioned at 0, or ``None``.

    ``None`` covers every refusal (see ``link_redeem``) and a stored file whose SHA-256 no
    longer matches the one recorded at upload; the latter is audited as an integrity failure
    and raises an alert for staff (``integrity_failure_record``).

    The file is checked before the download is counted, outside any transaction, so no lock
    is held while a file is hashed. Then one short transaction: the link's count and the
    audit row commit together or not at all, so a database that fails in between leaves no
    redemption without its row. The audit row is written before a byte is sent: it records a
    download that began.
    """
    user = request.user
    link = link_find(token=token, client_id=getattr(user, "client_id", None))
    if link is None:
        return None
    invoice = link.invoice
    # One open file for the check and the send: a file renamed over it after the check
    # does not reach the client (docs/security.md, "Checked on every download").
    try:
        handle = storage.open_pdf(invoice.pdf_name)
    except (OSError, ValueError):
        handle = None
    if handle is None or not _stored_file_intact(handle, invoice):
        if handle is not None:
            handle.close()
        integrity_failure_record(invoice=invoice, link=link, request=request)
        return None
    try:
        with transaction.atomic():
            if not link_take(link=link):
                handle.close()
                return None
            audit_record(
                kind=EventKind.DOWNLOAD,
                request=request,
                client=invoice.client,  # loaded with the link: no query for the actor's
                invoice=invoice,
                link=link,
                bytes_sent=invoice.pdf_size,
            )
    except BaseException:
        handle.close()
        raise
    return ServedDownload(invoice=invoice, link=link, handle=handle)
