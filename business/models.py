"""The consultant's business profile: one row, edited in the admin."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

BANK_FIELDS = ("account_holder", "iban", "bic", "account_number", "payment_reference_pattern")


class BusinessProfile(models.Model):
    business_name = models.CharField(max_length=200, default="My consulting business")
    address = models.TextField(blank=True, help_text="Printed under the name; one line per row.")
    tax_id = models.CharField("tax or VAT id", max_length=64, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(
        max_length=64, blank=True, help_text="Shown to clients to confirm bank details by phone."
    )
    logo = models.BinaryField(blank=True, null=True, editable=False)
    logo_type = models.CharField(max_length=16, blank=True, editable=False)
    default_currency = models.CharField(max_length=3, default="EUR")
    payment_terms_days = models.PositiveIntegerField(default=30)
    account_holder = models.CharField(max_length=200, blank=True)
    iban = models.CharField("IBAN", max_length=42, blank=True)
    bic = models.CharField("BIC", max_length=11, blank=True)
    account_number = models.CharField(max_length=64, blank=True)
    payment_reference_pattern = models.CharField(
        max_length=64, default="{number}", help_text="Placeholders: {number}, {year}, {seq}."
    )
    number_pattern = models.CharField(
        max_length=64,
        default="INV-{year}-{seq:04}",
        help_text="Invoice numbers. Placeholders: {year} and {seq} (e.g. {seq:04} for 0001).",
    )
    credit_note_pattern = models.CharField(
        max_length=64, default="CN-{year}-{seq:04}", help_text="Credit note numbers, likewise."
    )
    footer_text = models.CharField(
        max_length=140, blank=True, help_text="One line, printed on every page."
    )
    bank_details_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "business profile"

    def __str__(self) -> str:
        return self.business_name

    def bank_snapshot(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in BANK_FIELDS}
