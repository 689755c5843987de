"""The consultant's side for invoices and links. Business rules live in services."""

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

from audit.models import AuditEvent, EventKind
from audit.services import audit_record
from core.admin_links import OneTimeLink, one_time_links_response
from invoices import services, storage
from invoices.models import DownloadLink, IntegrityAlert, Invoice, InvoiceStatus
from invoices.pdfcheck import PdfRejected, check_pdf


class InvoiceCreationForm(forms.ModelForm):
    pdf = forms.FileField(
        label="Invoice PDF",
        help_text="A real, unencrypted PDF; checked by parsing it.",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf"}),
    )
    issue_now = forms.BooleanField(
        required=False,
        initial=True,
        help_text="Issue at once: the client sees it and it can no longer be changed.",
    )
    request: HttpRequest | None = None

    class Meta:
        model = Invoice
        fields = ["client", "number", "issue_date", "due_date", "total", "currency"]

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean_pdf(self):
        upload = self.cleaned_data["pdf"]
        try:
            if upload.size > settings.MAX_UPLOAD_BYTES:
                raise PdfRejected(
                    f"The file is larger than the limit of {settings.MAX_UPLOAD_BYTES:,} bytes."
                )
            check_pdf(upload)
        except PdfRejected as exc:
            audit_record(kind=EventKind.UPLOAD_REFUSED, request=self.request, detail=str(exc))
            raise forms.ValidationError(str(exc)) from None
        return upload

    def clean(self):
        data = super().clean()
        issue, due = data.get("issue_date"), data.get("due_date")
        if issue and due and due < issue:
            self.add_error("due_date", "The due date cannot be before the issue date.")
        return data


class LinkInline(admin.TabularInline):
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
            kwargs["form"] = InvoiceCreationForm
            form = super().get_form(request, obj, **kwargs)
            form.request = request
            return form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Invoice | None = None):
        if obj is None:
            return [*InvoiceCreationForm.Meta.fields, "pdf", "issue_now"]
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
            # Only a draft changes, checked in the UPDATE itself: an invoice issued in the
            # meantime by someone else stays as it was issued.
            fields = [f for f in form.changed_data if f in InvoiceCreationForm.Meta.fields]
            if fields:
                Invoice.objects.filter(pk=obj.pk, status=InvoiceStatus.DRAFT).update(
                    **{f: getattr(obj, f) for f in fields}
                )
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
            issue=data["issue_now"],
            request=request,
        )
        for field in Invoice._meta.concrete_fields:
            setattr(obj, field.attname, getattr(invoice, field.attname))
        obj._state.adding = False

    def has_delete_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return obj is None or obj.status == InvoiceStatus.DRAFT

    def delete_model(self, request: HttpRequest, obj: Invoice) -> None:
        if obj.status != InvoiceStatus.DRAFT:
            messages.error(request, f"{obj.number} is not a draft; void it instead.")
            return
        name = obj.pdf_name
        super().delete_model(request, obj)
        storage.delete_pdf(name)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        for invoice in queryset.filter(status=InvoiceStatus.DRAFT):
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

    @admin.action(description="Issue selected drafts")
    def issue(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        self._each(
            request,
            queryset,
            lambda i: services.invoice_issue(invoice=i, by=request.user, request=request),
            "Issued",
        )

    @admin.action(description="Mark selected invoices paid today")
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

    @admin.action(description="Void selected invoices (their links stop working)")
    def void(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        self._each(
            request,
            queryset,
            lambda i: services.invoice_void(invoice=i, by=request.user, request=request),
            "Voided",
        )

    @admin.action(
        description=f"Create a link for an email (valid {settings.EMAIL_LINK_TTL_DAYS} days; "
        "needs the client's login)"
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
            url = request.build_absolute_uri(reverse("download", args=[token]))
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


def _credit_note(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
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
    return None


InvoiceAdmin.credit_note = admin.action(description="Make a credit note (as a draft)")(_credit_note)


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

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Revoke selected links")
    def revoke(self, request: HttpRequest, queryset: QuerySet[DownloadLink]) -> None:
        count = sum(
            services.link_revoke(link=link, by=request.user, request=request)
            for link in queryset.select_related("invoice__client")
        )
        messages.success(request, f"Revoked {count} link(s).")


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
        """Closing an alert takes the right to change invoices: a staff user who may only
        look must not be able to make the banner go away."""
        return request.user.has_perm("invoices.change_invoice")

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


from invoices import admin_generated  # noqa: E402, F401  (registers line-item invoices)
