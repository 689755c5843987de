"""Access rules for client-facing views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse

from clients.access import Access, access_decision, access_refusal

__all__ = ["contact_required"]


def contact_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors go to the login page (and come back after it). Logged-in users who
    are not a client's contact (the consultant's staff) get the ordinary 404: the portal's
    client pages are not theirs, and they learn nothing there. The rule: clients/access.py."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        decision = access_decision(request, contact_only=True)
        if decision is Access.NOT_FOUND:
            raise Http404
        refusal = access_refusal(request, decision)
        return refusal if refusal is not None else view(request, *args, **kwargs)

    return wrapper
