"""Invoices in the admin: upload (checked PDF), the draft/issued/paid/void actions, links
for an email and credit notes. Business rules and every write live in invoices.services."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from audit.models import EventKind
from audit.services import audit_record
from core.admin_links import OneTimeLink, one_time_links_response
from core.admin_permissions import user_may
from invoices import services
from invoices.admin.forms import InvoiceCreationForm
from invoices.admin.inlines import AuditInline, LinkInline
from invoices.models import Invoice, InvoiceStatus

__all__ = ["InvoiceAdmin"]


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "client",
        "issue_date",
        "due_date",
        "total",
        "currency",
        "status_display",
        "downloads",
    ]
    list_filter = ["status", "client", "currency"]
    search_fields = ["number", "client__name"]
    date_hierarchy = "issue_date"
    list_select_related = ["client"]
    inlines = [LinkInline, AuditInline]
    actions = ["issue", "mark_paid_today", "void", "email_link", "credit_note"]
    readonly_fields = [
        "public_id",
        "status",
        "pdf_sha256",
        "pdf_size",
        "original_filename",
        "created_at",
        "created_by",
        "issued_at",
        "paid_on",
        "voided_at",
    ]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """The upload form; a refusal that only shows once the file is written (the store is
        read-only or full, the number was taken meanwhile) gets a page that says so, after
        the admin's transaction has rolled back: no invoice row, no file."""
        try:
            return super().add_view(request, form_url, extra_context)
        except services.InvoiceError as exc:
            if isinstance(exc, services.StorageError):
                # The service's own audit row went with the rollback; record it again.
                audit_record(kind=EventKind.UPLOAD_REFUSED, request=request, detail=str(exc))
            response = render(
                request,
                "admin/invoices/upload_refused.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Upload refused",
                    "message": str(exc),
                    "opts": self.model._meta,
                },
                status=503 if isinstance(exc, services.StorageError) else 409,
            )
            if isinstance(exc, services.StorageError):
                response["Retry-After"] = "300"
            return response

    def get_inlines(self, request: HttpRequest, obj: Invoice | None = None) -> list:
        # A new invoice has no links or audit trail yet.
        return self.inlines if obj is not None and obj.pk else []

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invoice]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                download_total=Count(
                    "audit_events", filter=Q(audit_events__kind=EventKind.DOWNLOAD)
                )
            )
        )

    @admin.display(description="Downloads", ordering="download_total")
    def downloads(self, obj: Invoice) -> int:
        return obj.download_total

    @admin.display(description="Status")
    def status_display(self, obj: Invoice) -> str:
        return obj.display_status

    def get_form(self, request: HttpRequest, obj: Invoice | None = None, **kwargs: object):
        if obj is None:
            # Who may not issue uploads drafts only: the "issue now" box is not there.
            kwargs["form"] = (
                InvoiceCreationForm
                if self.has_issue_permission(request)
                else type("DraftUploadForm", (InvoiceCreationForm,), {"issue_now": None})
            )
            form = super().get_form(request, obj, **kwargs)
            form.request = request
            return form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Invoice | None = None):
        if obj is None:
            issue = ["issue_now"] if self.has_issue_permission(request) else []
            return [*InvoiceCreationForm.Meta.fields, "pdf", *issue]
        return [
            "public_id",
            "client",
            "number",
            "issue_date",
            "due_date",
            "total",
            "currency",
            *self.readonly_fields[1:],
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Invoice | None = None):
        if obj is None:
            return []
        if obj.status != InvoiceStatus.DRAFT:
            # Issued invoices are frozen; a correction is a new invoice.
            return [
                "client",
                "number",
                "issue_date",
                "due_date",
                "total",
                "currency",
                *self.readonly_fields,
            ]
        return ["client", *self.readonly_fields]

    def save_model(
        self, request: HttpRequest, obj: Invoice, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            # Only a draft changes, checked in the UPDATE itself (in the service): an invoice
            # issued in the meantime by someone else stays as it was issued.
            fields = [f for f in form.changed_data if f in services.DRAFT_FIELDS]
            if not services.invoice_draft_update(
                actor=request.user,
                invoice=obj,
                changes={f: getattr(obj, f) for f in fields},
                request=request,
            ):
                messages.error(request, f"{obj.number} is no longer a draft; nothing changed.")
            return
        data = form.cleaned_data
        invoice = services.invoice_create(
            client=data["client"],
            number=data["number"],
            issue_date=data["issue_date"],
            due_date=data["due_date"],
            total=data["total"],
            currency=data["currency"],
            pdf=data["pdf"],
            original_filename=data["pdf"].name,
            created_by=request.user,
            issue=bool(data.get("issue_now")) and self.has_issue_permission(request),
            request=request,
        )
        for field in Invoice._meta.concrete_fields:
            setattr(obj, field.attname, getattr(invoice, field.attname))
        obj._state.adding = False

    def has_delete_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        may = super().has_delete_permission(request, obj)
        return may and (obj is None or obj.status == InvoiceStatus.DRAFT)

    # The rights of the actions (clients/roles.py gives them to the roles).
    def has_issue_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "invoices.issue_invoice")

    def has_mark_paid_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "invoices.mark_invoice_paid")

    def has_void_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "invoices.void_invoice")

    def has_credit_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "invoices.create_credit_note")

    def has_link_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "invoices.create_download_link")

    def delete_model(self, request: HttpRequest, obj: Invoice) -> None:
        if not services.invoice_draft_delete(actor=request.user, invoice=obj, request=request):
            messages.error(request, f"{obj.number} is not a draft; void it instead.")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        for invoice in queryset:
            self.delete_model(request, invoice)

    def _each(self, request: HttpRequest, queryset: QuerySet[Invoice], action, done: str) -> None:
        count = 0
        for invoice in queryset:
            try:
                action(invoice)
            except services.InvoiceError as exc:
                messages.error(request, str(exc))
            else:
                count += 1
        if count:
            messages.success(request, f"{done}: {count} invoice(s).")

    @admin.action(description="Issue selected drafts", permissions=["issue"])
    def issue(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        self._each(
            request,
            queryset,
            lambda i: services.invoice_issue(invoice=i, by=request.user, request=request),
            "Issued",
        )

    @admin.action(description="Mark selected invoices paid today", permissions=["mark_paid"])
    def mark_paid_today(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        today = timezone.localdate()
        self._each(
            request,
            queryset,
            lambda i: services.invoice_mark_paid(
                invoice=i, paid_on=today, by=request.user, request=request
            ),
            "Marked paid",
        )

    @admin.action(
        description="Void selected invoices (their links stop working)", permissions=["void"]
    )
    def void(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        self._each(
            request,
            queryset,
            lambda i: services.invoice_void(invoice=i, by=request.user, request=request),
            "Voided",
        )

    @admin.action(
        description=f"Create a link for an email (valid {settings.EMAIL_LINK_TTL_DAYS} days; "
        "needs the client's login)",
        permissions=["link"],
    )
    def email_link(self, request: HttpRequest, queryset: QuerySet[Invoice]):
        ttl = timedelta(days=settings.EMAIL_LINK_TTL_DAYS)
        links, problems = [], []
        for invoice in queryset.select_related("client"):
            try:
                link, token = services.link_create(
                    invoice=invoice,
                    ttl=ttl,
                    by=request.user,
                    note="made in the admin for an email",
                    request=request,
                )
            except services.InvoiceError as exc:
                problems.append(str(exc))
                continue
            url = settings.BASE_URL + reverse("download", args=[token])  # never the Host header
            label = f"{invoice.number} ({invoice.client.name})"
            links.append(OneTimeLink(label=label, url=url, expires=link.expires_at))
        return one_time_links_response(
            request,
            title="Links for an email",
            explanation="Each link still needs the login of one of the client's contacts: "
            "a forwarded or intercepted email is useless to anyone else.",
            links=links,
            back=reverse("admin:invoices_invoice_changelist"),
            problems=problems,
        )

    @admin.action(description="Make a credit note (as a draft)", permissions=["credit"])
    def credit_note(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        for invoice in queryset:
            try:
                services.credit_note_create(original=invoice, by=request.user, request=request)
            except services.InvoiceError as exc:
                messages.error(request, f"{invoice}: {exc}")
            else:
                messages.success(
                    request,
                    f"Draft credit note made for {invoice}; check it under Invoices from "
                    "line items and issue it.",
                )
