"""The admin's forms for invoices: the upload form and the line-item draft form. They check
what a person typed; the writes and the business rules stay in invoices.services."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.http import HttpRequest

from audit.models import EventKind
from audit.services import audit_record
from business.services import profile_get
from invoices.models import GeneratedInvoice, Invoice
from invoices.pdfcheck import PdfRejected, check_pdf

__all__ = ["GeneratedInvoiceForm", "InvoiceCreationForm"]


class InvoiceCreationForm(forms.ModelForm):
    """An uploaded invoice. Refuses a file over ``MAX_UPLOAD_BYTES`` or one that does not
    parse as a real, unencrypted PDF (the refusal is audited), and a due date before the
    issue date."""

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


class GeneratedInvoiceForm(forms.ModelForm):
    """A draft made from line items. An empty due date becomes the issue date plus the
    profile's payment terms; refuses a due date before the issue date."""

    class Meta:
        model = GeneratedInvoice
        fields = ["client", "issue_date", "due_date", "currency"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        profile = profile_get()
        if "currency" in self.fields:
            self.fields["currency"].initial = profile.default_currency
        if "due_date" in self.fields:
            self.fields["due_date"].required = False
            self.fields[
                "due_date"
            ].help_text = (
                f"Empty: the issue date plus {profile.payment_terms_days} days (payment terms)."
            )

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean(self) -> dict[str, object]:
        data = super().clean()
        issue = data.get("issue_date")
        if issue and not data.get("due_date"):
            data["due_date"] = issue + dt.timedelta(days=profile_get().payment_terms_days)
            self.instance.due_date = data["due_date"]
        if issue and data.get("due_date") and data["due_date"] < issue:
            self.add_error("due_date", "The due date cannot be before the issue date.")
        return data
