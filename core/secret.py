"""The embedded run's secret key: generated once, kept in a 0600 file in the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["load_or_create_secret_key"]


def load_or_create_secret_key(path: Path) -> str:
    """Return the key stored at ``path``, creating it (0600, atomically) on first use.

    Two processes starting at once (gunicorn workers, a management command) must end up
    with the same key, so the file is created with O_EXCL and a loser reads the winner's.
    """
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(64)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def _read(path: Path) -> str:
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 50:
        # A half-written file from a crash between create and write: refuse, do not guess.
        raise RuntimeError(f"{path} holds no usable secret key; delete it to generate a new one.")
    return key
