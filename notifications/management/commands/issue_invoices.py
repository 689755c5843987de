"""`manage.py issue_invoices FILE`: month-end, many invoices from one file in one go.

Thin: the file is read by ``invoices.lineitems``, checked and issued by
``invoices.services.batch``, its emails sent by ``notifications.services``; here are the
options, the progress display, the summary and the exit code. It lives with notifications
because it ends by sending the batch's emails: imports run one way (docs/architecture.md),
and only an app above both invoices and notifications may issue and then send."""

from __future__ import annotations

import time
from argparse import RawDescriptionHelpFormatter
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from invoices.lineitems import LineItemError, batch_items_read, date_read, file_format
from invoices.management.progress import Progress
from invoices.models import Invoice
from invoices.money import format_amount
from invoices.services.batch import BatchInvalid, ReadyInvoice, batch_check, batch_issue
from notifications.services import SendReport, send_all_due

__all__ = ["Command"]

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


def _refuse(errors: Sequence[str]) -> CommandError:
    shown = list(errors[:MAX_ERRORS_SHOWN])
    more = len(errors) - len(shown)
    tail = [f"... and {more} more."] if more else []
    return CommandError("Nothing was stored. Fix these and run again:\n" + "\n".join(shown + tail))


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
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
            default_issued = date_read(options["issued"] or "", "--issued")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        except LineItemError as exc:
            raise _refuse([str(exc)]) from None
        try:
            items, errors = batch_items_read(text, source=str(path), fmt=file_format(path))
        except LineItemError as exc:
            raise CommandError(str(exc)) from None
        if not items:
            if errors:
                raise _refuse(errors)
            raise CommandError(f"{path} holds no invoices.")
        start = options["start"]
        if not 1 <= start <= len(items):
            raise CommandError(f"--start must be between 1 and {len(items)}.")
        try:
            # Errors in rows before --start are still errors: the file is read as a whole.
            ready = batch_check(
                items=items[start - 1 :],
                default_issued=default_issued or timezone.localdate(),
                read_errors=errors,
            )
        except BatchInvalid as exc:
            raise _refuse(exc.errors) from None
        if options["check"]:
            self.stdout.write(f"All {len(ready)} invoices are valid; nothing was stored.")
            return
        issued, failure, issue_seconds = self._issue(ready, start, options["every"])
        send_seconds, report = self._send()
        self._summary(issued, issue_seconds, send_seconds, report)
        if failure:
            raise CommandError(failure)

    def _issue(
        self, ready: list[ReadyInvoice], start: int, every: int
    ) -> tuple[list[Invoice], str, float]:
        progress = Progress(self.stderr, total=len(ready), label="Issuing", every=every)
        # send_now=False: the emails wait until every invoice is issued (see _send).
        outcome = batch_issue(ready=ready, send_now=False, on_issued=lambda _: progress.step())
        elapsed = progress.done()
        if outcome.failed_at is None:
            return outcome.issued, "", elapsed
        return (
            outcome.issued,
            f"{ready[outcome.failed_at].label} failed: {outcome.error}. Nothing of it was "
            f"stored; the {len(outcome.issued)} before it are issued. "
            f"Go on with: --start {start + outcome.failed_at}",
            elapsed,
        )

    def _send(self) -> tuple[float, SendReport]:
        """Send what issuing queued (and anything else due), in rounds of 500."""
        started = time.monotonic()
        report = send_all_due(
            round_size=500,
            on_round=lambda so_far: self.stderr.write(
                f"Sending emails: {so_far.sent} sent", style_func=lambda x: x
            ),
        )
        return time.monotonic() - started, report

    def _summary(
        self, issued: list[Invoice], issue_seconds: float, send_seconds: float, report: SendReport
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
            f"Emails: {report.sent} sent, {report.retrying} to retry, "
            f"{report.failed} given up, in {send_seconds:.1f} s."
        )
