from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from notifications.services import enqueue_reminders, send_due


class Command(BaseCommand):
    help = (
        "Queue payment reminders for overdue invoices (the day after the due date, then every "
        "7 days) and send what is due. Safe to run as often as you like: a reminder is "
        "queued once per invoice, contact and week."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--today", help="Pretend it is this date (YYYY-MM-DD), for a dry look.")
        parser.add_argument("--no-send", action="store_true", help="Only queue, do not send.")

    def handle(self, *args: object, **options: object) -> None:
        try:
            today = (
                dt.date.fromisoformat(options["today"])
                if options["today"]
                else timezone.localdate()
            )
        except ValueError:
            raise CommandError(f"{options['today']!r} is not a date; use YYYY-MM-DD.") from None
        queued = enqueue_reminders(today=today)
        self.stdout.write(f"queued {queued} reminder(s)")
        if not options["no_send"]:
            report = send_due()
            self.stdout.write(
                f"sent {report.sent}, to retry {report.retrying}, given up {report.failed}"
            )
