"""Two-factor authentication with django-otp: enrolment, verification, backup codes.

TOTP itself (secrets, time steps, drift, replay guard through ``last_t``, throttling) is
django-otp's TOTPDevice; nothing here computes a code. Every change is audited.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass

import segno
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.http import HttpRequest
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import EventKind
from audit.services import audit_record
from clients.models import BackupCode, BackupCodeDevice, User
from core import tokens
from core.fieldcrypto import UnsealError
from core.keyfile import KeyFileError
from core.signals import security_change

__all__ = [
    "Enrolment",
    "backup_codes_regenerate",
    "has_second_factor",
    "second_factor_disable",
    "second_factor_verify",
    "totp_confirm",
    "totp_enrolment",
]

TOTP_NAME = "Authenticator app"
logger = logging.getLogger(__name__)


def _verifies(device: Device, code: str) -> bool:
    """django-otp's own check; a TOTP secret that does not open (key file lost or replaced,
    a row written past the seal) counts as a wrong code, so the user's other devices (backup
    codes) still work, and the operator is told."""
    try:
        return device.verify_token(code)
    except (UnsealError, KeyFileError) as exc:
        logger.error(
            "The TOTP secret of device %s cannot be opened with the OTP key file "
            "(INVOICEPORTAL_OTP_KEY_FILE): restore the file, or have the user re-enrol. %s",
            device.persistent_id,
            exc,
        )
        return False


def _tell(user: User, what: str) -> None:
    security_change.send(sender=User, user=user, what=what, email=user.email)


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    secret: str  # base32, for manual entry
    qr_data_uri: str  # SVG, rendered here: no external service, no script


def has_second_factor(user: User) -> bool:
    return user_has_device(user, confirmed=True)


# The pending device this session enrols (its id); other sessions never see its secret.
PENDING_DEVICE = "_portal_pending_totp"


def totp_enrolment(*, user: User, session: SessionBase) -> Enrolment:
    """This session's pending (unconfirmed) TOTP device with its secret and QR code.

    Each session gets a device and secret of its own, created on its first visit: a secret
    seen in one session (an open browser, a shoulder) is never the one another session
    confirms. Refuses nothing; the view decides who may see the result (recent password).
    """
    device = None
    if (pk := session.get(PENDING_DEVICE)) is not None:
        device = TOTPDevice.objects.filter(pk=pk, user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
        session[PENDING_DEVICE] = device.pk
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    buffer = io.BytesIO()
    segno.make(device.config_url, error="m").save(
        buffer, kind="svg", scale=5, border=2, xmldecl=False
    )
    uri = "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
    return Enrolment(device=device, secret=secret, qr_data_uri=uri)


def _new_backup_codes(user: User) -> list[str]:
    BackupCodeDevice.objects.filter(user=user).delete()
    device = BackupCodeDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    codes = [tokens.new_backup_code() for _ in range(settings.BACKUP_CODE_COUNT)]
    BackupCode.objects.bulk_create(
        BackupCode(
            device=device, digest=tokens.backup_code_digests(tokens.normalize_backup_code(c))[0]
        )
        for c in codes
    )
    return codes


def totp_confirm(*, user: User, code: str, request: HttpRequest) -> list[str] | None:
    """Confirm this session's pending TOTP device with a code from the app.

    Refuses (``None``) a session without a pending device of its own, whatever the code:
    a code from a secret shown to another session does not bind here.

    Returns the ten new backup codes (shown once, stored as digests) or ``None`` if the code
    is wrong (throttled by django-otp). On success the session counts as verified and its
    key rotates.
    """
    pending = request.session.get(PENDING_DEVICE)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(pk=pending, user=user, confirmed=False)
            .first()
            if pending is not None
            else None
        )
        if device is None or not _verifies(device, code):
            audit_record(kind=EventKind.OTP_FAILED, request=request, actor=user, detail="enrolment")
            return None
        # Every other device goes: the old phone, and the pending secrets other sessions
        # were shown (one of them may have been read over a shoulder).
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_backup_codes(user)
        audit_record(kind=EventKind.OTP_ENROLLED, request=request, actor=user)
        _tell(user, "Two-factor authentication was turned on for your account.")
    request.session.pop(PENDING_DEVICE, None)
    request.session.cycle_key()
    otp_login(request, device)
    return codes


def second_factor_verify(*, user: User, code: str, request: HttpRequest) -> Device | None:
    """Check a TOTP or backup code for ``user`` after the password step.

    Each confirmed device verifies with django-otp's own throttling and replay guard. On
    success the session is marked verified and its key rotates; failures are audited.
    """
    verified = None
    with transaction.atomic():
        # The authenticator app first: a wrong code counts against (and throttles) every
        # device it is tried on, so trying an app's code on the backup codes first would
        # refuse a backup code entered within the next second. django-otp's own order
        # follows INSTALLED_APPS, which must not decide this.
        devices = sorted(
            devices_for_user(user, confirmed=True, for_verify=True),
            key=lambda device: isinstance(device, BackupCodeDevice),
        )
        for device in devices:
            if _verifies(device, code):
                verified = device
                break
    if verified is None:
        audit_record(kind=EventKind.OTP_FAILED, request=request, actor=user)
        return None
    request.session.cycle_key()
    otp_login(request, verified)
    if isinstance(verified, BackupCodeDevice):
        audit_record(
            kind=EventKind.BACKUP_CODE_USED,
            request=request,
            actor=user,
            detail=f"{verified.remaining} backup codes left",
        )
    else:
        audit_record(kind=EventKind.OTP_VERIFIED, request=request, actor=user)
    return verified


def backup_codes_regenerate(*, user: User, request: HttpRequest) -> list[str]:
    """Ten new backup codes; the old ones stop working at once."""
    with transaction.atomic():
        codes = _new_backup_codes(user)
        audit_record(kind=EventKind.BACKUP_CODES_REGENERATED, request=request, actor=user)
        _tell(user, "New backup codes were made for your account; the old ones stopped working.")
    return codes


def second_factor_disable(*, user: User, request: HttpRequest) -> None:
    """Remove every device. A user who must have 2FA is sent to enrol again by the gate."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        BackupCodeDevice.objects.filter(user=user).delete()
        audit_record(kind=EventKind.OTP_DISABLED, request=request, actor=user)
        _tell(user, "Two-factor authentication was turned off for your account.")
