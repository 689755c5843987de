"""Reactions to account events from clients."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.utils import timezone

from clients.signals import credentials_reset
from invoices.models import DownloadLink


@receiver(credentials_reset)
def revoke_links_after_reset(sender: Any, user: Any, **kwargs: Any) -> None:
    DownloadLink.objects.filter(created_by=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
