"""The admin, reachable only with a verified second factor.

A staff user who logged in with a password alone is not let in: the portal's 2FA gate
(clients/middleware.py) sends them to verify a code or, without a device, to enrol one.
"""

from __future__ import annotations

from functools import update_wrapper

from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

# Longer than any name, email, number or IBAN anyone searches for; far below SQLite's
# LIKE-pattern limit (50,000 bytes), past which a search would be a server error.
SEARCH_MAX_CHARS = 1000


class PortalAdminSite(admin.AdminSite):
    site_header = "invoiceportal"
    site_title = "invoiceportal admin"
    index_title = "Consultant's desk"

    def each_context(self, request: HttpRequest) -> dict:
        """Every admin page carries the open checksum alerts (templates/admin/base_site.html
        shows them above the page) until staff resolve or acknowledge each one."""
        context = super().each_context(request)
        if self.has_permission(request):
            from invoices.selectors import integrity_alerts_open

            context["integrity_alerts"] = integrity_alerts_open()
        return context

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(super().has_permission(request) and user.is_verified())

    def admin_view(self, view, cacheable: bool = False):
        """Every admin view, with Django's permission checks first, then a cap on the length
        of the changelist search (`?q=`): a clear 400 instead of a database error."""

        def capped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            term = request.GET.get(SEARCH_VAR, "")
            if len(term) > SEARCH_MAX_CHARS:
                context = {"limit": SEARCH_MAX_CHARS, "length": len(term)}
                return render(request, "admin/search_too_long.html", context, status=400)
            return view(request, *args, **kwargs)

        return super().admin_view(update_wrapper(capped, view), cacheable)

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if request.user.is_authenticated:
            # Logged in yet not let in (a client contact): sending them to the login page
            # would bounce straight back here.
            return render(request, "403.html", status=403)
        # One login for everybody: the portal's, which then asks for the second factor.
        next_url = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=True):
            next_url = "/admin/"
        return redirect_to_login(next_url)
