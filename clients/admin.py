"""The consultant's side for clients and contacts.

The consultant never sets or sees a contact's password: a new contact gets an invitation
whose URL the admin shows exactly once (to whoever may see it; others email it), and a
contact who already has a password gets a reset at their own address instead. Every write
goes through clients.services; staff accounts and roles are in clients.admin_staff.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from clients import services
from clients.admin_staff import unique_email  # also registers the staff admins
from clients.models import Client, Contact, Invitation, User
from clients.services import ClientError, invitation_create, invitation_revoke
from clients.signals import invitation_email_requested
from core.admin_links import OneTimeLink, one_time_links_response
from core.admin_permissions import ParentGuardedInline, user_may


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


class ContactInline(ParentGuardedInline, admin.TabularInline):
    model = Contact
    fields = ["email", "first_name", "last_name", "is_active", "last_login"]
    readonly_fields = ["email", "first_name", "last_name", "last_login"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # contacts are added on their own page, which issues the invitation

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        frozen = [] if user_may(request, services.ACCESS_POLICY_PERMISSION) else ["is_active"]
        return [*self.readonly_fields, *frozen]


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "billing_email", "requires_2fa", "is_active", "created_at"]
    list_filter = ["is_active", "requires_2fa"]
    search_fields = ["name", "billing_email", "contacts__email"]
    inlines = [ContactInline]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deactivate instead: invoices and the audit trail point at it

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        # Who needs a second factor and who may log in at all: the owner's decisions.
        if user_may(request, services.ACCESS_POLICY_PERMISSION):
            return list(self.readonly_fields)
        return [*self.readonly_fields, *services.CLIENT_ACCESS_FIELDS]

    def save_model(
        self, request: HttpRequest, obj: Client, form: forms.ModelForm, change: bool
    ) -> None:
        services.client_save(
            actor=request.user, client=obj, changed=list(form.changed_data), request=request
        )

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset, change: bool):
        """The contacts' active flags, changed in the list, go through the service."""
        for contact in formset.save(commit=False):
            changes = {"is_active": contact.is_active}
            services.contact_update(
                actor=request.user, contact=contact, changes=changes, request=request
            )


class ContactCreationForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["client", "email", "first_name", "last_name"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].required = True  # a contact without a client is not a contact

    def clean_email(self) -> str:
        return unique_email(self)


class ContactChangeForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["email", "first_name", "last_name", "is_active"]

    def clean_email(self) -> str:
        return unique_email(self)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "client", "first_name", "last_name", "is_active", "last_login"]
    list_filter = ["client", "is_active"]
    search_fields = ["email", "first_name", "last_name", "client__name"]
    list_select_related = ["client"]
    actions = ["send_invitation", "email_invitation", "send_password_reset"]
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
        # Nor does staff change the address of one who set a password: a reset goes there.
        if obj is None:
            return []
        frozen = ["client"] if services.contact_may_be_invited(obj) else ["client", "email"]
        if not user_may(request, services.ACCESS_POLICY_PERMISSION):
            frozen.append("is_active")  # (re)activating a contact is the owner's decision
        return [*self.readonly_fields, *frozen]

    def get_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return self.fields if obj else ContactCreationForm.Meta.fields

    def save_model(
        self, request: HttpRequest, obj: Contact, form: forms.ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            fields = [f for f in form.changed_data if f in services.CONTACT_FIELDS]
            changes = {f: data[f] for f in fields}
            services.contact_update(
                actor=request.user, contact=obj, changes=changes, request=request
            )
            return
        contact = services.contact_create(
            client=data["client"],
            email=data["email"],
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            actor=request.user,
            request=request,
        )
        for field in User._meta.concrete_fields:
            setattr(obj, field.attname, getattr(contact, field.attname))
        obj._state.adding = False

    def response_add(
        self, request: HttpRequest, obj: Contact, post_url_continue: str | None = None
    ):
        super().response_add(request, obj, post_url_continue)  # logs and queues its message
        back = reverse("admin:clients_contact_changelist")
        if self.has_show_invitation_permission(request):
            return _invitation_page(request, [obj], back)
        if self.has_invite_permission(request):
            invitation_email_requested.send(sender=User, user=obj)
            messages.success(request, f"The invitation email to {obj.email} is queued.")
        return HttpResponseRedirect(back)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deactivate instead: the audit trail keeps pointing at the account

    def has_invite_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "clients.add_invitation")

    def has_show_invitation_permission(self, request: HttpRequest) -> bool:
        """Whoever sees an invitation link can open the account before the contact does."""
        return user_may(request, "clients.show_invitation_link")

    def has_reset_password_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "clients.reset_contact_password")

    @admin.action(
        description="Email a new invitation (contacts without a password; revokes earlier ones)",
        permissions=["invite"],
    )
    def email_invitation(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        count = skipped = 0
        for contact in queryset.filter(is_active=True, client__is_active=True):
            if not services.contact_may_be_invited(contact):
                skipped += 1
                continue
            invitation_email_requested.send(sender=User, user=contact)
            count += 1
        messages.success(request, f"Queued {count} invitation email(s); see Notifications.")
        if skipped:
            messages.warning(
                request,
                f"{skipped} contact(s) have a password: send them a password reset instead.",
            )

    @admin.action(
        description="Show a new invitation link (contacts without a password)",
        permissions=["show_invitation"],
    )
    def send_invitation(self, request: HttpRequest, queryset: QuerySet[Contact]):
        return _invitation_page(
            request, list(queryset), reverse("admin:clients_contact_changelist")
        )

    @admin.action(
        description="Send a password reset to the contact's own address (ends their sessions "
        "and links)",
        permissions=["reset_password"],
    )
    def send_password_reset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        count = 0
        for contact in queryset.select_related("client"):
            try:
                services.contact_password_reset_send(
                    actor=request.user, contact=contact, request=request
                )
            except ClientError as exc:
                messages.error(request, f"{contact.email}: {exc}")
            else:
                count += 1
        if count:
            messages.success(request, f"Sent {count} password reset(s); their sessions ended.")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at", "expires_at", "state_display", "created_by"]
    list_select_related = ["user", "created_by"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # revoke instead: the row is the record of who was invited

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return user_may(request, "clients.change_invitation")

    @admin.display(description="State")
    def state_display(self, obj: Invitation) -> str:
        return obj.state

    @admin.action(description="Revoke selected invitations", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        count = 0
        for invitation in queryset.filter(used_at__isnull=True, revoked_at__isnull=True):
            invitation_revoke(invitation=invitation, by=request.user, request=request)
            count += 1
        messages.success(request, f"Revoked {count} invitation(s).")
