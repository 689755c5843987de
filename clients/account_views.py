"""Account pages: second factor (verify, enrol, backup codes, disable), password, email,
sessions and the user's own security log. Thin: forms validate, services act."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from clients import account_services, email_change, twofactor
from clients.forms import (
    CodeForm,
    EmailChangeForm,
    PasswordAndCodeForm,
    PasswordCheckForm,
    RecheckedPasswordChangeForm,
)
from clients.middleware import mark_reauthenticated, recently_authenticated
from clients.selectors import security_events_for_user
from clients.services import ClientError
from clients.views import ORIGIN_ONLY
from core.signals import mail_queue_flush

logger = logging.getLogger(__name__)


def _next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=True):
        return target
    return default


def _home_for(user) -> str:
    return "/admin/" if user.is_staff else reverse_lazy("invoice-list")


def _no_referrer(response: HttpResponse) -> HttpResponse:
    # ?next= may hold a download link's token (see ORIGIN_ONLY for why not "no-referrer").
    response["Referrer-Policy"] = ORIGIN_ONLY
    return response


@sensitive_post_parameters("otp_token")
@never_cache
@login_required
def otp_verify(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = twofactor.second_factor_verify(
            user=request.user, code=form.cleaned_data["otp_token"], request=request
        )
        if device is not None:
            return redirect(_next(request, _home_for(request.user)))
        form.add_error(
            "otp_token",
            "That code was not accepted. Codes work once; after a wrong code, wait a few "
            "seconds before the next try.",
        )
    return _no_referrer(
        render(request, "clients/otp_verify.html", {"form": form, "next": _next(request, "")})
    )


@sensitive_post_parameters("otp_token", "password")
@never_cache
@login_required
def otp_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code and secret, confirmed by a valid code; then the
    backup codes, shown once. A user who already has a device must verify first (gate).

    The secret is shown only within 10 minutes of entering the password (login or this
    page's own password step): a session left open must not hand it to a passer-by. Each
    session gets a secret of its own (clients.twofactor.totp_enrolment).
    """
    if not recently_authenticated(request):
        return _otp_setup_password_step(request)
    enrolment = twofactor.totp_enrolment(user=request.user, session=request.session)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = twofactor.totp_confirm(
            user=request.user, code=form.cleaned_data["otp_token"], request=request
        )
        if codes is not None:
            return render(
                request,
                "clients/backup_codes.html",
                {"codes": codes, "next": _next(request, _home_for(request.user)), "first": True},
            )
        form.add_error(
            "otp_token",
            "That code does not match. Check the clock of your phone and try the next code.",
        )
    context = {"form": form, "enrolment": enrolment, "next": _next(request, "")}
    return _no_referrer(render(request, "clients/otp_setup.html", context))


def _otp_setup_password_step(request: HttpRequest) -> HttpResponse:
    form = PasswordCheckForm(request.POST if "password" in request.POST else None, request=request)
    if request.method == "POST" and form.is_valid():
        mark_reauthenticated(request)
        target = reverse("otp-setup")
        if nxt := _next(request, ""):
            target += "?" + urlencode({"next": nxt})
        return _no_referrer(redirect(target))
    if ended := _session_ended(request):
        return ended
    context = {"form": form, "enrolment": None, "next": _next(request, "")}
    return _no_referrer(render(request, "clients/otp_setup.html", context))


def _session_ended(request: HttpRequest) -> HttpResponse | None:
    """The login page, if the password re-check just ended the session (clients.reauth)."""
    if request.user.is_authenticated:
        return None
    return redirect_to_login(reverse("account"))


def _reauthenticated(request: HttpRequest, form: PasswordAndCodeForm) -> bool:
    """A POST with the right password and a current code (both checked, both audited)."""
    if request.method != "POST" or not form.is_valid():
        return False
    code = form.cleaned_data["otp_token"]
    if twofactor.second_factor_verify(user=request.user, code=code, request=request):
        return True
    form.add_error("otp_token", "That code was not accepted.")
    return False


def _reauth_page(request: HttpRequest, form: PasswordAndCodeForm, title: str, action: str):
    if ended := _session_ended(request):
        return ended
    return render(request, "clients/reauth.html", {"form": form, "title": title, "action": action})


@sensitive_post_parameters("password", "otp_token")
@never_cache
@login_required
def backup_codes(request: HttpRequest) -> HttpResponse:
    form = PasswordAndCodeForm(request.POST or None, request=request)
    if _reauthenticated(request, form):
        codes = twofactor.backup_codes_regenerate(user=request.user, request=request)
        context = {"codes": codes, "next": reverse_lazy("account")}
        return render(request, "clients/backup_codes.html", context)
    return _reauth_page(request, form, "New backup codes", "Make new backup codes")


