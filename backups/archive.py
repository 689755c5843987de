"""The backup archive's format, pure (no Django): a sealed tar with strict member rules and a
SHA-256 manifest (encryption, when asked for, wraps it: backups/crypto.py).

**Seal.** A plain archive is an ordinary tar (``tar tf`` lists it) whose last member,
``archive.sha256``, holds the SHA-256 of every byte before that member's header. The
seal member, the end-of-archive blocks and the padding are fixed given that digest, so
the reader rebuilds them and compares: one flipped or missing byte anywhere is refused.
Against accidents only; anyone can re-seal a plain archive, so the restore also refuses
member names, types and paths that are not ours, and the encrypted form adds authenticity.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

from backups.crypto import CHUNK_BYTES, ArchiveError

__all__ = [
    "MEMBER_NAME",
    "SEAL_NAME",
    "ArchiveError",
    "ArchiveWriter",
    "extract_members",
    "seal_tail",
    "verify_manifest",
    "write_private",
]

BLOCK, RECORD = tarfile.BLOCKSIZE, tarfile.RECORDSIZE
SEAL_NAME = "archive.sha256"
# Everything an archive may hold besides the seal; anything else (``../x``, ``/etc/x``,
# links, devices) is refused before a byte of it is written anywhere.
MEMBER_NAME = re.compile(
    r"^(manifest\.json|secret_key|otp\.key|database/db\.(sqlite3|pgdump)|files/[0-9a-f]{32}\.pdf)$"
)


def _header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, mtime, 0o600, tarfile.REGTYPE
    info.uname = info.gname = ""
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "strict")


def seal_tail(offset: int, digest: str) -> bytes:
    """The bytes that end every archive whose first ``offset`` bytes hash to ``digest``: the
    seal member, the end-of-archive blocks and the padding to a whole tar record."""
    data = (digest + "\n").encode("ascii")
    tail = _header(SEAL_NAME, len(data), 0) + data.ljust(BLOCK, b"\0") + b"\0" * (2 * BLOCK)
    return tail + b"\0" * (-(offset + len(tail)) % RECORD)


class ArchiveWriter:
    """Writes members to ``sink`` as a tar, hashing as it goes; ``close`` adds the seal."""

    def __init__(self, sink: BinaryIO, *, mtime: int) -> None:
        self._sink, self._mtime = sink, mtime
        self._digest, self.offset = hashlib.sha256(), 0

    def _write(self, data: bytes) -> None:
        self._sink.write(data)
        self._digest.update(data)
        self.offset += len(data)

    def add(self, name: str, source: BinaryIO, size: int) -> str:
        """Copy exactly ``size`` bytes of ``source`` as member ``name``; its SHA-256."""
        self._write(_header(name, size, self._mtime))
        digest, left = hashlib.sha256(), size
        while left:
            chunk = source.read(min(left, 256 * 1024))
            if not chunk:
                raise ArchiveError(f"{name} shrank while it was being archived.")
            digest.update(chunk)
            self._write(chunk)
            left -= len(chunk)
        self._write(b"\0" * (-size % BLOCK))
        return digest.hexdigest()

    def add_bytes(self, name: str, data: bytes) -> str:
        return self.add(name, io.BytesIO(data), len(data))

    def close(self) -> None:
        self._sink.write(seal_tail(self.offset, self._digest.hexdigest()))


def _verify_seal(handle: BinaryIO, size: int) -> int:
    """Offset of the seal member after checking every byte of the archive; else refuse."""
    if size < 4 * BLOCK or size % RECORD:
        raise ArchiveError("The archive is truncated or is not an invoiceportal backup.")
    seal_header = _header(SEAL_NAME, 65, 0)
    for offset in range(size - 4 * BLOCK, max(-1, size - RECORD - 4 * BLOCK), -BLOCK):
        handle.seek(offset)
        if handle.read(BLOCK) != seal_header:
            continue
        raw = handle.read(64)
        if not re.fullmatch(rb"[0-9a-f]{64}", raw):
            break
        digest = raw.decode("ascii")
        handle.seek(offset)
        if handle.read() != seal_tail(offset, digest):
            break
        handle.seek(0)
        actual, left = hashlib.sha256(), offset
        while left:
            chunk = handle.read(min(left, CHUNK_BYTES))
            actual.update(chunk)
            left -= len(chunk)
        if actual.hexdigest() == digest:
            return offset
        raise ArchiveError("The archive was altered or damaged: its SHA-256 seal does not match.")
    raise ArchiveError("The archive is truncated, damaged or not an invoiceportal backup.")


def extract_members(archive: Path, dest: Path) -> dict[str, tuple[str, int]]:
    """Check the seal, then write each member under ``dest``; name -> (SHA-256, size).

    Refuses links, devices, directories, duplicates and any name outside ``MEMBER_NAME``.
    """
    with archive.open("rb") as handle:
        seal_at = _verify_seal(handle, archive.stat().st_size)
        handle.seek(0)
        found: dict[str, tuple[str, int]] = {}
        try:
            with tarfile.open(fileobj=handle, mode="r:") as tar:
                for member in tar:
                    if member.name == SEAL_NAME and member.offset == seal_at:
                        break
                    _extract_one(tar, member, dest, found)
                else:
                    raise ArchiveError("The archive has no seal member.")
        except tarfile.TarError as exc:
            raise ArchiveError(f"The archive is not a readable tar ({exc}).") from None
    return found


def _extract_one(
    tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, found: dict[str, tuple[str, int]]
) -> None:
    name = member.name
    if not MEMBER_NAME.fullmatch(name):
        raise ArchiveError(f"The archive holds an unexpected member {name!r}; refused.")
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise ArchiveError(f"The archive member {name!r} is not a regular file; refused.")
    if name in found:
        raise ArchiveError(f"The archive holds {name!r} twice; refused.")
    target = dest / name
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    source = tar.extractfile(member)
    if source is None:
        raise ArchiveError(f"The archive member {name!r} has no data; refused.")
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(256 * 1024):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    found[name] = (digest.hexdigest(), size)


def verify_manifest(
    path: Path, found: dict[str, tuple[str, int]], kind: str, version: int
) -> dict[str, Any]:
    """The manifest, once every member matches its SHA-256 and size, none missing or extra."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        listed = {m["name"]: (m["sha256"], m["size"]) for m in manifest["members"]}
        if not (isinstance(manifest["database"]["vendor"], str) and manifest["counts"]):
            raise ValueError("no database vendor or counts")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"The archive's manifest is missing or unreadable ({exc}).") from None
    if (manifest.get("format"), manifest.get("version")) != (kind, version):
        raise ArchiveError(f"Not a version {version} {kind} archive.")
    actual = {name: value for name, value in found.items() if name != path.name}
    for name in sorted(listed.keys() | actual.keys()):
        if name not in actual:
            raise ArchiveError(f"The archive lacks {name}, which its manifest lists.")
        if name not in listed:
            raise ArchiveError(f"The archive holds {name}, which its manifest does not list.")
        if listed[name] != actual[name]:
            raise ArchiveError(f"{name} does not match the SHA-256 and size in the manifest.")
    return manifest


def write_private(path: Path, source: Path | bytes) -> None:
    """Write a 0600 file through a temporary name and a rename: never a half-written one."""
    tmp = path.with_name(f".{path.name}.restoring")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        if isinstance(source, bytes):
            out.write(source)
        else:
            with source.open("rb") as handle:
                shutil.copyfileobj(handle, out, CHUNK_BYTES)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
