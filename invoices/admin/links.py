"""Download links in the admin: read-only, revoked by an action that calls the service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_permissions import user_may
from invoices import services
from invoices.models import DownloadLink

__all__ = ["DownloadLinkAdmin"]


@admin.register(DownloadLink)
class DownloadLinkAdmin(admin.ModelAdmin):
    list_display = [
        "invoice",
        "created_at",
        "expires_at",
        "state_display",
        "download_count",
        "max_downloads",
        "created_by",
        "note",
    ]
    list_filter = ["invoice__client"]
    search_fields = ["invoice__number", "note"]
    list_select_related = ["invoice", "created_by"]
    readonly_fields = [
        "invoice",
        "created_at",
        "expires_at",
        "download_count",
        "max_downloads",
        "revoked_at",
        "created_by",
        "note",
    ]
    exclude = ["token_digest"]
    actions = ["revoke"]

    @admin.display(description="State")
    def state_display(self, obj: DownloadLink) -> str:
        return obj.state

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # every field is read-only; links change only through actions

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "invoices.change_downloadlink")

    @admin.action(description="Revoke selected links", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[DownloadLink]) -> None:
        count = sum(
            services.link_revoke(link=link, by=request.user, request=request)
            for link in queryset.select_related("invoice__client")
        )
        messages.success(request, f"Revoked {count} link(s).")
