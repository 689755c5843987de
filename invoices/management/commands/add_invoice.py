from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from clients.selectors import contact_by_email
from invoices.services import InvoiceError, invoice_create


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date; use YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = (
        "Store a PDF as an issued invoice of the client that the contact email belongs to, "
        "and print the invoice's portal URL. Nothing is stored if anything is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pdf", help="Path to the invoice PDF.")
        parser.add_argument(
            "--client-email", required=True, help="Email of one of the client's contacts."
        )
        parser.add_argument(
            "--number", required=True, help="Unique invoice number, e.g. INV-2026-001."
        )
        parser.add_argument("--issued", required=True, help="Issue date, YYYY-MM-DD.")
        parser.add_argument("--due", required=True, help="Due date, YYYY-MM-DD.")
        parser.add_argument(
            "--total", required=True, help="Total, e.g. 1200.00 (no negative amounts)."
        )
        parser.add_argument("--currency", required=True, help="ISO 4217 code, e.g. EUR.")
        parser.add_argument(
            "--draft", action="store_true", help="Store as a draft instead of issuing it."
        )

    def handle(self, *args: object, **options: object) -> None:
        contact = contact_by_email(email=options["client_email"])
        if contact is None:
            email = options["client_email"].strip().lower()
            raise CommandError(f"No client contact with the email {email}.")
        try:
            total = Decimal(options["total"])
        except InvalidOperation:
            raise CommandError(f"{options['total']!r} is not an amount.") from None
        if not total.is_finite():
            raise CommandError(f"{options['total']!r} is not an amount.")
        path = Path(options["pdf"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            with path.open("rb") as handle:
                invoice = invoice_create(
                    client=contact.client,
                    number=options["number"],
                    issue_date=_date(options["issued"]),
                    due_date=_date(options["due"]),
                    total=total,
                    currency=options["currency"].upper(),
                    pdf=handle,
                    original_filename=path.name,
                    issue=not options["draft"],
                )
        except InvoiceError as exc:
            raise CommandError(str(exc)) from None
        state = "Stored draft" if options["draft"] else "Issued"
        self.stdout.write(
            f"{state} {invoice.number} for {contact.client.name} "
            f"({invoice.pdf_size:,} bytes, SHA-256 {invoice.pdf_sha256})."
        )
        self.stdout.write(settings.BASE_URL + reverse("invoice-detail", args=[invoice.public_id]))
