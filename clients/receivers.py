"""Keep invitations from outliving a deactivation (a later reactivation must not bring an
old link back to life)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clients.models import BackupCodeDevice, Client, Invitation, User


@receiver(post_save, sender=User)
@receiver(post_save, sender="clients.Contact")
def _user_deactivated(sender: Any, instance: User, **kwargs: Any) -> None:
    if not instance.is_active:
        Invitation.objects.filter(
            user=instance, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())


@receiver(post_save, sender=Client)
def _client_deactivated(sender: Any, instance: Client, **kwargs: Any) -> None:
    if not instance.is_active:
        Invitation.objects.filter(
            user__client=instance, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())


@receiver(post_delete, sender=TOTPDevice)
@receiver(post_delete, sender=BackupCodeDevice)
def _device_removed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Deleting a device (the consultant resetting someone's 2FA in the admin, or the user
    turning it off) is a security event. A pending device that was never confirmed (a
    secret shown during an enrolment that another session finished) is not."""
    if not instance.confirmed:
        return
    from audit.models import EventKind
    from audit.services import audit_record

    audit_record(
        kind=EventKind.OTP_DEVICE_REMOVED,
        actor_email=instance.user.email,
        client=instance.user.client,
        detail=f"{sender._meta.verbose_name} {instance.name!r} removed",
    )
