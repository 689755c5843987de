"""Invoices and their per-invoice, time-limited download links."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

NUMBER_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$",
    "Use 1 to 64 letters, digits, '.', '_', '/' or '-', starting with a letter or digit.",
)
CURRENCY_VALIDATOR = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code, e.g. EUR.")


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


# Statuses a client can see and download; drafts are the consultant's, void is withdrawn.
VISIBLE_STATUSES = (InvoiceStatus.ISSUED, InvoiceStatus.PAID, InvoiceStatus.VOID)
DOWNLOADABLE_STATUSES = (InvoiceStatus.ISSUED, InvoiceStatus.PAID)


class Invoice(models.Model):
    # Opaque id for URLs: numbers are guessable and sequential, UUID4s are not.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(max_length=64, unique=True, validators=[NUMBER_VALIDATOR])
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="invoices")
    issue_date = models.DateField()
    due_date = models.DateField()
    total = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, validators=[CURRENCY_VALIDATOR])
    status = models.CharField(
        max_length=8, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    # The stored PDF: a random name inside PRIVATE_FILES_DIR, never a client-chosen path.
    pdf_name = models.CharField(max_length=64, editable=False)
    pdf_sha256 = models.CharField("PDF SHA-256", max_length=64, editable=False)
    pdf_size = models.PositiveBigIntegerField("PDF size (bytes)", editable=False)
    original_filename = models.CharField(max_length=255, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    issued_at = models.DateTimeField(null=True, blank=True, editable=False)
    paid_on = models.DateField(null=True, blank=True, editable=False)
    voided_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-issue_date", "-id"]
        indexes = [models.Index(fields=["client", "-issue_date", "-id"])]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_not_negative"),
            models.CheckConstraint(
                condition=Q(due_date__gte=models.F("issue_date")),
                name="invoice_due_not_before_issue",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_overdue(self) -> bool:
        return self.status == InvoiceStatus.ISSUED and self.due_date < timezone.localdate()

    @property
    def display_status(self) -> str:
        """What the client sees: overdue is derived from the due date, never stored."""
        return "Overdue" if self.is_overdue else self.get_status_display()

    @property
    def download_filename(self) -> str:
        safe = "".join(
            c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in self.number
        )
        return f"{safe}.pdf"


class DownloadLink(models.Model):
    """A per-invoice link that works until it expires, is revoked or is used up.

    Only a digest of the token is stored (invoices/tokens.py). A link alone is never
    enough: the request must also come from a logged-in contact of the invoice's client.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="links")
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    max_downloads = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty means no limit until the link expires."
    )
    download_count = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Link for {self.invoice} until {self.expires_at:%Y-%m-%d %H:%M}"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        if self.max_downloads is not None and self.download_count >= self.max_downloads:
            return "used up"
        return "active"
