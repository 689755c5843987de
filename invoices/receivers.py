"""Reactions to account events from clients."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from clients.signals import credentials_reset
from invoices.services import links_revoke_for_user


@receiver(credentials_reset)
def revoke_links_after_reset(sender: Any, user: Any, actor: Any = None, **kwargs: Any) -> None:
    links_revoke_for_user(user=user, actor=actor, request=kwargs.get("request"))
