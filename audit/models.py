"""The audit trail: append-only from the application's point of view."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class EventKind(models.TextChoices):
    LOGIN = "login", "Login"
    LOGIN_FAILED = "login_failed", "Login failed"
    LOCKED_OUT = "locked_out", "Locked out after failed logins"
    LOGOUT = "logout", "Logout"
    SESSION_EXPIRED = "session_expired", "Session expired"
    SESSIONS_ENDED = "sessions_ended", "Logged out everywhere"
    OTP_ENROLLED = "otp_enrolled", "2FA enrolled"
    OTP_DISABLED = "otp_disabled", "2FA disabled"
    OTP_DEVICE_REMOVED = "otp_device_removed", "2FA device removed"
    OTP_VERIFIED = "otp_verified", "2FA code accepted"
    OTP_FAILED = "otp_failed", "2FA code refused"
    BACKUP_CODE_USED = "backup_code_used", "Backup code used"
    BACKUP_CODES_REGENERATED = "backup_codes_regenerated", "Backup codes regenerated"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    PASSWORD_RESET_REQUESTED = "password_reset_requested", "Password reset requested"
    PASSWORD_RESET_LIMITED = "password_reset_limited", "Password reset refused: too many requests"
    PASSWORD_RESET = "password_reset", "Password reset"
    EMAIL_CHANGE_REQUESTED = "email_change_requested", "Email address change requested"
    EMAIL_CHANGED = "email_changed", "Email address changed"
    EMAIL_CHANGE_LIMITED = "email_change_limited", "Email address change refused: too many"
    EMAIL_CHANGE_DROPPED = "email_change_dropped", "Email address change dropped: address taken"
    REAUTH_FAILED = "reauth_failed", "Password re-check failed"
    REAUTH_LOCKED = "reauth_locked", "Session ended after failed password re-checks"
    INVITATION_CREATED = "invitation_created", "Invitation created"
    INVITATION_USED = "invitation_used", "Invitation used"
    INVITATION_REFUSED = "invitation_refused", "Invitation refused"
    INVITATION_REVOKED = "invitation_revoked", "Invitation revoked"
    INVOICE_CREATED = "invoice_created", "Invoice created"
    INVOICE_ISSUED = "invoice_issued", "Invoice issued"
    INVOICE_PAID = "invoice_paid", "Invoice marked paid"
    INVOICE_VOIDED = "invoice_voided", "Invoice voided"
    UPLOAD_REFUSED = "upload_refused", "Upload refused"
    LINK_CREATED = "link_created", "Download link created"
    LINK_REVOKED = "link_revoked", "Download link revoked"
    DOWNLOAD = "download", "Download"
    DOWNLOAD_REFUSED = "download_refused", "Download refused"
    INTEGRITY_FAILURE = "integrity_failure", "Stored file failed its checksum"
    INTEGRITY_RESOLVED = "integrity_resolved", "Checksum alert resolved or acknowledged"
    BANK_DETAILS_CHANGED = "bank_details_changed", "Bank details changed"
    CREDIT_NOTE_CREATED = "credit_note_created", "Credit note created"
    NOTIFICATION_FAILED = "notification_failed", "Notification could not be sent"
    INVOICE_CHANGED = "invoice_changed", "Draft invoice changed"
    INVOICE_DELETED = "invoice_deleted", "Draft invoice deleted"
    CLIENT_CREATED = "client_created", "Client created"
    CLIENT_CHANGED = "client_changed", "Client changed"
    CONTACT_CREATED = "contact_created", "Contact created"
    CONTACT_CHANGED = "contact_changed", "Contact changed"
    STAFF_USER_CREATED = "staff_user_created", "Staff user created"
    STAFF_USER_CHANGED = "staff_user_changed", "Staff user changed"
    ROLE_CHANGED = "role_changed", "Staff role changed"
    PROFILE_CHANGED = "profile_changed", "Business profile changed"
    PASSWORD_RESET_BY_STAFF = "password_reset_by_staff", "Password reset sent by staff"
    LOCKOUT_LIFTED = "lockout_lifted", "Lockout lifted by staff"


class AuditEvent(models.Model):
    kind = models.CharField(max_length=32, choices=EventKind.choices, db_index=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The actor. SET_NULL keeps the event when an account is deleted; actor_email keeps
    # who it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True)
    # The account the event is about, by id: a failed login, a lockout or a reset request
    # against its address, a device removed by staff. The security log selects by actor or
    # subject, never by address text: an address can change hands (issue 12, item 7).
    # SET_NULL like ``actor``: deleting an account never deletes evidence, and an orphaned
    # row can never be attached to whoever takes the address next. No database constraint:
    # PostgreSQL checks a foreign key at commit with a lock on the account's row, which
    # made a reset request for a real address measurably slower than for an unknown one
    # (docs/performance.md); Django's SET_NULL still runs on delete, ids are never reused.
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    client = models.ForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    invoice = models.ForeignKey(
        "invoices.Invoice",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    link = models.ForeignKey(
        "invoices.DownloadLink",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    bytes_sent = models.BigIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["invoice", "kind", "-occurred_at"]),
            # The password-reset limits count one kind over the last hour.
            models.Index(fields=["kind", "-occurred_at"], name="audit_kind_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} {self.actor_email}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit events are append-only.")
