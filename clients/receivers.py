"""Keep invitations from outliving a deactivation (a later reactivation must not bring an
old link back to life)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clients.models import BackupCodeDevice, Client, EmailChange, Invitation, User


@receiver(pre_save, sender=User)
@receiver(pre_save, sender="clients.Contact")
def _address_changed(sender: Any, instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    """Whatever path changes a login address (the confirmation link, the admin, a shell),
    open confirmation links for another address die with it: a change waiting since before
    must not undo or override the new address later."""
    if instance.pk is None or (update_fields is not None and "email" not in update_fields):
        return
    before = User.objects.filter(pk=instance.pk).values_list("email", flat=True).first()
    if before is not None and before != User.objects.normalize_email_address(instance.email):
        EmailChange.objects.filter(
            user_id=instance.pk, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())


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
        subject=instance.user,
        client=instance.user.client,
        detail=f"{sender._meta.verbose_name} {instance.name!r} removed",
    )
