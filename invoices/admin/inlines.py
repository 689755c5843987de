"""Inlines shown on an invoice's admin page: its links, its audit trail, its lines. Each
narrows Django's permission answer and needs the right to change the parent invoice."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent
from core.admin_permissions import ParentGuardedInline
from invoices.models import DownloadLink, GeneratedInvoice, InvoiceLine, InvoiceStatus

__all__ = ["AuditInline", "LineInline", "LinkInline"]


class LinkInline(ParentGuardedInline, admin.TabularInline):
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

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AuditInline(ParentGuardedInline, admin.TabularInline):
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

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class LineInline(ParentGuardedInline, admin.TabularInline):
    """A draft's lines; once the invoice is issued they are frozen (no add, change, delete).
    Saved through invoices.services.draft_lines_save (GeneratedInvoiceAdmin.save_formset)."""

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
        return super().has_add_permission(request, obj) and not self._frozen(obj)

    def has_change_permission(
        self, request: HttpRequest, obj: GeneratedInvoice | None = None
    ) -> bool:
        return super().has_change_permission(request, obj) and not self._frozen(obj)

    def has_delete_permission(
        self, request: HttpRequest, obj: GeneratedInvoice | None = None
    ) -> bool:
        return super().has_delete_permission(request, obj) and not self._frozen(obj)
