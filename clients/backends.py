"""Authentication backend: Django's, refusing contacts of an inactive client."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend


class ContactAwareBackend(ModelBackend):
    def user_can_authenticate(self, user: object) -> bool:
        if not super().user_can_authenticate(user):
            return False
        client = getattr(user, "client", None)
        return client is None or client.is_active
