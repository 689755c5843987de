"""The portal's one access rule: logged in, active, the right client, second factor where
required. The contact-only decorator, the two-factor gate middleware and the download view
all ask ``access_decision`` and answer through ``access_refusal``, so the rule is written once.

"Active" is settled before a request gets here: the authentication backend
(clients/backends.py) refuses the session of an inactive user or of a contact of an inactive
client, so such a request is anonymous. "The right client" is settled by every query of client
data, which filters by the contact's client; this rule only says the user is some client's
contact. Checks run in a fixed order, and staff without a second factor are stopped by the
gate before any page says whether it is a client page.
"""

from __future__ import annotations

import enum

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

from clients.selectors import second_factor_state_for_request

__all__ = ["Access", "access_decision", "access_refusal"]


class Access(enum.Enum):
    OK = "ok"
    LOGIN = "login"  # anonymous (or refused by the backend): log in, then come back
    VERIFY = "verify"  # a confirmed device waits for a code
    ENROL = "enrol"  # policy requires a device the user does not have
    NOT_FOUND = "not_found"  # logged in and verified, but not a client's contact


def access_decision(request: HttpRequest, *, contact_only: bool) -> Access:
    """What the request may do. ``contact_only`` refuses (``NOT_FOUND``) a logged-in user
    who is not a client's contact: the consultant's staff learn nothing from client pages."""
    user = request.user
    if not user.is_authenticated:
        return Access.LOGIN
    state = second_factor_state_for_request(request)
    if state == "verify":
        return Access.VERIFY
    if state == "enrol":
        return Access.ENROL
    if contact_only and not getattr(user, "is_contact", False):
        return Access.NOT_FOUND
    return Access.OK


def access_refusal(request: HttpRequest, decision: Access) -> HttpResponse | None:
    """The response for a refusal: the login, verification or enrolment page with a way back
    here; ``None`` for ``OK`` and ``NOT_FOUND`` (the caller raises its ordinary 404, with
    whatever it audits)."""
    if decision is Access.LOGIN:
        return redirect_to_login(request.get_full_path())
    if decision is Access.VERIFY:
        return redirect_to_login(request.get_full_path(), resolve_url("otp-verify"))
    if decision is Access.ENROL:
        return redirect_to_login(request.get_full_path(), resolve_url("otp-setup"))
    return None
