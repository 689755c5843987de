"""The business profile: read it, change it (bank details changes are audited)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from audit.models import EventKind
from audit.services import audit_record
from business.models import BANK_FIELDS, PAYMENT_FIELDS, BusinessProfile

__all__ = ["LogoRejected", "check_logo", "profile_get", "profile_save"]

MAX_LOGO_BYTES = 512 * 1024
MAX_LOGO_PIXELS = 4000 * 4000


def profile_get() -> BusinessProfile:
    """The one profile row, created with defaults on first use."""
    profile, _ = BusinessProfile.objects.get_or_create(pk=1)
    return profile


class LogoRejected(ValueError):
    pass


@dataclass(frozen=True)
class CheckedLogo:
    data: bytes
    kind: str  # "png" or "jpeg"


def check_logo(data: bytes) -> CheckedLogo:
    """A PNG or JPEG under 512 KiB and 16 megapixels, decoded fully to be sure it is one."""
    if len(data) > MAX_LOGO_BYTES:
        raise LogoRejected(f"The logo is larger than {MAX_LOGO_BYTES // 1024} KiB.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = (image.format or "").lower()
            if kind not in {"png", "jpeg"}:
                raise LogoRejected("The logo must be a PNG or JPEG image.")
            if image.width * image.height > MAX_LOGO_PIXELS:
                raise LogoRejected("The logo has too many pixels (at most 16 megapixels).")
            image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise LogoRejected("The logo is not a readable PNG or JPEG image.") from None
    return CheckedLogo(data=data, kind=kind)


def profile_save(
    *, profile: BusinessProfile, by: object | None = None, request: HttpRequest | None = None
) -> BusinessProfile:
    """Save ``profile``, audited with the fields changed; a change to any bank detail, or to
    the footer, email or phone printed with them (``PAYMENT_FIELDS``), is stamped and
    audited as a bank change, and clients see a notice about it for 90 days (invoice
    fraud works by changing bank details). Refuses, with the model's ValidationError, a
    profile that does not validate, such as a number pattern that cannot make valid,
    distinct numbers (business.numbering); and (``PermissionDenied``) a bank change by a
    staff user without ``business.change_bank_details`` (the footer, email and phone
    included)."""
    profile.full_clean()
    with transaction.atomic():
        before = BusinessProfile.objects.select_for_update().filter(pk=profile.pk).first()
        changed = [
            f for f in PAYMENT_FIELDS if before and getattr(before, f) != getattr(profile, f)
        ]
        if changed and by is not None and not by.has_perm("business.change_bank_details"):
            raise PermissionDenied(
                "Changing the bank details, footer, email or phone needs its own permission."
            )
        others = [
            f.name
            for f in BusinessProfile._meta.concrete_fields
            if before
            and f.name not in PAYMENT_FIELDS
            and f.name not in ("updated_at", "bank_details_changed_at")
            and getattr(before, f.attname) != getattr(profile, f.attname)
        ]
        first_setup = before is not None and not any(getattr(before, f) for f in BANK_FIELDS[:-1])
        now = timezone.now()
        if changed and not first_setup:
            profile.bank_details_changed_at = now
        profile.updated_at = now
        profile.save()
        if changed:
            audit_record(
                kind=EventKind.BANK_DETAILS_CHANGED,
                request=request,
                actor=by,
                detail="changed: " + ", ".join(changed),
            )
        if others or before is None:
            audit_record(
                kind=EventKind.PROFILE_CHANGED,
                request=request,
                actor=by,
                detail="changed: " + (", ".join(others) or "created"),
            )
    return profile
