"""The admin page that shows freshly minted one-time URLs (invitations, email links).

They are rendered into this one response and nowhere else: not into Django's messages,
whose cookie is signed but readable and whose overflow lands in the session table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

__all__ = ["OneTimeLink", "one_time_links_response"]


@dataclass(frozen=True)
class OneTimeLink:
    label: str
    url: str
    expires: datetime


def one_time_links_response(
    request: HttpRequest,
    *,
    title: str,
    explanation: str,
    links: list[OneTimeLink],
    back: str,
    problems: list[str] | None = None,
) -> TemplateResponse:
    context = {
        **admin.site.each_context(request),
        "title": title,
        "explanation": explanation,
        "links": links,
        "back": back,
        "problems": problems or [],
    }
    response = TemplateResponse(request, "admin/one_time_links.html", context)
    response["Cache-Control"] = "private, no-store"
    # Origin only: the page posts (the admin's logout), so "no-referrer" would break CSRF.
    response["Referrer-Policy"] = "strict-origin"
    return response
