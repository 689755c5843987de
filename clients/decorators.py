"""Access rules for client-facing views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

__all__ = ["contact_required"]


def contact_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors go to the login page (and come back after it). Logged-in users who
    are not a client's contact (the consultant's staff) get the ordinary 404: the portal's
    client pages are not theirs, and they learn nothing there."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not getattr(user, "is_contact", False):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper
