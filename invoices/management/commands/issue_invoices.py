"""`manage.py issue_invoices FILE`: month-end, many invoices from one file in one go."""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from business.services import profile_get
from clients.selectors import contact_by_email
from invoices.management.commands.create_invoice import line_from_row
from invoices.management.progress import Progress
from invoices.money import LineInput, format_amount
from invoices.services import InvoiceError, draft_check, draft_create, invoice_issue
from notifications.services import send_due, sending_deferred

INVOICE_FIELDS = ("client_email", "issued", "due", "currency")
MAX_ERRORS_SHOWN = 50

HELP = """Issue many invoices made from line items, from one JSON or CSV file (month-end).

JSON: a list of objects, one per invoice:
  [{"client_email": "ap@acme.example", "issued": "2026-11-30", "due": "2026-12-30",
    "currency": "EUR", "lines": [{"description": "Consulting", "quantity": "12",
    "unit": "h", "unit_price": "120.00", "tax_rate": "19"}]}, ...]
CSV: one row per line item, with the header
  invoice,client_email,issued,due,currency,description,quantity,unit,unit_price,tax_rate
  where rows with the same "invoice" label make one invoice (its client and dates are
  taken from its first row and must not differ on the others).
"issued" defaults to --issued (default today), "due" to the payment terms of the business
profile, "currency" to its default currency.

1. Everything is checked first (contacts, dates, currencies, every line). If anything is
   wrong, every error is listed, naming the invoice and the row or line, and nothing is
   stored.
2. Then each invoice is issued in its own transaction, in file order: numbered without
   gaps, its PDF rendered and stored. If one fails nonetheless (e.g. the disk is full),
   nothing of that invoice remains, the ones before it stay issued, and the command stops
   and says how to go on with --start.
3. Then the "a document is waiting" emails are sent (to every active contact of each
   client); any that fail stay queued for `send_pending_notifications`.

Progress goes to stderr: a bar on a terminal, otherwise a count line every --every
invoices. The summary goes to stdout."""


@dataclass(frozen=True)
class BatchItem:
    label: str  # how errors name it: "Invoice 3" or "Invoice 'A-17' (rows 4-6)"
    email: str
    issued: str
    due: str
    currency: str
    lines: list[LineInput]
    lines_ok: bool  # False when a line could not be read (its error is listed already)


