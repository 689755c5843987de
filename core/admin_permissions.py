"""Permission rules shared by every admin class.

Django filters an action by its declared ``permissions`` and checks each form by the
``has_*_permission`` methods; an override that answers without asking ``super()`` ignores
what the staff user may do. These helpers only ever narrow Django's answer.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

__all__ = ["ParentGuardedInline", "user_may"]


def user_may(request: HttpRequest, permission: str) -> bool:
    """Whether the request's user holds ``permission`` ("app.codename")."""
    return bool(request.user.is_active and request.user.has_perm(permission))


class ParentGuardedInline(admin.options.InlineModelAdmin):
    """An inline that adds, changes or deletes rows only for a user who may also change
    the parent object: holding a right on the child model alone is not enough."""

    def _parent_may_change(self, request: HttpRequest, obj: Any) -> bool:
        parent = self.admin_site._registry.get(self.parent_model)
        return parent is not None and parent.has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_add_permission(request, obj) and self._parent_may_change(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        may = super().has_change_permission(request, obj)
        return may and self._parent_may_change(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        may = super().has_delete_permission(request, obj)
        return may and self._parent_may_change(request, obj)
