"""A key file for field encryption (core/fieldcrypto.py): 0600, outside the database.

One key per line (base64url of 32 random bytes), newest first; lines starting with ``#`` are
comments. The first key seals, every key opens, so a rotation is: put a new key on top,
re-seal every value, drop the old keys (``manage.py rotate_otp_key`` does all three).
The file is read on every use, not cached, so running workers see a rotation at once.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["KEY_BYTES", "KeyFileError", "keys_load_or_create", "keys_write"]

KEY_BYTES = 32
_HEADER = "# invoiceportal field-encryption keys: newest first. Keep with the backups; 0600.\n"


class KeyFileError(RuntimeError):
    """The key file cannot be used as it is; the message names the file and the remedy."""


def _encode(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def _check_private(path: Path) -> None:
    """Refuse a key file that the group or others may read or write: it is a secret."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"The OTP key file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):o}); refusing. Run: chmod 600 {path}"
        )


def _read(path: Path) -> list[bytes]:
    _check_private(path)
    keys = []
    for line in path.read_text(encoding="ascii").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key = base64.urlsafe_b64decode(line)
        if len(key) < KEY_BYTES:
            raise KeyFileError(f"{path} holds a key shorter than {KEY_BYTES} bytes; refusing.")
        keys.append(key)
    if not keys:
        # A half-written file from a crash: refuse, never invent a key that seals nothing.
        raise KeyFileError(f"{path} holds no key. Restore it from a backup.")
    return keys


def keys_load_or_create(path: Path, *, may_create: Callable[[], bool] | None = None) -> list[bytes]:
    """The keys in ``path``, newest first; a new file with one fresh key on first use.

    Refuses (``KeyFileError``, naming the file and ``chmod 600``) a file the group or
    others may access, and a file without a key. Refuses to create a new key when
    ``may_create`` answers False (values sealed under a key that is missing now: a fresh
    key would open none of them; restore the file from a backup instead). Two processes
    starting at once end up with the same key: the file is written whole under a temporary
    name and linked into place (``os.link`` fails if it exists), so nobody reads a
    half-written file; the loser reads the winner's.
    """
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    if may_create is not None and not may_create():
        raise KeyFileError(
            f"The OTP key file {path} is missing but the database holds secrets sealed "
            "with it; refusing to create a new key (it would open none of them). Restore "
            'the file from a backup (docs/operations.md, "Rotating the OTP key" and the '
            "restore section)."
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    tmp = _write_temporary(path, [key])
    try:
        os.link(tmp, path)
    except FileExistsError:
        return _read(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return [key]


def _write_temporary(path: Path, keys: list[bytes]) -> str:
    """A complete, fsynced 0600 file with ``keys`` next to ``path``; its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".otp-key-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(_HEADER + "".join(_encode(k) + "\n" for k in keys))
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def keys_write(path: Path, keys: list[bytes]) -> None:
    """Replace ``path`` atomically (0600) with ``keys``, newest first. Refuses an empty list."""
    if not keys or any(len(k) < KEY_BYTES for k in keys):
        raise ValueError(f"Need at least one key of {KEY_BYTES} bytes or more.")
    tmp = _write_temporary(path, keys)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
