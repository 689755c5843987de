"""Refuse oversized request bodies before Django reads them."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

__all__ = ["RequestBodyLimitMiddleware"]

# Room for the other form fields and the multipart framing around the file.
FORM_OVERHEAD = 1024 * 1024


class RequestBodyLimitMiddleware:
    """A request announcing a body larger than the upload cap (plus form overhead) gets a
    413 at once, so a hostile client cannot make the server spool gigabytes to disk before
    the form's own size check runs. nginx's client_max_body_size does the same in front."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.MAX_UPLOAD_BYTES + FORM_OVERHEAD
        if length > limit:
            return render(
                request,
                "413.html",
                {"limit": settings.MAX_UPLOAD_BYTES},
                status=413,
            )
        return self.get_response(request)
