"""The backup archive's encryption, pure (no Django, no files, no terminal): ``IPBACKUP1``.

A 32-byte key from the passphrase with scrypt (n=2**15, r=8, p=1, 16-byte random salt), then
AES-256-GCM over 1 MiB chunks, streamed so an archive never sits in memory. Header = magic +
salt + 8-byte random nonce prefix; chunk i is sealed with nonce = prefix + i (4 bytes,
big-endian) and AAD = header + i + final flag. The final flag (1 only on the last chunk, which
may be empty) catches truncation; the counter catches reordered, dropped or repeated chunks;
the header in the AAD binds salt and prefix.
Fixed test vectors: tests/operations/test_backup_crypto.py.
"""

from __future__ import annotations

import os
import unicodedata
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = [
    "CHUNK_BYTES",
    "MAGIC",
    "ArchiveError",
    "EncryptingWriter",
    "decrypt_stream",
    "derive_key",
    "is_encrypted",
]

MAGIC = b"IPBACKUP1"
SALT_BYTES, PREFIX_BYTES, KEY_BYTES, TAG_BYTES = 16, 8, 32, 16
HEADER_BYTES = len(MAGIC) + SALT_BYTES + PREFIX_BYTES
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
CHUNK_BYTES = 1024 * 1024
_SEALED_CHUNK = CHUNK_BYTES + TAG_BYTES


class ArchiveError(Exception):
    """A refusal in one line: the archive is damaged, altered, truncated or not ours, or the
    passphrase is wrong or missing."""


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
        """Start an archive with a fresh random salt and nonce prefix (never chosen by the
        caller: the same key and prefix twice would reuse GCM nonces)."""
        self._start(sink, passphrase, os.urandom(SALT_BYTES), os.urandom(PREFIX_BYTES))

    @classmethod
    def _with_fixed_salt_for_test_vectors(
        cls, sink: BinaryIO, passphrase: str, salt: bytes, prefix: bytes
    ) -> EncryptingWriter:
        """Test only (tests/operations/test_backup_crypto.py): a writer with a chosen salt and
        prefix, for fixed vectors. Never for a real archive. Refuses wrong lengths."""
        writer = cls.__new__(cls)
        writer._start(sink, passphrase, salt, prefix)
        return writer

    def _start(self, sink: BinaryIO, passphrase: str, salt: bytes, prefix: bytes) -> None:
        if len(salt) != SALT_BYTES or len(prefix) != PREFIX_BYTES:
            raise ValueError("salt must be 16 bytes and prefix 8 bytes")
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
