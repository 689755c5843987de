"""The OTP key file (settings.OTP_KEY_FILE, core/keyfile.py) in backups.

A restored database holds TOTP secrets sealed with these keys; without them nobody with 2FA
could log in again. The archive carries the file as ``otp.key``. On restore its keys are
merged with any this installation already has (archived keys first), so no key is lost.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from backups.archive import write_private
from backups.dbcopy import BackupError
from core.keyfile import keys_load_or_create, keys_write

__all__ = ["MEMBER", "PLAIN_WARNING", "install", "key_file", "restore_plan"]

MEMBER = "otp.key"
PLAIN_WARNING = (
    "WARNING: this archive is NOT encrypted and holds the OTP key file next to the database: "
    "whoever reads it can compute every user's 2FA codes. Prefer --encrypt."
)


def key_file() -> Path:
    return Path(settings.OTP_KEY_FILE)


def restore_plan(staged: Path | None) -> bytes | None:
    """The key file's new content (archived keys, then this installation's own), or None.
    Refuses an archived file that holds no usable key."""
    if staged is None:
        return None
    try:
        archived = keys_load_or_create(staged)
    except (RuntimeError, ValueError) as exc:
        raise BackupError(f"The archived OTP key file is unusable: {exc}") from None
    own = keys_load_or_create(key_file()) if key_file().is_file() else []
    merged = list(dict.fromkeys([*archived, *own]))
    with tempfile.TemporaryDirectory(dir=staged.parent) as scratch:
        path = Path(scratch) / MEMBER
        keys_write(path, merged)
        return path.read_bytes()


def install(content: bytes) -> Callable[[], object]:
    """Write the key file (0600); returns the step that puts the old one back."""
    path = key_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    old = path.read_bytes() if path.is_file() else None
    write_private(path, content)

    def undo() -> None:
        with contextlib.suppress(OSError):
            path.unlink() if old is None else write_private(path, old)

    return undo