@sensitive_post_parameters("password", "otp_token")
@never_cache
@login_required
def otp_disable(request: HttpRequest) -> HttpResponse:
    form = PasswordAndCodeForm(request.POST or None, request=request)
    if _reauthenticated(request, form):
        twofactor.second_factor_disable(user=request.user, request=request)
        messages.success(request, "Two-factor authentication is off.")
        return redirect("account")
    return _reauth_page(request, form, "Turn off two-factor authentication", "Turn off")


@never_cache
@login_required
def account(request: HttpRequest) -> HttpResponse:
    context = {
        "has_2fa": twofactor.has_second_factor(request.user),
        "events": security_events_for_user(user=request.user),
    }
    return render(request, "clients/account.html", context)


@require_POST
@never_cache
@login_required
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    account_services.sessions_end_all(user=request.user, request=request)
    update_session_auth_hash(request, request.user)
    messages.success(request, "All your other sessions have been logged out.")
    return redirect("account")


@sensitive_post_parameters("password")
@never_cache
@login_required
def email_change_request(request: HttpRequest) -> HttpResponse:
    """Step one: the password and a new address; a confirmation link goes to that address."""
    form = EmailChangeForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        new = form.cleaned_data["email"]
        try:
            email_change.email_change_request(user=request.user, email=new, request=request)
        except ClientError as exc:
            form.add_error("email", str(exc))
        else:
            # The same answer whether the address is free, taken by another account or
            # over the limit (clients.email_change): the form tells nobody who has an account.
            messages.success(
                request,
                f"If {new} can be used, a confirmation link was sent to it. Open it while "
                "logged in to confirm: your login address changes only then.",
            )
            return redirect("account")
    if ended := _session_ended(request):
        return ended
    return render(
        request,
        "clients/reauth.html",
        {"form": form, "title": "Change your email address", "action": "Send the link"},
    )


@never_cache
@login_required
def email_change_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Step two: the link from the email, used by the logged-in account holder (a POST,
    so that a mail scanner opening the link changes nothing). Any unusable link is a 404."""
    change = email_change.email_change_find(user=request.user, token=token)
    if change is None:
        raise Http404("unusable link")
    if request.method == "POST":
        try:
            email_change.email_change_confirm(user=request.user, change=change, request=request)
        except ClientError:
            raise Http404("unusable link") from None
        update_session_auth_hash(request, request.user)
        messages.success(request, "Your email address was changed. Use it to log in from now on.")
        return redirect("account")
    response = render(request, "clients/email_change_confirm.html", {"change": change})
    return _no_referrer(response)  # the URL holds the token


@method_decorator(login_required, name="dispatch")
class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "clients/reauth.html"
    success_url = reverse_lazy("account")
    form_class = RecheckedPasswordChangeForm
    extra_context = {"title": "Change your password", "action": "Change password"}

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "request": self.request}

    def form_invalid(self, form):
        return _session_ended(self.request) or super().form_invalid(form)

    def form_valid(self, form):
        response = super().form_valid(form)
        account_services.password_changed(user=self.request.user, request=self.request)
        messages.success(
            self.request, "Your password was changed. Your other sessions were logged out."
        )
        return response


class RedirectThenSendMail(HttpResponseRedirect):
    """A redirect that has the mail queue sent once the answer is written (WSGI servers call
    ``close()`` after the last byte). notifications hands the sending to a background thread
    (notifications.flusher), the same call for every request: neither the answer nor the
    connection's close (gunicorn closes after ``close()``) waits for an SMTP exchange, so
    neither tells whether a message went out."""

    def close(self) -> None:
        try:
            mail_queue_flush.send(sender=type(self))
        except Exception:  # the queue retries; the answer is out already
            logger.exception("sending the mail queue after a response failed")
        finally:
            super().close()


@method_decorator(never_cache, name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    """Django's page, but the email goes through the queue, with a link built from
    INVOICEPORTAL_BASE_URL, within the per-address and per-client-address limits; the
    answer is the same redirect whether the address has an account or was limited."""

    form_class = PasswordResetForm
    template_name = "clients/password_reset.html"

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        account_services.password_reset_request(
            email=form.cleaned_data["email"], request=self.request
        )
        return RedirectThenSendMail(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "clients/password_reset_confirm.html"

    def dispatch(self, *args, **kwargs):
        return _no_referrer(super().dispatch(*args, **kwargs))

    def form_valid(self, form):
        response = super().form_valid(form)
        account_services.password_reset_done(user=form.user, request=self.request)
        return response
