from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from notifications.services import send_due


class Command(BaseCommand):
    help = (
        "Send queued notification emails that are due, and retry failed ones with a growing "
        "wait (1, 5, 30, 120, 720 minutes; then given up and audited). Run it from cron or the "
        "systemd timer (deploy/systemd/invoiceportal-notify.timer)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit", type=int, default=500, help="At most this many (default %(default)s)."
        )

    def handle(self, *args: object, **options: object) -> None:
        report = send_due(limit=options["limit"])
        self.stdout.write(
            f"sent {report.sent}, to retry {report.retrying}, given up {report.failed}"
        )
