"""Rotate the key that seals TOTP secrets (settings.OTP_KEY_FILE, docs/operations.md)."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from clients.totp_sealing import totp_keys_reseal
from core.keyfile import KEY_BYTES, keys_load_or_create, keys_write


class Command(BaseCommand):
    help = (
        "Put a new key on top of the OTP key file, re-seal every TOTP secret with it, then "
        "drop the old keys (--keep-old keeps them readable). Users keep their authenticator "
        "apps: only the encryption at rest changes. Take a backup afterwards: older backups "
        "carry the old key file and still restore as they are."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--keep-old",
            action="store_true",
            help="Keep the old keys in the file (e.g. while another host still seals with them).",
        )

    def handle(self, *args: Any, keep_old: bool, **options: Any) -> None:
        path = settings.OTP_KEY_FILE
        old = keys_load_or_create(path)
        keys = [secrets.token_bytes(KEY_BYTES), *old]
        # The new key goes into the file first: a worker that reads a row re-sealed below
        # must find its key, and a crash half-way leaves every row readable.
        keys_write(path, keys)
        changed = totp_keys_reseal(keys=keys)
        # A login that read its device before the re-seal may have saved the old value back
        # meanwhile (django-otp saves the whole row): a second pass catches it before the
        # old key goes.
        changed += totp_keys_reseal(keys=keys)
        if not keep_old:
            keys_write(path, keys[:1])
        self.stdout.write(
            f"Re-sealed {changed} TOTP secret(s) with a new key in {path}"
            + ("; the old keys stay readable." if keep_old else "; the old keys are gone.")
        )
