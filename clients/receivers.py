"""Keep invitations from outliving a deactivation (a later reactivation must not bring an
old link back to life)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from clients.models import Client, Invitation, User


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
