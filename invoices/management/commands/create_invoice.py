from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils import timezone

from clients.selectors import contact_by_email
from invoices.money import LineInput, format_amount
from invoices.services import InvoiceError, draft_create, invoice_issue

FIELDS = ("description", "quantity", "unit", "unit_price", "tax_rate")


def _decimal(value: object, what: str, where: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CommandError(f"{where}: {what} {value!r} is not a number.") from None
    if not number.is_finite():
        raise CommandError(f"{where}: {what} {value!r} is not a number.")
    return number


def line_from_row(row: dict, where: str) -> LineInput:
    """One line item from a CSV row or JSON object; refuses a bad value naming ``where``
    (e.g. "Row 3") and the field."""
    description = str(row.get("description") or "").strip()
    if not description:
        raise CommandError(f"{where}: the description is empty.")
    return LineInput(
        description=description[:500],
        quantity=_decimal(row.get("quantity"), "quantity", where),
        unit_price=_decimal(row.get("unit_price"), "unit price", where),
        tax_rate=_decimal(row.get("tax_rate") or 0, "tax rate", where),
        unit=str(row.get("unit") or "")[:20],
    )


def read_lines(path: Path) -> list[LineInput]:
    """Line items from a CSV (header: description,quantity,unit,unit_price,tax_rate) or a
    JSON list of objects with those keys. Refuses the first bad row with its number."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise CommandError(f"{path} must hold a list of objects.")
    else:
        reader = csv.DictReader(text.splitlines())
        missing = {"description", "quantity", "unit_price"} - set(reader.fieldnames or [])
        if missing:
            raise CommandError(f"{path} lacks the column(s): {', '.join(sorted(missing))}.")
        rows = list(reader)
    return [line_from_row(row, f"Row {n}") for n, row in enumerate(rows, start=1)]


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
        lines = read_lines(Path(options["lines"]))
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
