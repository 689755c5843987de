"""Client-facing account views: login, logout, invitations, the portal's front door."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from audit.models import EventKind
from audit.services import audit_record
from clients.forms import ChoosePasswordForm, EmailLoginForm
from clients.services import ClientError, invitation_accept, invitation_find

# For pages whose URL holds a token and which post a form. "no-referrer" would keep the
# token out of Referer headers too, but then browsers send "Origin: null" with the form and
# Django's CSRF check refuses it; "strict-origin" sends the origin only, never the path.
ORIGIN_ONLY = "strict-origin"


class LoginView(auth_views.LoginView):
    template_name = "clients/login.html"
    authentication_form = EmailLoginForm
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = super().dispatch(request, *args, **kwargs)
        # ?next= may carry a download link's token; keep it out of Referer headers.
        response["Referrer-Policy"] = ORIGIN_ONLY
        return response

    def form_invalid(self, form: EmailLoginForm) -> HttpResponse:
        if getattr(self.request, "axes_locked_out", False):
            # AxesMiddleware replaces this with the lockout page: rendering the form first
            # was a third of what a refused attempt cost (docs/performance.md).
            return HttpResponse(status=429)
        return super().form_invalid(form)


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return redirect("login")
    if user.is_staff:
        return redirect("admin:index")
    return redirect("invoice-list")


@sensitive_post_parameters("password1", "password2")
@never_cache
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Choose a password through an invitation. Every kind of bad link (unknown, used,
    expired, revoked) gets the same clear page, so the page reveals nothing."""
    found = invitation_find(token=token)
    if found is None:
        audit_record(kind=EventKind.INVITATION_REFUSED, request=request, detail="unusable link")
        response = render(request, "clients/invitation_invalid.html", status=404)
        response["Referrer-Policy"] = "no-referrer"
        return response
    form = ChoosePasswordForm(request.POST or None, user=found.user)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_accept(
                invitation=found, password=form.cleaned_data["password1"], request=request
            )
        except ClientError:
            response = render(request, "clients/invitation_invalid.html", status=404)
        else:
            login(request, user, backend="clients.backends.ContactAwareBackend")
            return redirect("invoice-list")
    else:
        response = render(request, "clients/invitation.html", {"form": form, "invitee": found.user})
    # The URL holds the token: never let it leak through a Referer header.
    response["Referrer-Policy"] = ORIGIN_ONLY
    return response
