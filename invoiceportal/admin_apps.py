"""The Django admin app, with the portal's 2FA-only admin site as its default site."""

from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    default_site = "invoiceportal.admin_site.PortalAdminSite"
