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

from django.utils.crypto import constant_time_compare

__all__ = ["TOKEN_BYTES", "MintedToken", "digests_match", "is_well_formed", "mint", "token_digest"]

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
