"""Writes the admin makes on drafts: change, delete, an empty generated draft and its lines;
and the revocation of a user's links after their credentials were reset. Each is audited in
the same transaction, and each touches a draft only while it is still a draft: the status
check is part of the UPDATE or DELETE, so an invoice issued meanwhile by someone else stays
exactly as it was issued."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import EventKind
from audit.services import audit_record
from clients.models import Client
from invoices import storage
from invoices.models import DownloadLink, Invoice, InvoiceLine, InvoiceSource, InvoiceStatus
from invoices.money import Totals
from invoices.services.core import InvoiceError
from invoices.services.generation import draft_recompute

__all__ = [
    "DRAFT_FIELDS",
    "draft_lines_save",
    "generated_draft_create",
    "invoice_draft_delete",
    "invoice_draft_update",
    "links_revoke_for_user",
]

# What may change on a draft; the client never changes (that would hand it to another).
DRAFT_FIELDS = frozenset({"number", "issue_date", "due_date", "total", "currency"})


def invoice_draft_update(
    *,
    actor: Any,
    invoice: Invoice,
    changes: Mapping[str, object],
    request: HttpRequest | None = None,
) -> bool:
    """Change fields of a draft. Returns False, changing nothing, if it is no longer a draft.
    Refuses (``InvoiceError``) a field outside ``DRAFT_FIELDS``."""
    refused = set(changes) - DRAFT_FIELDS
    if refused:
        raise InvoiceError(f"These fields cannot change: {', '.join(sorted(refused))}.")
    if not changes:
        return True
    with transaction.atomic():
        updated = Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.DRAFT).update(
            **changes
        )
        if updated:
            audit_record(
                kind=EventKind.INVOICE_CHANGED,
                request=request,
                actor=actor,
                client=invoice.client,
                invoice=invoice,
                detail="changed: " + ", ".join(sorted(changes)),
            )
    return bool(updated)


def invoice_draft_delete(
    *, actor: Any, invoice: Invoice, request: HttpRequest | None = None
) -> bool:
    """Delete a draft and, once that commits, its stored file. The delete is conditional on
    the status in the database, not on the object in memory: returns False, deleting
    nothing, for an invoice that was issued (or voided) meanwhile."""
    with transaction.atomic():
        row = (
            Invoice.objects.select_for_update()
            .filter(pk=invoice.pk, status=InvoiceStatus.DRAFT)
            .values("pdf_name", "number", "client_id")
            .first()
        )
        if row is None:
            return False
        Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.DRAFT).delete()
        audit_record(
            kind=EventKind.INVOICE_DELETED,
            request=request,
            actor=actor,
            client=Client.objects.filter(pk=row["client_id"]).first(),
            detail=f"draft {row['number'] or invoice.public_id.hex[:8]} deleted",
        )
        if row["pdf_name"]:
            name = row["pdf_name"]
            transaction.on_commit(lambda: storage.delete_pdf(name))
    return True


def generated_draft_create(
    *,
    actor: Any,
    client: Client,
    issue_date: dt.date,
    due_date: dt.date,
    currency: str,
    request: HttpRequest | None = None,
) -> Invoice:
    """An empty draft made from line items (the admin adds its lines next, through
    ``draft_lines_save``). Refuses (``InvoiceError``) a due date before the issue date."""
    if due_date < issue_date:
        raise InvoiceError("The due date cannot be before the issue date.")
    with transaction.atomic():
        invoice = Invoice.objects.create(
            client=client,
            source=InvoiceSource.GENERATED,
            status=InvoiceStatus.DRAFT,
            issue_date=issue_date,
            due_date=due_date,
            currency=currency,
            total=0,
            created_by=actor,
        )
        audit_record(
            kind=EventKind.INVOICE_CREATED,
            request=request,
            actor=actor,
            client=client,
            invoice=invoice,
            detail="draft from line items",
        )
    return invoice


def draft_lines_save(
    *,
    actor: Any,
    invoice: Invoice,
    saved: Sequence[InvoiceLine],
    deleted: Sequence[InvoiceLine],
    request: HttpRequest | None = None,
) -> Totals | None:
    """Save and delete lines of a draft and store its new totals. Returns None, writing
    nothing, once the invoice is no longer a draft (its lines are frozen with it)."""
    with transaction.atomic():
        if (
            not Invoice.objects.select_for_update()
            .filter(pk=invoice.pk, status=InvoiceStatus.DRAFT)
            .exists()
        ):
            return None
        for line in saved:
            line.invoice_id = invoice.pk
            line.save()
        for line in deleted:
            if line.pk is not None and line.invoice_id == invoice.pk:
                line.delete()
        totals = draft_recompute(invoice=invoice)
        if saved or deleted:
            audit_record(
                kind=EventKind.INVOICE_CHANGED,
                request=request,
                actor=actor,
                client=invoice.client,
                invoice=invoice,
                detail=f"lines: {len(saved)} added or changed, {len(deleted)} removed",
            )
    return totals


def links_revoke_for_user(
    *, user: Any, actor: Any = None, request: HttpRequest | None = None
) -> int:
    """Revoke every open link ``user`` made (after their credentials were reset); one audit
    row per link, as for a revocation in the admin. Returns how many were revoked."""
    now = timezone.now()
    count = 0
    with transaction.atomic():
        links = DownloadLink.objects.filter(created_by=user, revoked_at__isnull=True)
        for link in links.select_related("invoice__client"):
            if DownloadLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
                revoked_at=now
            ):
                count += 1
                audit_record(
                    kind=EventKind.LINK_REVOKED,
                    request=request,
                    actor=actor,
                    actor_email="" if actor else "password reset",
                    client=link.invoice.client,
                    invoice=link.invoice,
                    link=link,
                    detail=f"credentials of {user.email} were reset",
                )
    return count