def _read_json(text: str, path: Path) -> tuple[list[BatchItem], list[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise CommandError(f"{path} must hold a list of objects, one per invoice.")
    items, errors = [], []
    for n, entry in enumerate(data, start=1):
        label = f"Invoice {n}"
        rows = entry.get("lines")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            errors.append(f"{label}: 'lines' must be a list of objects.")
            continue
        lines, before = [], len(errors)
        for i, row in enumerate(rows, start=1):
            try:
                lines.append(line_from_row(row, f"{label}, line {i}"))
            except CommandError as exc:
                errors.append(str(exc))
        items.append(_item(label, entry, lines, lines_ok=len(errors) == before))
    return items, errors


def _read_csv(text: str, path: Path) -> tuple[list[BatchItem], list[str]]:
    reader = csv.DictReader(text.splitlines())
    need = {"invoice", "client_email", "description", "quantity", "unit_price"}
    missing = need - set(reader.fieldnames or [])
    if missing:
        raise CommandError(f"{path} lacks the column(s): {', '.join(sorted(missing))}.")
    groups: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for n, row in enumerate(reader, start=2):  # row 1 is the header
        groups[(row.get("invoice") or "").strip()].append((n, row))
    items, errors = [], []
    for key, rows in groups.items():
        first_row, first = rows[0]
        label = f"Invoice {key!r} (rows {first_row}-{rows[-1][0]})"
        if not key:
            errors.append(f"Rows {', '.join(str(n) for n, _ in rows)}: the invoice label is empty.")
            continue
        lines, before = [], len(errors)
        for n, row in rows:
            for field in INVOICE_FIELDS:
                if (row.get(field) or "").strip() not in ("", (first.get(field) or "").strip()):
                    errors.append(f"Row {n}: {field} differs from row {first_row} of {key!r}.")
            try:
                lines.append(line_from_row(row, f"Row {n}"))
            except CommandError as exc:
                errors.append(str(exc))
        items.append(_item(label, first, lines, lines_ok=len(errors) == before))
    return items, errors


def _item(label: str, entry: dict, lines: list[LineInput], *, lines_ok: bool) -> BatchItem:
    return BatchItem(
        label=label,
        email=str(entry.get("client_email") or "").strip(),
        issued=str(entry.get("issued") or "").strip(),
        due=str(entry.get("due") or "").strip(),
        currency=str(entry.get("currency") or "").strip(),
        lines=lines,
        lines_ok=lines_ok,
    )


def _raise_if(errors: list[str]) -> None:
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = len(errors) - len(shown)
        tail = [f"... and {more} more."] if more else []
        raise CommandError(
            "Nothing was stored. Fix these and run again:\n" + "\n".join(shown + tail)
        )


def _date(raw: str, label: str, errors: list[str]) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(f"{label}: {raw!r} is not a date; use YYYY-MM-DD.")
        return None


@dataclass(frozen=True)
class Ready:
    """A checked invoice, ready to be issued."""

    label: str
    client: Any
    issue_date: dt.date
    due_date: dt.date
    currency: str
    lines: list[LineInput]


def check_batch(items: list[BatchItem], default_issued: dt.date, errors: list[str]) -> list[Ready]:
    """Every item checked as ``draft_create`` would, without writing anything; refuses
    (``CommandError``) with every error found, those already in ``errors`` (from reading
    the file) first, each naming its invoice and row or line."""
    profile = profile_get()
    contacts: dict[str, Any] = {}
    ready, errors = [], list(errors)
    for item in items:
        before = len(errors)
        if not item.email:
            errors.append(f"{item.label}: client_email is missing.")
        elif item.email.lower() not in contacts:
            contacts[item.email.lower()] = contact_by_email(email=item.email)
        contact = contacts.get(item.email.lower())
        if item.email and contact is None:
            errors.append(f"{item.label}: no client contact with the email {item.email.lower()}.")
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
                Ready(item.label, contact.client, issue_date, due_date, currency, item.lines)
            )
    _raise_if(errors)
    return ready


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter  # keep HELP's layout
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The JSON or CSV file (format above).")
        parser.add_argument(
            "--issued", help="Issue date for invoices that give none, YYYY-MM-DD (default today)."
        )
        parser.add_argument(
            "--start",
            type=int,
            default=1,
            help="Begin with the N-th invoice of the file (after a stop: the number it printed).",
        )
        parser.add_argument(
            "--check", action="store_true", help="Only check the file; store nothing."
        )
        parser.add_argument(
            "--every",
            type=int,
            default=100,
            help="Without a terminal, a progress line every N invoices (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        errors: list[str] = []
        default_issued = _date(options["issued"] or "", "--issued", errors)
        _raise_if(errors)
        reader = _read_json if path.suffix.lower() == ".json" else _read_csv
        items, errors = reader(text, path)
        if not items:
            _raise_if(errors)
            raise CommandError(f"{path} holds no invoices.")
        start = options["start"]
        if not 1 <= start <= len(items):
            raise CommandError(f"--start must be between 1 and {len(items)}.")
        # Errors in rows before --start are still errors: the file is read as a whole.
        ready = check_batch(items[start - 1 :], default_issued or timezone.localdate(), errors)
        if options["check"]:
            self.stdout.write(f"All {len(ready)} invoices are valid; nothing was stored.")
            return
        with sending_deferred():
            issued, failure, issue_seconds = self._issue(ready, start, options["every"])
        send_seconds, report = self._send()
        self._summary(issued, issue_seconds, send_seconds, report)
        if failure:
            raise CommandError(failure)

    def _issue(self, ready: list[Ready], start: int, every: int) -> tuple[list, str, float]:
        progress = Progress(self.stderr, total=len(ready), label="Issuing", every=every)
        issued = []
        for offset, item in enumerate(ready):
            try:
                # One transaction per invoice: the draft, its number, its PDF and its audit
                # record are stored together or not at all.
                with transaction.atomic():
                    draft = draft_create(
                        client=item.client,
                        lines=item.lines,
                        issue_date=item.issue_date,
                        due_date=item.due_date,
                        currency=item.currency,
                    )
                    issued.append(invoice_issue(invoice=draft))
            except Exception as exc:  # any failure stops the batch and is reported
                elapsed = progress.done()
                return (
                    issued,
                    f"{item.label} failed: {exc}. Nothing of it was stored; the {len(issued)} "
                    f"before it are issued. Go on with: --start {start + offset}",
                    elapsed,
                )
            progress.step()
        return issued, "", progress.done()

    def _send(self) -> tuple[float, dict[str, int]]:
        """Send what issuing queued (and anything else due), in rounds of 500."""
        started = time.monotonic()
        sent = retrying = failed = 0
        while True:
            report = send_due(limit=500)
            sent, retrying, failed = (
                sent + report.sent,
                retrying + report.retrying,
                failed + report.failed,
            )
            if report.sent + report.retrying + report.failed == 0:
                break
            self.stderr.write(f"Sending emails: {sent} sent", style_func=lambda x: x)
        return time.monotonic() - started, {"sent": sent, "retrying": retrying, "failed": failed}

    def _summary(
        self, issued: list, issue_seconds: float, send_seconds: float, report: dict[str, int]
    ) -> None:
        if not issued:
            self.stdout.write("No invoice was issued.")
        else:
            totals: dict[str, Decimal] = defaultdict(Decimal)
            for invoice in issued:
                totals[invoice.currency] += invoice.total
            amounts = ", ".join(format_amount(v, k) for k, v in sorted(totals.items()))
            self.stdout.write(
                f"Issued {len(issued)} invoice(s), {issued[0].number} to {issued[-1].number}, "
                f"in {issue_seconds:.1f} s; together {amounts}."
            )
        self.stdout.write(
            f"Emails: {report['sent']} sent, {report['retrying']} to retry, "
            f"{report['failed']} given up, in {send_seconds:.1f} s."
        )


__all__ = ["BatchItem", "Command", "Ready", "check_batch"]
