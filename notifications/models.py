"""The outgoing email queue: every message is stored first, then sent and retried."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class NotificationKind(models.TextChoices):
    DOCUMENT_WAITING = "document_waiting", "A document is waiting"
    REMINDER = "reminder", "Payment reminder"
    SECURITY = "security", "Security change"
    INVITATION = "invitation", "Invitation"
    PASSWORD_RESET = "password_reset", "Password reset"
    EMAIL_CHANGE = "email_change", "Confirm a new login address"


class LinkKind(models.TextChoices):
    NONE = "", "No link"
    INVOICE = "invoice", "Link to the invoice (needs login)"
    INVITATION = "invitation", "Invitation link"
    PASSWORD_RESET = "password_reset", "Password reset link"
    EMAIL_CHANGE = "email_change", "Link confirming a new login address"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed for good"
    # A password-reset request that sends nothing (no such account, a limit reached): it is
    # stored all the same, so that every request does the same work (no timing oracle).
    DROPPED = "dropped", "Not sent (see last error)"


class Notification(models.Model):
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    # Empty for a password reset: the sender finds the account by address when it sends.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    to_email = models.EmailField()
    invoice = models.ForeignKey(
        "invoices.Invoice", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    subject = models.CharField(max_length=200)
    # The texts hold a placeholder where the link goes: the link (a bearer token) is minted
    # when the message is sent and never stored here.
    body = models.TextField()
    body_html = models.TextField(blank=True)
    link_kind = models.CharField(max_length=16, choices=LinkKind.choices, blank=True, default="")
    # One message per purpose: enqueuing the same thing twice does nothing (reminders run
    # from a timer and must be idempotent).
    dedupe_key = models.CharField(max_length=120, unique=True)
    status = models.CharField(
        max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to_email} ({self.status})"
