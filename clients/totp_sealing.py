"""TOTP secrets sealed at rest: django-otp's TOTPDevice, with its ``key`` column encrypted.

django-otp keeps the secret as hex in ``otp_totp_totpdevice.key``; a copy of the database
would let its holder compute every user's codes. Here the column holds
``core.fieldcrypto.seal(secret)`` under a key from ``settings.OTP_KEY_FILE``, bound to the
owning user's id (a sealed value copied into another user's row does not open).

Why TOTPDevice itself and not a model of our own or a proxy: django-otp's verification
(throttling, drift, the ``last_t`` replay guard), its admin and ``devices_for_user`` stay as
they are, and ``django_otp.device_classes()`` skips proxy models, so a proxy would leave the
plain class in every verification. TOTPDevice reads its secret only through ``bin_key``
(``verify_token``, ``config_url``); that one property is replaced at start-up (``install``),
and a ``pre_save`` receiver seals a plain hex key before it reaches the database. A value that
is not sealed, or sealed by a key no longer in the file, fails closed: ``bin_key`` raises.
"""

from __future__ import annotations

import binascii
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import fieldcrypto
from core.keyfile import keys_load_or_create

__all__ = ["MAX_SECRET_BYTES", "PURPOSE", "install", "totp_key_seal", "totp_key_unseal"]

PURPOSE = "invoiceportal.otp_totp.key"
# The column is varchar(80): 12 nonce + 20 secret + 16 tag bytes make 75 characters sealed.
MAX_SECRET_BYTES = 20


def _context(user_id: int) -> str:
    return f"user:{user_id}"


def _nothing_sealed() -> bool:
    """Whether no TOTP secret is sealed yet: only then may a missing key file be created."""
    return not TOTPDevice.objects.filter(key__startswith=fieldcrypto.VERSION + ".").exists()


def _keys() -> list[bytes]:
    """The key file's keys. Refuses (RuntimeError) to invent a new key while sealed secrets
    exist (the file was lost: restore it), and a file readable by group or others."""
    return keys_load_or_create(settings.OTP_KEY_FILE, may_create=_nothing_sealed)


def totp_key_seal(hex_key: str, *, user_id: int, keys: list[bytes] | None = None) -> str:
    """Seal django-otp's hex secret with the newest key. Refuses a secret that is not hex or
    is longer than MAX_SECRET_BYTES (it would not fit the column sealed)."""
    secret = binascii.unhexlify(hex_key.encode())
    if not 0 < len(secret) <= MAX_SECRET_BYTES:
        raise ValueError(f"A TOTP secret must be 1 to {MAX_SECRET_BYTES} bytes.")
    material = (keys or _keys())[0]
    return fieldcrypto.seal(secret, material=material, purpose=PURPOSE, context=_context(user_id))


def totp_key_unseal(sealed: str, *, user_id: int, keys: list[bytes] | None = None) -> bytes:
    """The secret in ``sealed``; raises fieldcrypto.UnsealError for anything else."""
    return fieldcrypto.unseal(
        sealed, materials=keys or _keys(), purpose=PURPOSE, context=_context(user_id)
    )


def _bin_key(self: TOTPDevice) -> bytes:
    return totp_key_unseal(self.key, user_id=self.user_id)


def install() -> None:
    """Make TOTPDevice read its secret through the seal (called from ClientsConfig.ready)."""
    TOTPDevice.bin_key = property(_bin_key, doc="The secret key, unsealed (clients.totp_sealing).")


@receiver(pre_save, sender=TOTPDevice)
def _seal_before_save(sender: Any, instance: TOTPDevice, **kwargs: Any) -> None:
    if not fieldcrypto.is_sealed(instance.key):
        instance.key = totp_key_seal(instance.key, user_id=instance.user_id)


def totp_keys_reseal(*, keys: list[bytes]) -> int:
    """Re-seal every TOTP secret with ``keys[0]`` (any key in ``keys`` may open the old value).

    Returns how many rows changed. All in one transaction: either every row moves to the new
    key or none does. Refuses (UnsealError) if any row opens with none of ``keys``.
    """
    changed = 0
    with transaction.atomic():
        rows = TOTPDevice.objects.select_for_update().values_list("pk", "user_id", "key")
        newest = fieldcrypto.key_id(keys[0])
        for pk, user_id, sealed in rows:
            if fieldcrypto.is_sealed(sealed) and sealed.split(".")[1] == newest:
                continue
            secret = (
                totp_key_unseal(sealed, user_id=user_id, keys=keys)
                if fieldcrypto.is_sealed(sealed)
                else binascii.unhexlify(sealed.encode())  # left in clear by a bulk write
            )
            resealed = totp_key_seal(secret.hex(), user_id=user_id, keys=keys)
            TOTPDevice.objects.filter(pk=pk).update(key=resealed)
            changed += 1
    return changed
