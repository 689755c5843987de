"""Accounts: the consultant's staff users and client contacts share one user model.

A contact is a user with a ``client``; staff users have none. Everything a contact may see
is scoped in the query by ``user.client_id`` (see the selectors), never checked afterwards.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone


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
