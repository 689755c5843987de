"""Private storage for invoice PDFs.

Files live in ``settings.PRIVATE_FILES_DIR`` (inside the data directory, outside every web
root) under random names the client never chooses. A file is written to a temporary name
in the same directory, checked, fsync'ed and only then renamed into place, so a crash or a
refused upload never leaves a half-written invoice behind. A disk that is read-only or
full raises ``StorageUnavailable`` (with the temporary file removed), never a bare OSError.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from invoices.pdfcheck import PdfRejected, check_pdf

__all__ = [
    "PdfRejected",
    "StorageUnavailable",
    "StoredPdf",
    "content_matches",
    "delete_pdf",
    "digest_of",
    "file_modes",
    "open_pdf",
    "pdf_path",
    "store_pdf",
    "store_pdf_file",
]

_NAME = re.compile(r"^[0-9a-f]{32}\.pdf$")
CHUNK = 64 * 1024


class StorageUnavailable(Exception):
    """The private store could not be written (read-only, full, missing permissions); the
    message is one sentence safe to show to the consultant."""


@dataclass(frozen=True)
class StoredPdf:
    name: str
    sha256: str
    size: int


def file_modes() -> tuple[int, int]:
    """Directory and file modes: owner only, or owner + group read when nginx or Caddy send
    the files (their worker user is put in the service's group; docs/deploy.md)."""
    if settings.SENDFILE == "nginx":
        return 0o750, 0o640
    return 0o700, 0o600


def _root() -> Path:
    root = Path(settings.PRIVATE_FILES_DIR)
    if not root.is_dir():
        # mkdir(parents=True) gives intermediate folders the default mode; create the
        # private levels one by one so each is 0700.
        dir_mode, _ = file_modes()
        root.parent.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
        for level in (root.parent, root):
            level.mkdir(exist_ok=True, mode=dir_mode)
            os.chmod(level, dir_mode)
    return root


def pdf_path(name: str) -> Path:
    """The absolute path of a stored file; refuses anything that is not one of our names."""
    if not _NAME.fullmatch(name):
        raise ValueError("not a stored invoice file name")
    return _root() / name


def store_pdf(chunks: Iterable[bytes], *, max_bytes: int) -> StoredPdf:
    """Write ``chunks`` to private storage if they form an acceptable PDF.

    Refuses (``PdfRejected``) an empty or oversize stream and anything ``check_pdf``
    refuses; raises ``StorageUnavailable`` when the disk refuses the write (read-only,
    full). In every refusal the temporary file is removed.
    """
    try:
        return _store(chunks, max_bytes=max_bytes)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StorageUnavailable(
            f"The invoice store could not be written ({reason}); nothing was saved. "
            "Ask the administrator to check the disk, then upload again."
        ) from exc


def _store(chunks: Iterable[bytes], *, max_bytes: int) -> StoredPdf:
    root = _root()
    name = f"{uuid.uuid4().hex}.pdf"
    tmp = root / f".{name}.part"
    digest = hashlib.sha256()
    size = 0
    _, file_mode = file_modes()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
    os.fchmod(fd, file_mode)  # whatever the umask: exactly these bits
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PdfRejected(f"The file is larger than the limit of {max_bytes:,} bytes.")
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if size == 0:
            raise PdfRejected("The file is empty.")
        with tmp.open("rb") as written:
            check_pdf(written)
        os.replace(tmp, root / name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return StoredPdf(name=name, sha256=digest.hexdigest(), size=size)


def store_pdf_file(upload: BinaryIO, *, max_bytes: int) -> StoredPdf:
    """``store_pdf`` for an open binary file (an upload or a path opened by a command)."""
    return store_pdf(iter(lambda: upload.read(CHUNK), b""), max_bytes=max_bytes)


def open_pdf(name: str) -> BinaryIO:
    return pdf_path(name).open("rb")


def delete_pdf(name: str) -> None:
    if not name:  # a line-item draft has no file yet
        return
    with contextlib.suppress(FileNotFoundError):
        pdf_path(name).unlink()


def digest_of(handle: BinaryIO) -> tuple[str, int]:
    """SHA-256 and size of an open file, read in chunks (never whole into memory)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


# Files whose SHA-256 this worker process has already checked, by name: the file's identity
# and change stamps at that moment, with the digest and size it matched. Hashing a 2 MB PDF
# on every download was most of a download's cost; a file that has not been written to or
# replaced since cannot have changed its bytes through the file system. Any write changes
# st_mtime and st_ctime, any replacement st_ino, and st_ctime cannot be set back by a user
# process, so a changed file misses this cache and is hashed again (docs/security.md says
# what this does not catch). An entry also expires after REVERIFY_NS: a write through a
# shared mmap to a page that is already dirty changes the bytes without new stamps, so no
# file is trusted on its stamps alone for longer than that.
_VERIFIED: dict[str, tuple[tuple[int, int, int, int, int], str, int, int]] = {}
_VERIFIED_MAX = 10_000
# A file changed less than this long before its check is hashed again next time: a second
# write within the same tick of the kernel's clock would leave its stamps unchanged.
RACY_NS = 2_000_000_000
# How long a verified file is trusted on its stamps before it is hashed again anyway.
REVERIFY_NS = 60_000_000_000


def _now_ns() -> int:
    """Seam for tests."""
    return time.time_ns()


def content_matches(handle: BinaryIO, *, name: str, sha256: str, size: int) -> bool:
    """Whether the open stored file ``handle`` (of stored file ``name``) holds exactly
    ``size`` bytes with SHA-256 ``sha256``; leaves ``handle`` at position 0.

    Hashes the whole file unless this process hashed it less than a minute ago
    (``REVERIFY_NS``) and its device, inode, size, mtime and ctime are unchanged since;
    refuses (False) any other content. Raises ``OSError`` when the file cannot be read.
    """
    stat = os.fstat(handle.fileno())
    stamps = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    now = _now_ns()
    cached = _VERIFIED.get(name)
    fresh = cached is not None and now - cached[3] < REVERIFY_NS
    if fresh and cached[:3] == (stamps, sha256, size):
        return True
    handle.seek(0)
    matches = digest_of(handle) == (sha256, size)
    handle.seek(0)
    if not matches:
        _VERIFIED.pop(name, None)
    elif now - stat.st_ctime_ns > RACY_NS:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()  # a crude bound; a miss costs one hash, never a wrong answer
        _VERIFIED[name] = (stamps, sha256, size, now)
    else:
        _VERIFIED.pop(name, None)
    return matches
