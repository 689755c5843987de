"""Reading a backup passphrase: a file, the environment or the terminal. Terminal I/O lives
here, with the commands, never in the pure archive and crypto modules."""

from __future__ import annotations

import getpass
import os
import sys

from backups.crypto import ArchiveError

__all__ = ["MIN_PASSPHRASE", "PASSPHRASE_ENV", "read_passphrase"]

PASSPHRASE_ENV, MIN_PASSPHRASE = "INVOICEPORTAL_BACKUP_PASSPHRASE", 12


def read_passphrase(path: str | None, *, new: bool) -> str:
    """The first line of ``path``, else ``$INVOICEPORTAL_BACKUP_PASSPHRASE``, else typed at
    a terminal (twice for a new archive). Refuses an empty one; for a new archive, also
    one under 12 characters: scrypt slows guessing down but cannot save a short passphrase."""
    if path:
        with open(path, encoding="utf-8") as handle:
            text = handle.readline().rstrip("\r\n")
    elif os.environ.get(PASSPHRASE_ENV):
        text = os.environ[PASSPHRASE_ENV]
    elif sys.stdin.isatty():
        text = getpass.getpass("Backup passphrase: ")
        if new and getpass.getpass("The same passphrase again: ") != text:
            raise ArchiveError("The two passphrases differ.")
    else:
        raise ArchiveError(
            f"The archive needs a passphrase: use --passphrase-file, set {PASSPHRASE_ENV}, "
            "or run the command in a terminal to type it."
        )
    if not text or (new and len(text) < MIN_PASSPHRASE):
        raise ArchiveError(f"Use a passphrase of at least {MIN_PASSPHRASE} characters.")
    return text
