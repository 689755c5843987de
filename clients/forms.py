from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.http import HttpRequest

from clients.models import User
from clients.reauth import password_recheck


def _rechecked(form: forms.Form, password: str) -> str:
    """The account's password through the audited, limited re-check (clients.reauth)."""
    if not password_recheck(request=form.request, user=form.user, password=password):
        raise forms.ValidationError("That is not your password.")
    return password


class EmailLoginForm(AuthenticationForm):
    """Django's login form, with the user name field presented as an email address."""

    username = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Email address and password do not match an active account.",
    }


class ChoosePasswordForm(forms.Form):
    """The invitation form: the contact chooses its own password (twice)."""

    password1 = forms.CharField(
        label="New password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Repeat the password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: object, user: User, **kwargs: object) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, object]:
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                password_validation.validate_password(first, self.user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class CodeForm(forms.Form):
    """A six-digit code from the authenticator app, or a backup code."""

    otp_token = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )

    def clean_otp_token(self) -> str:
        return "".join(self.cleaned_data["otp_token"].split())


class PasswordCheckForm(forms.Form):
    """The password again, before a page shows something a session left open must not give
    away (the TOTP secret being enrolled: whoever reads it passes 2FA from then on)."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, *args: object, request: HttpRequest, **kwargs: object) -> None:
        self.request, self.user = request, request.user
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        return _rechecked(self, self.cleaned_data["password"])


class PasswordAndCodeForm(CodeForm):
    """Re-authentication for 2FA changes: the password and a current code."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["password", "otp_token"]

    def __init__(self, *args: object, request: HttpRequest, **kwargs: object) -> None:
        self.request, self.user = request, request.user
        super().__init__(*args, **kwargs)
        self.fields["otp_token"].widget.attrs.pop("autofocus", None)

    def clean_password(self) -> str:
        return _rechecked(self, self.cleaned_data["password"])


class EmailChangeForm(forms.Form):
    email = forms.EmailField(label="New email address", max_length=254)
    password = forms.CharField(
        label="Your password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: object, request: HttpRequest, **kwargs: object) -> None:
        self.request, self.user = request, request.user
        super().__init__(*args, **kwargs)

    def clean_email(self) -> str:
        # Whether another account holds the address is checked only when the link is sent
        # (clients.email_change): the form answers alike for every address.
        return User.objects.normalize_email_address(self.cleaned_data["email"])

    def clean_password(self) -> str:
        return _rechecked(self, self.cleaned_data["password"])


class RecheckedPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the old password through the audited re-check."""

    def __init__(self, user: User, *args: object, request: HttpRequest, **kwargs: object) -> None:
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        return _rechecked(self, self.cleaned_data["old_password"])
