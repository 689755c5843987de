"""The consultant's business profile: one row, edited in the admin."""

from __future__ import annotations

from collections.abc import Callable, Collection

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from business.numbering import validate_number_pattern, validate_reference_pattern

BANK_FIELDS = ("account_holder", "iban", "bic", "account_number", "payment_reference_pattern")
# Printed on every invoice next to (or instead of) the bank details, and what clients use to
# confirm a bank change: "NEW BANK ACCOUNT: IBAN ..." in the footer is a bank change too.
# Same permission (business.change_bank_details), stamp, notice and audit as BANK_FIELDS.
PAYMENT_FIELDS = (*BANK_FIELDS, "footer_text", "email", "phone")

# Checked in clean_fields, not as field validators: the same effect for every full_clean
# (the admin form included), without a migration that only records the validators.
PATTERN_CHECKS: dict[str, Callable[[str], None]] = {
    "number_pattern": validate_number_pattern,
    "credit_note_pattern": validate_number_pattern,
    "payment_reference_pattern": validate_reference_pattern,
}


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
        # Invoice fraud works by changing bank details: a right of its own, apart from
        # changing the rest of the profile.
        permissions = [("change_bank_details", "Can change the bank details")]

    def __str__(self) -> str:
        return self.business_name

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        """Field checks, then the numbering rules for the patterns (business.numbering).
        Refuses a pattern that cannot be filled in, a number pattern without {seq} or one
        that makes an invalid invoice number. A field that already failed, or that the
        caller excludes, is not checked again."""
        errors: dict[str, list[ValidationError]] = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        for name, check in PATTERN_CHECKS.items():
            if name in errors or (exclude and name in exclude):
                continue
            try:
                check(getattr(self, name))
            except ValidationError as exc:
                errors[name] = exc.error_list
        if errors:
            raise ValidationError(errors)

    def bank_snapshot(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in BANK_FIELDS}
