"""
Bearer tokens: minting, hashing and comparing. The one place the portal touches randomness
and digests for security decisions (together with Django's hashers and django-otp).

A token is 32 bytes from the OS CSPRNG (256 bits), URL-safe base64 encoded. Only a
namespaced SHA-256 of it is stored: someone who reads the database or a backup learns
digests, which cannot be turned back into working links. The namespace keeps a download
token from ever matching an invitation row, even if both tables were merged by mistake.

Lookup is by digest (an indexed equality in the database); what an attacker could learn
from the timing of that lookup is at most a prefix of a SHA-256 output, which does not
help to forge a preimage. The final comparison is constant-time all the same.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import NamedTuple

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

__all__ = [
    "BACKUP_CODE_ALPHABET",
    "TOKEN_BYTES",
    "MintedToken",
    "backup_code_digests",
    "digests_match",
    "is_well_formed",
    "mint",
    "new_backup_code",
    "normalize_backup_code",
    "token_digest",
]

TOKEN_BYTES = 32
# token_urlsafe(32) gives 43 characters of [A-Za-z0-9_-]; anything else is not ours.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class MintedToken(NamedTuple):
    token: str  # shown once, never stored
    digest: str  # stored


def token_digest(namespace: str, token: str) -> str:
    """Namespaced SHA-256 of ``token`` as 64 hex characters."""
    return hashlib.sha256(f"{namespace}:{token}".encode()).hexdigest()


def mint(namespace: str) -> MintedToken:
    """A fresh random token and the digest to store for it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return MintedToken(token=token, digest=token_digest(namespace, token))


def is_well_formed(token: str) -> bool:
    """Cheap shape check before any database work; refuses truncated or re-encoded input."""
    return bool(_TOKEN_SHAPE.fullmatch(token))


def digests_match(expected: str, namespace: str, token: str) -> bool:
    """Constant-time check that ``token`` hashes to ``expected``."""
    return constant_time_compare(expected, token_digest(namespace, token))


# Backup codes: 10 characters from 31 unambiguous ones (~49.5 bits). Online guessing is
# throttled by django-otp; offline guessing from a stolen database needs the secret key too,
# because only an HMAC keyed with SECRET_KEY is stored.
BACKUP_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_BACKUP_CODE_LENGTH = 10
_BACKUP_NAMESPACE = "invoiceportal.clients.backup-code"


def new_backup_code() -> str:
    """A fresh code, shown as two groups of five (``abcde-fghjk``)."""
    raw = "".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(_BACKUP_CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalize_backup_code(code: str) -> str:
    """Lower case without spaces or dashes; empty if it cannot be a backup code."""
    cleaned = "".join(code.split()).replace("-", "").lower()
    if len(cleaned) != _BACKUP_CODE_LENGTH or any(c not in BACKUP_CODE_ALPHABET for c in cleaned):
        return ""
    return cleaned


def backup_code_digests(normalized: str) -> list[str]:
    """The code's digest under the current secret key first, then under each fallback key
    (so codes survive a key rotation)."""
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return [
        salted_hmac(_BACKUP_NAMESPACE, normalized, secret=key, algorithm="sha256").hexdigest()
        for key in keys
    ]
