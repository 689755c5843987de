from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from invoices.models import Invoice
from invoices.services import InvoiceError, invoice_mark_paid


class Command(BaseCommand):
    help = "Mark an issued invoice as paid (clients then see it as paid, with the date)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("number", help="The invoice number, e.g. INV-2026-0001.")
        parser.add_argument("--date", help="Payment date, YYYY-MM-DD (default: today).")

    def handle(self, *args: object, **options: object) -> None:
        try:
            paid_on = (
                dt.date.fromisoformat(options["date"]) if options["date"] else timezone.localdate()
            )
        except ValueError:
            raise CommandError(f"{options['date']!r} is not a date; use YYYY-MM-DD.") from None
        invoice = Invoice.objects.filter(number=options["number"]).first()
        if invoice is None:
            raise CommandError(f"No invoice numbered {options['number']}.")
        if paid_on < invoice.issue_date or paid_on > timezone.localdate():
            raise CommandError("The payment date must be between the issue date and today.")
        try:
            invoice_mark_paid(invoice=invoice, paid_on=paid_on)
        except InvoiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{invoice.number} is paid (on {paid_on:%Y-%m-%d}).")
