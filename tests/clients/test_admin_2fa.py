"""The admin is unreachable with a password alone, on every admin URL."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, reverse

from tests.conftest import logged_in, logged_in_staff, verify_second_factor
from tests.factories import make_client, make_invoice, make_staff

pytestmark = pytest.mark.django_db


def _admin_urls() -> list[str]:
    """Every named admin route, with real object ids where one is needed."""
    client = make_client("Walk GmbH")
    invoice = make_invoice(client)
    urls: list[str] = []

    def walk(patterns, namespace="admin"):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                kwargs = {}
                for name in pattern.pattern.regex.groupindex:
                    kwargs[name] = {
                        "object_id": str(invoice.pk),
                        "app_label": "invoices",
                        "content_type_id": "1",
                        "object_id_": str(invoice.pk),
                    }.get(name, "1")
                if "url" in pattern.pattern.regex.groupindex:
                    continue  # the catch-all that redirects unknown admin paths
                urls.append(reverse(f"{namespace}:{pattern.name}", kwargs=kwargs))

    walk(admin.site.get_urls())
    assert len(urls) > 40, urls
    return sorted(set(urls))


def test_staff_with_password_only_reaches_no_admin_url():
    staff = make_staff()
    unenrolled = logged_in(staff)
    for url in _admin_urls():
        response = unenrolled.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/account/2fa/setup/"), (url, response["Location"])


def test_staff_with_a_device_but_no_code_reaches_no_admin_url():
    staff = make_staff()
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    web = logged_in(staff)
    for url in _admin_urls():
        response = web.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/2fa/"), (url, response["Location"])
    for url in ["/admin/invoices/invoice/add/", "/admin/clients/contact/add/"]:
        assert web.post(url, {}).status_code == 302


def test_verified_staff_reaches_the_admin():
    web = logged_in_staff()
    assert web.get("/admin/").status_code == 200
    assert web.get("/admin/invoices/invoice/").status_code == 200


def test_admin_login_page_is_the_portals_login():
    response = logged_in(make_staff()).get("/admin/login/")
    assert response.status_code == 302


def test_contact_even_verified_never_reaches_the_admin():
    from tests.factories import make_contact

    contact = make_contact()
    web = logged_in(contact)
    verify_second_factor(web, contact)
    response = web.get("/admin/", follow=True)
    assert response.status_code == 403
    assert b"Your account may not do this" in response.content
