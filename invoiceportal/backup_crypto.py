"""The backup archive's format, pure (no Django): a sealed tar with strict member rules and
a SHA-256 manifest, optionally encrypted; plus reading the passphrase.

**Seal.** A plain archive is an ordinary tar (``tar tf`` lists it) whose last member,
``archive.sha256``, holds the SHA-256 of every byte before that member's header. The
seal member, the end-of-archive blocks and the padding are fixed given that digest, so
the reader rebuilds them and compares: one flipped or missing byte anywhere is refused.
Against accidents only; anyone can re-seal a plain archive, so the restore also refuses
member names, types and paths that are not ours, and the encrypted form adds authenticity.

**Encryption** (``IPBACKUP1``): a 32-byte key from the passphrase with scrypt (n=2**15,
r=8, p=1, 16-byte random salt), then AES-256-GCM over 1 MiB chunks, streamed so an archive
never sits in memory. Header = magic + salt + 8-byte random nonce prefix; chunk i is sealed
with nonce = prefix + i (4 bytes, big-endian) and AAD = header + i + final flag. The final
flag (1 only on the last chunk, which may be empty) catches truncation; the counter
catches reordered, dropped or repeated chunks; the header in the AAD binds salt and prefix.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import unicodedata
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = [
    "CHUNK_BYTES",
    "MAGIC",
    "MEMBER_NAME",
    "ArchiveError",
    "ArchiveWriter",
    "EncryptingWriter",
    "decrypt_stream",
    "derive_key",
    "extract_members",
    "is_encrypted",
    "read_passphrase",
    "seal_tail",
    "verify_manifest",
    "write_private",
]

MAGIC = b"IPBACKUP1"
SALT_BYTES, PREFIX_BYTES, KEY_BYTES, TAG_BYTES = 16, 8, 32, 16
HEADER_BYTES = len(MAGIC) + SALT_BYTES + PREFIX_BYTES
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
CHUNK_BYTES = 1024 * 1024
_SEALED_CHUNK = CHUNK_BYTES + TAG_BYTES
PASSPHRASE_ENV, MIN_PASSPHRASE = "INVOICEPORTAL_BACKUP_PASSPHRASE", 12

BLOCK, RECORD = tarfile.BLOCKSIZE, tarfile.RECORDSIZE
SEAL_NAME = "archive.sha256"
# Everything an archive may hold besides the seal; anything else (``../x``, ``/etc/x``,
# links, devices) is refused before a byte of it is written anywhere.
MEMBER_NAME = re.compile(
    r"^(manifest\.json|secret_key|database/db\.(sqlite3|pgdump)|files/[0-9a-f]{32}\.pdf)$"
)


class ArchiveError(Exception):
    """A refusal in one line: the archive is damaged, altered, truncated or not ours, or the
    passphrase is wrong or missing."""


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


def derive_key(passphrase: str, salt: bytes) -> bytes:
    """scrypt of the NFC-normalised UTF-8 passphrase (the same text typed on any system)."""
    data = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(data)


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC[:-1])


def _aad(header: bytes, counter: int, final: bool) -> bytes:
    return header + counter.to_bytes(4, "big") + (b"\1" if final else b"\0")


class EncryptingWriter:
    """A write-only file object that encrypts into ``sink``; ``close`` seals the last chunk."""

    def __init__(self, sink: BinaryIO, passphrase: str) -> None:
        salt, prefix = os.urandom(SALT_BYTES), os.urandom(PREFIX_BYTES)
        self._sink, self._prefix, self._header = sink, prefix, MAGIC + salt + prefix
        self._aead = AESGCM(derive_key(passphrase, salt))
        self._buffer, self._counter = bytearray(), 0
        sink.write(self._header)

    def _seal(self, plain: bytes, final: bool) -> None:
        if self._counter >= 2**32:
            raise ArchiveError("The archive is too large for one encryption key.")
        nonce = self._prefix + self._counter.to_bytes(4, "big")
        self._sink.write(self._aead.encrypt(nonce, plain, _aad(self._header, self._counter, final)))
        self._counter += 1

    def write(self, data: bytes) -> int:
        self._buffer += data
        # Strictly more than a chunk: the last chunk, sealed by close(), is never empty
        # unless the whole plaintext is.
        while len(self._buffer) > CHUNK_BYTES:
            self._seal(bytes(self._buffer[:CHUNK_BYTES]), final=False)
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def close(self) -> None:
        self._seal(bytes(self._buffer), final=True)
        self._buffer.clear()


def decrypt_stream(source: BinaryIO, sink: BinaryIO, passphrase: str) -> int:
    """Decrypt an ``IPBACKUP1`` stream into ``sink``; the plaintext size. Refuses (before
    the end, with part of the plaintext written) a wrong passphrase or any altered byte."""
    header = source.read(HEADER_BYTES)
    if len(header) < HEADER_BYTES or not header.startswith(MAGIC):
        raise ArchiveError("The archive is not an encrypted invoiceportal backup (version 1).")
    salt, prefix = header[len(MAGIC) : -PREFIX_BYTES], header[-PREFIX_BYTES:]
    aead, counter, written = AESGCM(derive_key(passphrase, salt)), 0, 0
    chunk = source.read(_SEALED_CHUNK)
    while True:
        following = source.read(_SEALED_CHUNK) if len(chunk) == _SEALED_CHUNK else b""
        final = not following
        if len(chunk) < TAG_BYTES:
            raise ArchiveError("The encrypted archive is truncated.")
        try:
            nonce = prefix + counter.to_bytes(4, "big")
            plain = aead.decrypt(nonce, chunk, _aad(header, counter, final))
        except InvalidTag:
            if counter == 0:
                raise ArchiveError(
                    "Decryption failed: wrong passphrase, or the archive was altered."
                ) from None
            raise ArchiveError(
                f"The encrypted archive was altered, truncated or reordered (chunk {counter})."
            ) from None
        sink.write(plain)
        written += len(plain)
        counter += 1
        if final:
            return written
        chunk = following


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
