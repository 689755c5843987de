"""The consultant's side for staff: staff accounts, roles (groups), second-factor devices
and the lockout records. Writes go through clients.staff_services and are audited; what
would let one staff member act as another (typing a TOTP device for someone, editing the
lockout records) is not offered at all."""

from __future__ import annotations

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from clients.models import BackupCodeDevice, User
from clients.staff_services import (
    lockout_lift,
    role_delete,
    role_save,
    staff_password_set_record,
    staff_user_save,
)

__all__ = ["unique_email"]


def unique_email(form: forms.ModelForm) -> str:
    """One spelling per address, checked before the database's unique index would fail."""
    email = User.objects.normalize_email_address(form.cleaned_data["email"])
    others = User.objects.filter(email=email)
    if form.instance.pk:
        others = others.exclude(pk=form.instance.pk)
    if others.exists():
        raise forms.ValidationError("An account with this email address already exists.")
    return email


class StaffCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)
        field_classes: dict[str, type] = {}

    def clean_email(self) -> str:
        return unique_email(self)


class StaffChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
        field_classes: dict[str, type] = {}

    def clean_email(self) -> str:
        return unique_email(self)


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

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deactivate instead: the audit trail keeps pointing at the account

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = ""):
        """Django's form sets the password; the audit row commits with it or not at all."""
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                user = self.get_object(request, id)
                staff_password_set_record(actor=request.user, user=user, request=request)
        return response

    def save_model(
        self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool
    ) -> None:
        staff_user_save(
            actor=request.user,
            user=obj,
            changed=list(form.changed_data),
            memberships=_memberships(form, ("groups", "user_permissions")),
            request=request,
        )


def _memberships(form: forms.ModelForm, names: tuple[str, ...]) -> dict[str, object]:
    """The form's new values of the many-to-many fields it changed (saved after the object,
    so the service can name what is added and removed)."""
    return {n: form.cleaned_data[n] for n in names if n in form.changed_data}


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

    # Deleting a device is allowed to whoever holds the delete permission (Django's own
    # check); clients.receivers audits every removal.


admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(GroupAdmin):
    """Roles. owner, assistant and bookkeeper are defined in clients/roles.py and restored
    by ``manage.py setup_roles``; every change here is audited."""

    def save_model(
        self, request: HttpRequest, obj: Group, form: forms.ModelForm, change: bool
    ) -> None:
        role_save(
            actor=request.user,
            group=obj,
            changed=list(form.changed_data),
            memberships=_memberships(form, ("permissions",)),
            request=request,
        )

    def delete_model(self, request: HttpRequest, obj: Group) -> None:
        role_delete(actor=request.user, group=obj, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Group]) -> None:
        for group in queryset:
            role_delete(actor=request.user, group=group, request=request)


admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class StaffTOTPDeviceAdmin(TOTPDeviceAdmin):
    """View and delete only: a device typed in here for someone else would give its key
    (and so their second factor) to whoever typed it. Removal is audited
    (clients.receivers) and makes the user enrol again."""

    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class _ReadOnlyLockouts:
    """django-axes' records, read-only; a lockout (an AccessAttempt) may be lifted by
    deleting it, through the audited service, by whoever holds the delete permission."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.model is AccessAttempt and super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: AccessAttempt) -> None:
        lockout_lift(actor=request.user, attempt=obj, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        for attempt in queryset:
            lockout_lift(actor=request.user, attempt=attempt, request=request)


for _model, _admin in (
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
):
    admin.site.unregister(_model)
    admin.site.register(_model, type(_admin.__name__, (_ReadOnlyLockouts, _admin), {}))
