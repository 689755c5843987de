"""`manage.py create_invoice LINES`: one invoice from a file of line items.

Thin: the file is read by ``invoices.lineitems``, the invoice made and issued by
``invoices.services``; here are the options, the output and the exit code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils import timezone

from clients.selectors import contact_by_email
from invoices.lineitems import LineItemError, file_format, lines_read
from invoices.money import LineInput, format_amount
from invoices.services import InvoiceError, draft_create, invoice_issue

__all__ = ["Command"]


def _read_lines(path: Path) -> list[LineInput]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from None
    try:
        return lines_read(text, source=str(path), fmt=file_format(path))
    except LineItemError as exc:
        raise CommandError(str(exc)) from None


class Command(BaseCommand):
    help = (
        "Make an invoice from a file of line items (CSV with the header "
        "description,quantity,unit,unit_price,tax_rate, or JSON: a list of objects with those "
        "keys), render its PDF and issue it, or keep it as a draft. Nothing is stored if any "
        "row is bad; the error names the row."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("lines", help="Path to the CSV or JSON file of line items.")
        parser.add_argument(
            "--client-email", required=True, help="Email of one of the client's contacts."
        )
        parser.add_argument("--issued", help="Issue date, YYYY-MM-DD (default: today).")
        parser.add_argument(
            "--due", help="Due date (default: issue date + the profile's payment terms)."
        )
        parser.add_argument(
            "--currency", help="ISO 4217 code (default: the profile's default currency)."
        )
        parser.add_argument(
            "--draft", action="store_true", help="Keep it as a draft; issue it later in the admin."
        )

    def handle(self, *args: object, **options: object) -> None:
        contact = contact_by_email(email=options["client_email"])
        if contact is None:
            email = options["client_email"].strip().lower()
            raise CommandError(f"No client contact with the email {email}.")
        dates = {}
        for name in ("issued", "due"):
            raw = options[name]
            try:
                dates[name] = dt.date.fromisoformat(raw) if raw else None
            except ValueError:
                raise CommandError(f"{raw!r} is not a date; use YYYY-MM-DD.") from None
        lines = _read_lines(Path(options["lines"]))
        try:
            invoice = draft_create(
                client=contact.client,
                lines=lines,
                issue_date=dates["issued"] or timezone.localdate(),
                due_date=dates["due"],
                currency=options["currency"],
            )
            if not options["draft"]:
                invoice = invoice_issue(invoice=invoice)
        except InvoiceError as exc:
            raise CommandError(str(exc)) from None
        label = "Draft" if options["draft"] else f"Issued {invoice.number}"
        total = format_amount(invoice.total, invoice.currency)
        count = len(lines)
        self.stdout.write(f"{label} for {contact.client.name}: {count} line(s), total {total}.")
        self.stdout.write(settings.BASE_URL + reverse("invoice-detail", args=[invoice.public_id]))
