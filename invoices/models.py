"""Invoices and their per-invoice, time-limited download links."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# The number format is a numbering rule, kept with the patterns that make numbers.
from business.numbering import NUMBER_VALIDATOR

CURRENCY_VALIDATOR = RegexValidator(r"^[A-Z]{3}\Z", "Use a three-letter ISO 4217 code, e.g. EUR.")


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CREDIT_NOTE = "credit_note", "Credit note"


class InvoiceSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded PDF"
    GENERATED = "generated", "Made from line items"


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
    # Uploaded invoices bring their number; generated ones get the next one of the sequence
    # when they are issued (drafts have none, so the sequence has no gaps).
    number = models.CharField(
        max_length=64, unique=True, null=True, blank=True, validators=[NUMBER_VALIDATOR]
    )
    kind = models.CharField(max_length=12, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE)
    source = models.CharField(
        max_length=10, choices=InvoiceSource.choices, default=InvoiceSource.UPLOAD, editable=False
    )
    credited_invoice = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_notes",
        help_text="For a credit note: the invoice it corrects.",
    )
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="invoices")
    issue_date = models.DateField()
    due_date = models.DateField()
    # Four decimal places hold every ISO 4217 minor unit; amounts are rounded to the
    # currency's own (invoices/money.py) before they are stored.
    total = models.DecimalField(
        max_digits=18, decimal_places=4, validators=[MinValueValidator(Decimal("0"))]
    )
    subtotal = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, editable=False
    )
    tax_total = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, editable=False
    )
    payment_reference = models.CharField(max_length=64, blank=True, editable=False)
    currency = models.CharField(max_length=3, validators=[CURRENCY_VALIDATOR])
    status = models.CharField(
        max_length=8, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    # The stored PDF: a random name inside PRIVATE_FILES_DIR, never a client-chosen path.
    pdf_name = models.CharField(max_length=64, blank=True, editable=False)
    pdf_sha256 = models.CharField("PDF SHA-256", max_length=64, blank=True, editable=False)
    pdf_size = models.PositiveBigIntegerField("PDF size (bytes)", null=True, editable=False)
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
        # Django's add/change/delete are too coarse for invoices: preparing a draft is one
        # right, sending it out into the world (issue, void, paid, credit, links) others.
        # The staff roles (clients/roles.py) are made of these.
        permissions = [
            ("issue_invoice", "Can issue invoices"),
            ("void_invoice", "Can void invoices"),
            ("mark_invoice_paid", "Can mark invoices paid"),
            ("create_credit_note", "Can make credit notes"),
            ("create_download_link", "Can make download links for an email"),
        ]
        indexes = [
            # The history page (invoices/selectors.py): its pages seek in (client, issue
            # date, id) in this order; the status lets drafts be passed over in the index.
            models.Index(
                fields=["client", "-issue_date", "-id", "status"], name="invoice_history_idx"
            )
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_not_negative"),
            # Whatever a client can see has a number and a stored PDF.
            models.CheckConstraint(
                condition=Q(status="draft") | (Q(number__isnull=False) & ~Q(pdf_name="")),
                name="invoice_visible_has_number_and_pdf",
            ),
            models.CheckConstraint(
                condition=Q(due_date__gte=models.F("issue_date")),
                name="invoice_due_not_before_issue",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft {self.public_id.hex[:8]}"

    @property
    def is_overdue(self) -> bool:
        return (
            self.status == InvoiceStatus.ISSUED
            and self.kind == InvoiceKind.INVOICE
            and self.due_date < timezone.localdate()
        )

    @property
    def display_status(self) -> str:
        """What the client sees: overdue is derived from the due date, never stored."""
        return "Overdue" if self.is_overdue else self.get_status_display()

    @property
    def is_unpaid(self) -> bool:
        return self.status == InvoiceStatus.ISSUED and self.kind == InvoiceKind.INVOICE

    @property
    def download_filename(self) -> str:
        number = self.number or "draft"
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in number)
        return f"{safe}.pdf"


class InvoiceYearTotal(models.Model):
    """A client's invoiced total and count per issue year and currency: issued and paid
    invoices, not void ones, not credit notes. Kept by the services in the transaction
    that issues or voids an invoice (invoices/services/totals.py), so that the history page
    reads a few rows instead of adding up every invoice of the client on each view."""

    client = models.ForeignKey(
        "clients.Client", on_delete=models.CASCADE, related_name="invoice_year_totals"
    )
    year = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    total = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("0"))
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "year", "currency"], name="one_total_per_client_year_currency"
            )
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.year} {self.currency}: {self.total} ({self.count})"


class InvoiceLine(models.Model):
    """One row of a generated invoice. Frozen with the invoice when it is issued."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    description = models.CharField(max_length=500)
    quantity = models.DecimalField(
        max_digits=14, decimal_places=4, validators=[MinValueValidator(Decimal("0"))]
    )
    unit = models.CharField(max_length=20, blank=True)
    unit_price = models.DecimalField(
        max_digits=18, decimal_places=4, validators=[MinValueValidator(Decimal("0"))]
    )
    tax_rate = models.DecimalField(
        "tax rate (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.description[:60]


class NumberSequence(models.Model):
    """The last number used per series and year; locked while an invoice is issued, so
    numbers are consecutive and unique even when several are issued at once."""

    series = models.CharField(max_length=16)
    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="one_sequence_per_series_year")
        ]

    def __str__(self) -> str:
        return f"{self.series} {self.year}: {self.last}"


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


class GeneratedInvoiceManager(models.Manager["GeneratedInvoice"]):
    def get_queryset(self) -> models.QuerySet[GeneratedInvoice]:
        return super().get_queryset().filter(source=InvoiceSource.GENERATED)


class GeneratedInvoice(Invoice):
    """Invoices and credit notes made from line items, for their own page in the admin."""

    objects = GeneratedInvoiceManager()

    class Meta:
        proxy = True
        verbose_name = "invoice from line items"
        verbose_name_plural = "invoices from line items"


class IntegrityAlert(models.Model):
    """A stored file that failed its SHA-256 check on download: shown on every admin page
    until staff resolve it (the right file restored and checked again) or acknowledge it.
    At most one open alert per invoice; repeated failures count on it."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="integrity_alerts")
    detected_at = models.DateTimeField(default=timezone.now)
    last_failed_at = models.DateTimeField(default=timezone.now)
    failures = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_integrity_alert_per_invoice",
            )
        ]

    def __str__(self) -> str:
        state = "open" if self.resolved_at is None else "resolved"
        return f"{self.invoice.number}: stored file failed its checksum ({state})"
