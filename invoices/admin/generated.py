"""Admin for invoices made from line items: drafts with inline lines, a PDF preview, issue
(number, final PDF, frozen) and credit notes. Business rules live in invoices.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin_permissions import user_may
from invoices import services
from invoices.admin.forms import GeneratedInvoiceForm
from invoices.admin.inlines import LineInline
from invoices.models import GeneratedInvoice, InvoiceStatus

__all__ = ["GeneratedInvoiceAdmin"]


@admin.register(GeneratedInvoice)
class GeneratedInvoiceAdmin(admin.ModelAdmin):
    form = GeneratedInvoiceForm
    inlines = [LineInline]
    list_display = [
        "__str__",
        "kind",
        "client",
        "issue_date",
        "due_date",
        "total",
        "currency",
        "status",
    ]
    list_filter = ["status", "kind", "client"]
    search_fields = ["number", "client__name"]
    list_select_related = ["client"]
    actions = ["issue", "credit_note"]
    readonly_fields = [
        "number",
        "kind",
        "credited_invoice",
        "status",
        "subtotal",
        "tax_total",
        "total",
        "payment_reference",
        "preview",
    ]

    def get_fields(self, request: HttpRequest, obj: GeneratedInvoice | None = None):
        return [*GeneratedInvoiceForm.Meta.fields, *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: GeneratedInvoice | None = None):
        if obj is not None and obj.status != InvoiceStatus.DRAFT:
            return [*GeneratedInvoiceForm.Meta.fields, *self.readonly_fields]
        if obj is not None:
            return ["client", *self.readonly_fields]
        return self.readonly_fields

    @admin.display(description="PDF")
    def preview(self, obj: GeneratedInvoice) -> str:
        if obj.pk is None:
            return "Save the draft first."
        if obj.status == InvoiceStatus.DRAFT:
            url = reverse("admin:invoices_generatedinvoice_preview", args=[obj.pk])
            return format_html('<a href="{}">Preview the PDF (watermarked DRAFT)</a>', url)
        return f"Issued PDF: {obj.pdf_size} bytes, SHA-256 {obj.pdf_sha256}"

    def get_urls(self):
        extra = [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="invoices_generatedinvoice_preview",
            )
        ]
        return extra + super().get_urls()

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        invoice = get_object_or_404(GeneratedInvoice, pk=pk)
        if not self.has_view_permission(request, invoice):
            return HttpResponse(status=403)
        try:
            data = services.draft_preview_pdf(invoice=invoice)
        except services.InvoiceError as exc:
            messages.error(request, str(exc))
            return HttpResponse(status=404)
        response = HttpResponse(data, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="draft-{invoice.public_id.hex[:8]}.pdf"'
        )
        response["Cache-Control"] = "private, no-store"
        return response

    def save_model(
        self, request: HttpRequest, obj: GeneratedInvoice, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            fields = [
                f
                for f in form.changed_data
                if f in GeneratedInvoiceForm.Meta.fields and f in services.DRAFT_FIELDS
            ]
            if not services.invoice_draft_update(
                actor=request.user,
                invoice=obj,
                changes={f: getattr(obj, f) for f in fields},
                request=request,
            ):
                messages.error(request, f"{obj} is no longer a draft; nothing changed.")
            return
        data = form.cleaned_data
        draft = services.generated_draft_create(
            actor=request.user,
            client=data["client"],
            issue_date=data["issue_date"],
            due_date=data["due_date"],
            currency=data["currency"],
            request=request,
        )
        for field in GeneratedInvoice._meta.concrete_fields:
            setattr(obj, field.attname, getattr(draft, field.attname))
        obj._state.adding = False

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset, change: bool):
        """The lines go through the service, which writes them only while the invoice is a
        draft; once it is frozen nothing is saved and nothing is reported."""
        saved = formset.save(commit=False)
        totals = services.draft_lines_save(
            actor=request.user,
            invoice=form.instance,
            saved=saved,
            deleted=formset.deleted_objects,
            request=request,
        )
        if totals is None:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def has_delete_permission(
        self, request: HttpRequest, obj: GeneratedInvoice | None = None
    ) -> bool:
        may = super().has_delete_permission(request, obj)
        return may and (obj is None or obj.status == InvoiceStatus.DRAFT)

    def has_issue_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "invoices.issue_invoice")

    def has_credit_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "invoices.create_credit_note")

    def delete_model(self, request: HttpRequest, obj: GeneratedInvoice) -> None:
        if not services.invoice_draft_delete(actor=request.user, invoice=obj, request=request):
            messages.error(request, f"{obj} is not a draft; void it instead.")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[GeneratedInvoice]) -> None:
        for invoice in queryset:
            self.delete_model(request, invoice)

    @admin.action(
        description="Issue selected drafts (number, final PDF, frozen)", permissions=["issue"]
    )
    def issue(self, request: HttpRequest, queryset: QuerySet[GeneratedInvoice]) -> None:
        for invoice in queryset:
            try:
                issued = services.invoice_issue(invoice=invoice, by=request.user, request=request)
            except services.InvoiceError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"Issued {issued.number}.")

    @admin.action(
        description="Make a credit note for the selected invoices (as a draft)",
        permissions=["credit"],
    )
    def credit_note(self, request: HttpRequest, queryset: QuerySet[GeneratedInvoice]) -> None:
        for invoice in queryset:
            try:
                note = services.credit_note_create(
                    original=invoice, by=request.user, request=request
                )
            except services.InvoiceError as exc:
                messages.error(request, f"{invoice}: {exc}")
            else:
                messages.success(
                    request, f"Draft credit note {note} made for {invoice}; check and issue it."
                )
