"""Authentication backend: Django's, refusing contacts of an inactive client."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class ContactAwareBackend(ModelBackend):
    def user_can_authenticate(self, user: object) -> bool:
        if not super().user_can_authenticate(user):
            return False
        client = getattr(user, "client", None)
        return client is None or client.is_active

    def get_user(self, user_id: object) -> object | None:
        """The session's user with its client in the same query: every request of a
        contact checks ``client.is_active`` (above), and most pages scope by the client.
        Refuses (None) an unknown id and a user ``user_can_authenticate`` refuses."""
        user_model = get_user_model()
        try:
            user = user_model._default_manager.select_related("client").get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
