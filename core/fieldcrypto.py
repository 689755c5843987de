"""Authenticated encryption of short secrets kept in database columns (TOTP keys).

Threat: a copy of the database (a dump, a stolen backup without its key file, a read-only
SQL injection) must not hand over the secrets that make a second factor. The key material
lives outside the database (core/keyfile.py); this module only turns bytes into a sealed
text and back. Pure: no Django, no I/O, fixed test vectors in tests/core/test_fieldcrypto.py.

A sealed value reads ``1.<key id>.<base64url(nonce || AES-256-GCM ciphertext and tag)>``:
- the key id (8 hex digits of a digest of the key material) says which key sealed it, so a
  rotation can keep old keys readable and re-seal at leisure;
- the encryption key is HKDF-SHA256 of the material with a purpose label, so one key file
  could serve other columns later without two columns sharing a key;
- the associated data (``context``, e.g. the owning user's id) binds a sealed value to its
  row: copied into another user's row it no longer opens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["VERSION", "UnsealError", "is_sealed", "key_id", "seal", "unseal"]

VERSION = "1"
NONCE_BYTES = 12
_SALT = b"invoiceportal.fieldcrypto.v1"


class UnsealError(ValueError):
    """The value is not sealed, was sealed by a key not offered, or was tampered with."""


def key_id(material: bytes) -> str:
    """A short public name for ``material``: reveals nothing usable about the key."""
    return hashlib.sha256(b"invoiceportal.fieldcrypto.key-id\x00" + material).hexdigest()[:8]


def _derive(material: bytes, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose.encode())
    return hkdf.derive(material)


def _aad(purpose: str, kid: str, context: str) -> bytes:
    return "\x00".join((VERSION, purpose, kid, context)).encode()


def is_sealed(value: str) -> bool:
    return value.startswith(VERSION + ".") and value.count(".") == 2


def seal(
    plaintext: bytes, *, material: bytes, purpose: str, context: str, nonce: bytes | None = None
) -> str:
    """Encrypt ``plaintext`` under ``material`` for ``purpose``, bound to ``context``.

    ``nonce`` exists for the test vectors only; leave it out (a fresh random one is drawn).
    Refuses material shorter than 32 bytes.
    """
    if len(material) < 32:
        raise ValueError("Key material must be at least 32 bytes.")
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    kid = key_id(material)
    box = AESGCM(_derive(material, purpose)).encrypt(nonce, plaintext, _aad(purpose, kid, context))
    body = base64.urlsafe_b64encode(nonce + box).rstrip(b"=").decode()
    return f"{VERSION}.{kid}.{body}"


def unseal(value: str, *, materials: Sequence[bytes], purpose: str, context: str) -> bytes:
    """The plaintext of ``value``, opened with whichever of ``materials`` sealed it.

    Raises UnsealError (one message for every cause) for a value that is not sealed, whose
    key is not among ``materials``, or that fails authentication (tampered, other context).
    """
    if not is_sealed(value):
        raise UnsealError("Not a sealed value, or sealed by an unknown key.")
    _version, kid, body = value.split(".")
    material = next((m for m in materials if key_id(m) == kid), None)
    if material is None:
        raise UnsealError("Not a sealed value, or sealed by an unknown key.")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        nonce, box = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        return AESGCM(_derive(material, purpose)).decrypt(nonce, box, _aad(purpose, kid, context))
    except (InvalidTag, ValueError, binascii.Error) as exc:
        raise UnsealError("The sealed value does not open with its key (tampered?).") from exc
