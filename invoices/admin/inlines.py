"""Inlines shown on an invoice's admin page: its links, its audit trail, its lines."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent
from invoices.models import DownloadLink, GeneratedInvoice, InvoiceLine, InvoiceStatus

__all__ = ["AuditInline", "LineInline", "LinkInline"]


class LinkInline(admin.TabularInline):
    """An invoice's download links, read-only: links are made by an action, never typed."""

    model = DownloadLink
    fields = [
        "created_at",
        "expires_at",
        "state_display",
        "download_count",
        "max_downloads",
        "created_by",
        "note",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="State")
    def state_display(self, obj: DownloadLink) -> str:
        return obj.state

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AuditInline(admin.TabularInline):
    """An invoice's audit trail, read-only: the admin adds, changes and deletes no row."""

    model = AuditEvent
    verbose_name_plural = "Audit trail (downloads and changes)"
    fields = ["occurred_at", "kind", "actor_email", "ip_address", "user_agent", "bytes_sent"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class LineInline(admin.TabularInline):
    """A draft's lines; once the invoice is issued they are frozen (no add, change, delete)."""

    model = InvoiceLine
    fields = ["position", "description", "quantity", "unit", "unit_price", "tax_rate"]
    extra = 3

    def _frozen(self, obj: GeneratedInvoice | None) -> bool:
        return obj is not None and obj.pk is not None and obj.status != InvoiceStatus.DRAFT

    def get_readonly_fields(self, request: HttpRequest, obj: GeneratedInvoice | None = None):
        return self.fields if self._frozen(obj) else []

    def get_extra(
        self, request: HttpRequest, obj: GeneratedInvoice | None = None, **kwargs: object
    ) -> int:
        return 0 if self._frozen(obj) else self.extra

    def has_add_permission(self, request: HttpRequest, obj: GeneratedInvoice | None = None) -> bool:
        return not self._frozen(obj)

    def has_change_permission(
        self, request: HttpRequest, obj: GeneratedInvoice | None = None
    ) -> bool:
        return not self._frozen(obj)

    def has_delete_permission(
        self, request: HttpRequest, obj: GeneratedInvoice | None = None
    ) -> bool:
        return not self._frozen(obj)
