"""Integrity alerts in the admin: stored files that failed their SHA-256, closed only by an
audited recheck or acknowledgement."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_permissions import user_may
from invoices import services
from invoices.models import IntegrityAlert

__all__ = ["AlertStateFilter", "IntegrityAlertAdmin"]


class AlertStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("open", "Open"), ("closed", "Resolved or acknowledged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[IntegrityAlert]):
        if self.value() in ("open", "closed"):
            return queryset.filter(resolved_at__isnull=self.value() == "open")
        return queryset


@admin.register(IntegrityAlert)
class IntegrityAlertAdmin(admin.ModelAdmin):
    """Stored files that failed their SHA-256 on download. Read-only; staff close an alert
    by checking the file again (after restoring it) or by acknowledging it, both audited."""

    list_display = [
        "invoice",
        "client_name",
        "detected_at",
        "last_failed_at",
        "failures",
        "resolved_at",
        "resolution",
    ]
    list_select_related = ["invoice__client", "resolved_by"]
    readonly_fields = list_display[:1] + list_display[2:] + ["resolved_by"]
    fields = readonly_fields
    list_filter = [AlertStateFilter]
    actions = ["recheck", "acknowledge"]

    @admin.display(description="Client")
    def client_name(self, obj: IntegrityAlert) -> str:
        return obj.invoice.client.name

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        """Closing an alert takes the right to change alerts (the owner's): a staff user who
        may only look, or prepare drafts, must not be able to make the banner go away."""
        return user_may(request, "invoices.change_integrityalert")

    @admin.action(
        description="Check the stored file again (after restoring it)", permissions=["resolve"]
    )
    def recheck(self, request: HttpRequest, queryset: QuerySet[IntegrityAlert]) -> None:
        for alert in queryset.select_related("invoice__client"):
            if services.integrity_alert_recheck(alert=alert, by=request.user, request=request):
                messages.success(request, f"{alert.invoice.number}: the file matches again.")
            elif alert.resolved_at is None:
                messages.error(
                    request,
                    f"{alert.invoice.number}: the stored file still does not match its "
                    "SHA-256; downloads stay refused.",
                )

    @admin.action(
        description="Acknowledge (downloads stay refused while the file is wrong)",
        permissions=["resolve"],
    )
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[IntegrityAlert]) -> None:
        count = sum(
            services.integrity_alert_acknowledge(alert=alert, by=request.user, request=request)
            for alert in queryset.select_related("invoice__client")
        )
        messages.success(request, f"Acknowledged {count} alert(s).")
