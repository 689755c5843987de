from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from notifications.services import enqueue_reminders, overdue_reminders, send_due


class Command(BaseCommand):
    help = (
        "Queue a payment reminder for each overdue invoice (from the day after the due date, "
        "then every INVOICEPORTAL_REMINDER_INTERVAL_DAYS days) for each active contact, and "
        "send what is due. Safe to run as often as you like: a reminder is queued once per "
        "invoice, contact and interval. For cron or the systemd timer."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be sent; change nothing."
        )
        parser.add_argument("--today", help="Act as if it were this date (YYYY-MM-DD).")

    def handle(self, *args: object, **options: object) -> None:
        try:
            today = (
                dt.date.fromisoformat(options["today"])
                if options["today"]
                else timezone.localdate()
            )
        except ValueError:
            raise CommandError(f"{options['today']!r} is not a date; use YYYY-MM-DD.") from None
        if options["dry_run"]:
            due = overdue_reminders(today=today)
            for invoice, stage in due:
                active = invoice.client.contacts.filter(is_active=True)
                contacts = ", ".join(active.values_list("email", flat=True)) or "no active contact"
                days = (today - invoice.due_date).days
                self.stdout.write(
                    f"{invoice.number} ({invoice.client.name}), {days} days overdue, "
                    f"reminder {stage + 1}: {contacts}"
                )
            self.stdout.write(
                f"{len(due)} overdue invoice(s); nothing was queued or sent (dry run)."
            )
            return
        queued = enqueue_reminders(today=today)
        self.stdout.write(
            f"queued {queued} reminder(s) (every {settings.REMINDER_INTERVAL_DAYS} days)"
        )
        report = send_due()
        self.stdout.write(
            f"sent {report.sent}, to retry {report.retrying}, given up {report.failed}"
        )
