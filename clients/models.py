"""Accounts: the consultant's staff users and client contacts share one user model.

A contact is a user with a ``client``; staff users have none. Everything a contact may see
is scoped in the query by ``user.client_id`` (see the selectors), never checked afterwards.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.models import Device, ThrottlingMixin, TimestampMixin


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def normalize_email_address(self, email: str) -> str:
        # One spelling per address: "AP@Acme.example" and "ap@acme.example" are one login.
        return email.strip().lower()

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=self.normalize_email_address(username or ""))

    def _create(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email_address(email), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, password, **extra)


class Client(models.Model):
    """An organisation that receives invoices."""

    name = models.CharField(max_length=200, unique=True)
    billing_email = models.EmailField(blank=True)
    address = models.TextField(blank=True, help_text="Printed on generated invoices.")
    tax_id = models.CharField("tax or VAT id", max_length=64, blank=True)
    requires_2fa = models.BooleanField(
        "2FA required",
        default=False,
        help_text="Contacts must enrol a second factor before they see anything.",
    )
    is_active = models.BooleanField(
        default=True, help_text="Contacts of an inactive client cannot log in."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        permissions = [
            # Who must use a second factor, and who may log in at all (clients and contacts
            # alike): access decisions are the owner's, not whoever prepares the work.
            ("change_access_policy", "Can change 2FA requirements and (de)activate access"),
        ]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A login. Email is the user name; a contact belongs to exactly one client."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    client = models.ForeignKey(
        Client,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contacts",
        help_text="Set for client contacts; empty for the consultant's staff.",
    )

    # Part of the session hash: raising it ends every session of this user at once
    # ("log out everywhere", password reset), without touching the password.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        constraints = [
            # Staff never double as a client's contact: the admin and the portal
            # would otherwise share one session and one set of rights.
            models.CheckConstraint(
                condition=Q(client__isnull=True) | Q(is_staff=False, is_superuser=False),
                name="contact_is_not_staff",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_contact(self) -> bool:
        return self.client_id is not None

    def get_session_auth_hash(self) -> str:
        return salted_hmac(
            "invoiceportal.clients.session",
            f"{self.password}:{self.session_generation}",
            algorithm="sha256",
        ).hexdigest()

    def get_session_auth_fallback_hash(self):  # key rotation: SECRET_KEY_FALLBACKS
        for fallback in settings.SECRET_KEY_FALLBACKS:
            yield salted_hmac(
                "invoiceportal.clients.session",
                f"{self.password}:{self.session_generation}",
                secret=fallback,
                algorithm="sha256",
            ).hexdigest()

    @property
    def needs_second_factor(self) -> bool:
        """Staff always; contacts when their client or the installation requires it."""
        if self.is_staff or settings.REQUIRE_2FA_FOR_ALL:
            return True
        return bool(self.client_id and self.client.requires_2fa)

    def save(self, *args: object, **kwargs: object) -> None:
        self.email = type(self).objects.normalize_email_address(self.email)
        super().save(*args, **kwargs)


class ContactManager(UserManager):
    def get_queryset(self) -> models.QuerySet[User]:
        return super().get_queryset().filter(client__isnull=False)


class Contact(User):
    """Client contacts, for the admin: the same rows as ``User``."""

    objects = ContactManager()

    class Meta:
        proxy = True
        verbose_name = "contact"
        permissions = [
            # Whoever sees an invitation link can open the account before the contact does.
            ("show_invitation_link", "Can see a contact's invitation link"),
            ("reset_contact_password", "Can send a contact a password reset"),
        ]


class Invitation(models.Model):
    """A single-use, expiring link through which a contact chooses its password.

    Only the token's digest is stored; the consultant sees the URL once.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation for {self.user} ({self.state})"

    @property
    def state(self) -> str:
        if self.used_at:
            return "used"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "open"


class EmailChange(models.Model):
    """A requested new login address, waiting for the link sent to it to be used.

    Only the token's digest is stored (core.tokens, as for invitations). The address of the
    account changes only when its holder, logged in, uses the link: whoever controls the new
    mailbox proves it, and a stolen session alone cannot move the account elsewhere.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_changes")
    new_email = models.EmailField()
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Change of {self.user} to {self.new_email}"


class BackupCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """Single-use backup codes as a django-otp device.

    django-otp's own static device keeps its codes in clear text; these are stored only as
    keyed digests (core.tokens.backup_code_digest) and compared in constant time.
    Throttling comes from django-otp's ThrottlingMixin, like the TOTP device's.
    """

    class Meta(Device.Meta):
        verbose_name = "backup code set"

    def get_throttle_factor(self) -> int:
        return settings.OTP_TOTP_THROTTLE_FACTOR

    def verify_token(self, token: str) -> bool:
        from core import tokens

        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        normalized = tokens.normalize_backup_code(str(token))
        used = 0
        if normalized:
            for digest in tokens.backup_code_digests(normalized):
                # Deleting the row is the check: a code works exactly once, even when two
                # requests race with it.
                used = self.codes.filter(digest=digest).delete()[0]
                if used:
                    break
        if used:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment(commit=True)
        return False

    @property
    def remaining(self) -> int:
        return self.codes.count()


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64, db_index=True)

    def __str__(self) -> str:
        return f"backup code of {self.device.user}"
