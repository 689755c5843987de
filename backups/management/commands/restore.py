from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from backups.crypto import ArchiveError
from backups.management.passphrase import PASSPHRASE_ENV, read_passphrase
from backups.services import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore an archive written by `manage.py backup` into an EMPTY installation (no "
        "users, clients, invoices or PDFs yet; running migrate first is fine). Every member "
        "is checked against the archive's seal and SHA-256 manifest, and every invoice "
        "against its PDF, before anything is changed: a damaged, altered or truncated archive, "
        "or a wrong passphrase, is refused and nothing changes. Restart the portal afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", help="The archive to restore.")
        parser.add_argument(
            "--passphrase-file",
            help="For an encrypted archive: a file whose first line is the passphrase "
            f"(else ${PASSPHRASE_ENV}, else it is asked for at the terminal).",
        )
        parser.add_argument(
            "--replace-secret-key",
            action="store_true",
            help="Write the archived secret key to the data directory even though this "
            "installation takes a different key from INVOICEPORTAL_SECRET_KEY(_FILE).",
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            backup_restore(
                Path(options["archive"]),
                passphrase=lambda: read_passphrase(options["passphrase_file"], new=False),
                replace_secret_key=bool(options["replace_secret_key"]),
                report=self.stdout.write,
            )
        except (BackupError, ArchiveError) as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise CommandError(f"{exc.strerror or exc}{where}") from None
        except DatabaseError as exc:
            raise CommandError(f"Database error: {str(exc).strip().splitlines()[0]}") from None
