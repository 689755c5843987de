from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from backups.crypto import ArchiveError
from backups.management.passphrase import PASSPHRASE_ENV, read_passphrase
from backups.services import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Write one archive (tar) holding a consistent copy of the database (SQLite's online "
        "backup API, or pg_dump), every stored invoice PDF, the secret key file and a "
        "manifest of SHA-256 sums. The portal may keep running. The archive is SENSITIVE: it "
        "holds every invoice and the secret key that 2FA backup codes and sessions depend "
        "on, so use --encrypt or keep it on encrypted storage. Restore with "
        "`manage.py restore`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="The archive to write, e.g. /var/backups/portal.tar.")
        parser.add_argument(
            "--encrypt",
            action="store_true",
            help="Encrypt with a passphrase (AES-256-GCM, key derived with scrypt). The "
            f"passphrase comes from --passphrase-file, else ${PASSPHRASE_ENV}, else it is "
            "asked for twice at the terminal.",
        )
        parser.add_argument(
            "--passphrase-file", help="A file whose first line is the passphrase (12+ chars)."
        )
        parser.add_argument("--force", action="store_true", help="Replace an existing archive.")

    def handle(self, *args: object, **options: object) -> None:
        if options["passphrase_file"] and not options["encrypt"]:
            raise CommandError("--passphrase-file needs --encrypt.")
        try:
            passphrase = (
                read_passphrase(options["passphrase_file"], new=True)
                if options["encrypt"]
                else None
            )
            backup_create(
                Path(options["out"]),
                passphrase=passphrase,
                force=bool(options["force"]),
                report=self.stdout.write,
            )
        except (BackupError, ArchiveError) as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise CommandError(f"{exc.strerror or exc}{where}") from None
        except DatabaseError as exc:
            raise CommandError(f"Database error: {str(exc).strip().splitlines()[0]}") from None
