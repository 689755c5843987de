from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is evidence, nobody edits it from the admin."""

    list_display = ["occurred_at", "kind", "actor_email", "client", "invoice", "ip_address"]
    list_filter = ["kind", "client"]
    search_fields = ["actor_email", "ip_address", "invoice__number", "detail"]
    date_hierarchy = "occurred_at"
    list_select_related = ["client", "invoice"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
