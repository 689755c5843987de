"""Month-end: many invoices from one file, checked as a whole, then issued one by one.

``batch_check`` writes nothing and refuses the whole batch if any invoice is wrong, so that a
bad file never leaves half a month issued. ``batch_issue`` then issues each checked invoice
in its own transaction, in order, and stops at the first failure: numbers stay gapless, the
invoices before it stay issued, and nothing of the failed one remains. The caller (today
`manage.py issue_invoices`) reads the file with ``invoices.lineitems``, reports progress and
sends the queued emails afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from business.services import profile_get
from clients.models import Client
from clients.selectors import contact_by_email
from invoices.lineitems import BatchItem, LineItemError, date_read
from invoices.models import Invoice
from invoices.money import LineInput
from invoices.services.core import InvoiceError
from invoices.services.generation import draft_check, draft_create, invoice_issue

__all__ = ["BatchInvalid", "BatchOutcome", "ReadyInvoice", "batch_check", "batch_issue"]


class BatchInvalid(InvoiceError):
    """The batch was refused before anything was stored; ``errors`` lists every reason."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class ReadyInvoice:
    """A checked invoice, ready to be issued."""

    label: str
    client: Client
    issue_date: dt.date
    due_date: dt.date
    currency: str
    lines: list[LineInput]


@dataclass(frozen=True)
class BatchOutcome:
    """What ``batch_issue`` did: the invoices issued, in order, and if it stopped early the
    position (0-based, in the list it was given) and the error of the one that failed."""

    issued: list[Invoice]
    failed_at: int | None = None
    error: Exception | None = None


def _date(raw: str, where: str, errors: list[str]) -> dt.date | None:
    try:
        return date_read(raw, where)
    except LineItemError as exc:
        errors.append(str(exc))
        return None


def batch_check(
    *, items: Iterable[BatchItem], default_issued: dt.date, read_errors: Sequence[str] = ()
) -> list[ReadyInvoice]:
    """Every item checked as ``draft_create`` would (a contact with its email, dates,
    currency, every line), without writing anything; an item without an issue date gets
    ``default_issued``. Refuses (``BatchInvalid``) with every error found, ``read_errors``
    (from reading the file) first, each naming its invoice and row or line."""
    profile = profile_get()
    contacts: dict[str, Any] = {}
    ready: list[ReadyInvoice] = []
    errors = list(read_errors)
    for item in items:
        before = len(errors)
        email = item.email.lower()
        if not item.email:
            errors.append(f"{item.label}: client_email is missing.")
        elif email not in contacts:
            contacts[email] = contact_by_email(email=item.email)
        contact = contacts.get(email)
        if item.email and contact is None:
            errors.append(f"{item.label}: no client contact with the email {email}.")
        issue_date = _date(item.issued, item.label, errors) or default_issued
        due_date = _date(item.due, item.label, errors)
        if not item.lines_ok:
            continue
        try:
            currency, due_date = draft_check(
                lines=item.lines,
                issue_date=issue_date,
                due_date=due_date,
                currency=item.currency or None,
                profile=profile,
            )
        except InvoiceError as exc:
            errors.append(f"{item.label}: {exc}")
        if len(errors) == before:
            ready.append(
                ReadyInvoice(item.label, contact.client, issue_date, due_date, currency, item.lines)
            )
    if errors:
        raise BatchInvalid(errors)
    return ready


def batch_issue(
    *,
    ready: Sequence[ReadyInvoice],
    send_now: bool = False,
    on_issued: Callable[[Invoice], None] | None = None,
) -> BatchOutcome:
    """Issue each checked invoice in its own transaction (its draft, number, PDF and audit
    record stored together or not at all), in order; ``on_issued`` is called after each.

    Refuses nothing up front (check with ``batch_check`` first) but stops at the first
    invoice that fails for any reason (a full disk, a number taken meanwhile) and reports
    it in the outcome instead of raising, so that the caller can say how to go on.
    With ``send_now`` False (the default) the "a document is waiting" emails are only
    queued: the caller sends the queue once everything is issued (``send_due``)."""
    issued: list[Invoice] = []
    for position, item in enumerate(ready):
        try:
            with transaction.atomic():
                draft = draft_create(
                    client=item.client,
                    lines=item.lines,
                    issue_date=item.issue_date,
                    due_date=item.due_date,
                    currency=item.currency,
                )
                invoice = invoice_issue(invoice=draft, send_now=send_now)
        except Exception as exc:  # any failure stops the batch and is reported
            return BatchOutcome(issued=issued, failed_at=position, error=exc)
        issued.append(invoice)
        if on_issued is not None:
            on_issued(invoice)
    return BatchOutcome(issued=issued)
