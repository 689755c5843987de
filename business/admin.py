"""The business profile in the admin: a single page, bank details changes audited. The
number patterns are checked by the model (business.numbering); the form shows its errors."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from business.models import PAYMENT_FIELDS, BusinessProfile
from business.services import LogoRejected, check_logo, profile_get, profile_save


class BusinessProfileForm(forms.ModelForm):
    logo_upload = forms.FileField(
        required=False, label="Logo", help_text="PNG or JPEG, at most 512 KiB. Leave empty to keep."
    )
    remove_logo = forms.BooleanField(required=False)

    class Meta:
        model = BusinessProfile
        fields = [
            "business_name",
            "address",
            "tax_id",
            "email",
            "phone",
            "footer_text",
            "default_currency",
            "payment_terms_days",
            "number_pattern",
            "credit_note_pattern",
            "account_holder",
            "iban",
            "bic",
            "account_number",
            "payment_reference_pattern",
        ]

    def clean_default_currency(self) -> str:
        value = self.cleaned_data["default_currency"].strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise forms.ValidationError("Use a three-letter ISO 4217 code, e.g. EUR.")
        return value

    def clean_logo_upload(self):
        upload = self.cleaned_data.get("logo_upload")
        if not upload:
            return None
        if upload.size > 512 * 1024:
            raise forms.ValidationError("The logo is larger than 512 KiB.")
        try:
            return check_logo(upload.read())
        except LogoRejected as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(BusinessProfile)
class BusinessProfileAdmin(admin.ModelAdmin):
    form = BusinessProfileForm
    readonly_fields = ["bank_details_changed_at", "updated_at"]
    fieldsets = (
        (
            "Business",
            {
                "fields": (
                    "business_name",
                    "address",
                    "tax_id",
                    "email",
                    "phone",
                    "logo_upload",
                    "remove_logo",
                    "footer_text",
                )
            },
        ),
        (
            "Invoices",
            {
                "fields": (
                    "default_currency",
                    "payment_terms_days",
                    "number_pattern",
                    "credit_note_pattern",
                )
            },
        ),
        (
            "Payment details",
            {
                "description": "Clients see these on every unpaid invoice. A change is audited and "
                "announced to clients for 90 days, so that they confirm it with you by phone.",
                "fields": (
                    "account_holder",
                    "iban",
                    "bic",
                    "account_number",
                    "payment_reference_pattern",
                    "bank_details_changed_at",
                ),
            },
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        # Invoice fraud works by changing bank details (or the footer, email or phone printed
        # with them): a right of its own (the owner's).
        if request.user.has_perm("business.change_bank_details"):
            return list(self.readonly_fields)
        return [*self.readonly_fields, *PAYMENT_FIELDS]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        profile = profile_get()
        return HttpResponseRedirect(
            reverse("admin:business_businessprofile_change", args=[profile.pk])
        )

    def save_model(
        self, request: HttpRequest, obj: BusinessProfile, form: forms.ModelForm, change: bool
    ) -> None:
        logo = form.cleaned_data.get("logo_upload")
        if form.cleaned_data.get("remove_logo"):
            obj.logo, obj.logo_type = None, ""
        elif logo:
            obj.logo, obj.logo_type = logo.data, logo.kind
        profile_save(profile=obj, by=request.user, request=request)
