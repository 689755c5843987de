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
import tempfile
from pathlib import Path

__all__ = ["KEY_BYTES", "keys_load_or_create", "keys_write"]

KEY_BYTES = 32
_HEADER = "# invoiceportal field-encryption keys: newest first. Keep with the backups; 0600.\n"


def _encode(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def _read(path: Path) -> list[bytes]:
    keys = []
    for line in path.read_text(encoding="ascii").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key = base64.urlsafe_b64decode(line)
        if len(key) < KEY_BYTES:
            raise RuntimeError(f"{path} holds a key shorter than {KEY_BYTES} bytes; refusing.")
        keys.append(key)
    if not keys:
        # A half-written file from a crash: refuse, never invent a key that seals nothing.
        raise RuntimeError(f"{path} holds no key. Restore it from a backup.")
    return keys


def keys_load_or_create(path: Path) -> list[bytes]:
    """The keys in ``path``, newest first; a new file with one fresh key on first use.

    Two processes starting at once end up with the same key (O_EXCL; the loser reads).
    """
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(_HEADER + _encode(key) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return [key]


def keys_write(path: Path, keys: list[bytes]) -> None:
    """Replace ``path`` atomically (0600) with ``keys``, newest first. Refuses an empty list."""
    if not keys or any(len(k) < KEY_BYTES for k in keys):
        raise ValueError(f"Need at least one key of {KEY_BYTES} bytes or more.")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".otp-key-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(_HEADER + "".join(_encode(k) + "\n" for k in keys))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
