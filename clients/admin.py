"""The consultant's side for clients and contacts.

The consultant never sets or sees a contact's password: a new contact gets an invitation
whose URL the admin shows exactly once.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from clients.models import BackupCodeDevice, Client, Contact, Invitation, User
from clients.services import ClientError, invitation_create, invitation_revoke
from clients.signals import invitation_email_requested
from core.admin_links import OneTimeLink, one_time_links_response


def _invitation_page(request: HttpRequest, contacts: list[User], back: str):
    links, problems = [], []
    for contact in contacts:
        try:
            invitation, token = invitation_create(
                user=contact, created_by=request.user, request=request
            )
        except ClientError as exc:
            problems.append(f"{contact.email}: {exc}")
            continue
        url = settings.BASE_URL + reverse("invitation", args=[token])  # never the Host header
        links.append(OneTimeLink(label=contact.email, url=url, expires=invitation.expires_at))
    return one_time_links_response(
        request,
        title="Invitations",
        explanation="Send each contact its link yourself. The contact opens it, chooses a "
        "password and is logged in. A link works once; a newer invitation replaces it.",
        links=links,
        back=back,
        problems=problems,
    )


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ["email", "first_name", "last_name", "is_active", "last_login"]
    readonly_fields = ["email", "first_name", "last_name", "last_login"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # contacts are added on their own page, which issues the invitation


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "billing_email", "requires_2fa", "is_active", "created_at"]
    list_filter = ["is_active", "requires_2fa"]
    search_fields = ["name", "billing_email", "contacts__email"]
    inlines = [ContactInline]


def _unique_email(form: forms.ModelForm) -> str:
    """One spelling per address, checked before the database's unique index would fail."""
    email = User.objects.normalize_email_address(form.cleaned_data["email"])
    others = User.objects.filter(email=email)
    if form.instance.pk:
        others = others.exclude(pk=form.instance.pk)
    if others.exists():
        raise forms.ValidationError("An account with this email address already exists.")
    return email


class ContactCreationForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["client", "email", "first_name", "last_name"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].required = True  # a contact without a client is not a contact

    def clean_email(self) -> str:
        return _unique_email(self)


class ContactChangeForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["email", "first_name", "last_name", "is_active"]

    def clean_email(self) -> str:
        return _unique_email(self)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "client", "first_name", "last_name", "is_active", "last_login"]
    list_filter = ["client", "is_active"]
    search_fields = ["email", "first_name", "last_name", "client__name"]
    list_select_related = ["client"]
    actions = ["send_invitation", "email_invitation"]
    fields = [
        "client",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "last_login",
        "date_joined",
    ]
    readonly_fields = ["last_login", "date_joined"]

    def get_form(self, request: HttpRequest, obj: object = None, **kwargs: object):
        if obj is None:
            kwargs["form"] = ContactCreationForm
            kwargs["fields"] = ContactCreationForm.Meta.fields
        else:
            kwargs["form"] = ContactChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        # A contact never moves to another client: that would hand it the other's invoices.
        return [*self.readonly_fields, "client"] if obj else []

    def get_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return self.fields if obj else ContactCreationForm.Meta.fields

    def save_model(
        self, request: HttpRequest, obj: Contact, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            obj.set_unusable_password()
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: Contact, post_url_continue: str | None = None
    ):
        super().response_add(request, obj, post_url_continue)  # logs and queues its message
        return _invitation_page(request, [obj], reverse("admin:clients_contact_changelist"))

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deactivate instead: the audit trail keeps pointing at the account

    @admin.action(description="Email a new invitation (revokes earlier ones when sent)")
    def email_invitation(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        count = 0
        for contact in queryset.filter(is_active=True, client__is_active=True):
            invitation_email_requested.send(sender=User, user=contact)
            count += 1
        messages.success(request, f"Queued {count} invitation email(s); see Notifications.")

    @admin.action(description="Show a new invitation link (revokes earlier ones)")
    def send_invitation(self, request: HttpRequest, queryset: QuerySet[Contact]):
        return _invitation_page(
            request, list(queryset), reverse("admin:clients_contact_changelist")
        )


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at", "expires_at", "state_display", "created_by"]
    list_select_related = ["user", "created_by"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="State")
    def state_display(self, obj: Invitation) -> str:
        return obj.state

    @admin.action(description="Revoke selected invitations")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        count = 0
        for invitation in queryset.filter(used_at__isnull=True, revoked_at__isnull=True):
            invitation_revoke(invitation=invitation, by=request.user, request=request)
            count += 1
        messages.success(request, f"Revoked {count} invitation(s).")


class StaffCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)
        field_classes: dict[str, type] = {}

    def clean_email(self) -> str:
        return _unique_email(self)


class StaffChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
        field_classes: dict[str, type] = {}

    def clean_email(self) -> str:
        return _unique_email(self)


@admin.register(User)
class StaffUserAdmin(DjangoUserAdmin):
    """The consultant and assistants. Contacts are managed under Contacts."""

    form = StaffChangeForm
    add_form = StaffCreationForm

    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_superuser", "is_active"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).filter(client__isnull=True)


@admin.register(BackupCodeDevice)
class BackupCodeDeviceAdmin(admin.ModelAdmin):
    """Deleting a user's devices here (and under TOTP devices) resets their 2FA: a user who
    must have it is asked to enrol again at the next login."""

    list_display = ["user", "name", "confirmed", "remaining", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__email"]
    readonly_fields = ["user", "name", "confirmed", "remaining", "last_used_at"]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
