"""Security headers and cookies on pages, through real requests."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import HttpsClient, logged_in
from tests.factories import PASSWORD, make_contact

pytestmark = pytest.mark.django_db


def _csp(response) -> dict[str, str]:
    parts = [p.strip() for p in response["Content-Security-Policy"].split(";") if p.strip()]
    return {p.split(" ", 1)[0]: p.split(" ", 1)[1] if " " in p else "" for p in parts}


@pytest.mark.parametrize("path", ["/accounts/login/", "/invoices/", "/no-such-page/"])
def test_pages_carry_the_security_headers(path):
    web = logged_in(make_contact())
    response = web.get(path)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer", "strict-origin"}
    csp = _csp(response)
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_login_page_has_no_inline_script_or_style():
    html = HttpsClient().get(reverse("login")).content.decode()
    assert "<script" not in html
    assert "<style" not in html and "style=" not in html


def test_session_and_csrf_cookies_are_host_prefixed_and_secure():
    make_contact(email="ap@acme.example")
    web = HttpsClient()
    page = web.get(reverse("login"))
    csrf = page.cookies["__Host-csrftoken"]
    assert csrf["secure"] and csrf["path"] == "/" and not csrf["domain"]
    assert csrf["samesite"] == "Strict"
    response = web.post(reverse("login"), {"username": "ap@acme.example", "password": PASSWORD})
    session = response.cookies["__Host-sessionid"]
    assert session["secure"] and session["httponly"]
    assert session["path"] == "/" and not session["domain"]
    assert session["samesite"] == "Lax"


def test_plain_http_is_redirected_to_https():
    from django.test import Client

    response = Client().get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


def test_404_page_shows_no_path_and_no_trace():
    response = HttpsClient().get("/d/" + "Q" * 43 + "/../../etc/passwd")
    assert response.status_code in {302, 404}
    response = logged_in(make_contact()).get("/secret-admin-thing/<script>")
    assert response.status_code == 404
    assert b"secret-admin-thing" not in response.content
    assert b"Traceback" not in response.content


def test_pages_with_a_token_in_the_url_never_leak_it_and_never_break_their_forms():
    """A browser sends "Origin: null" with a form posted from a no-referrer page, which
    Django's CSRF check refuses; such pages must send the origin only (strict-origin)."""
    from clients.models import User
    from clients.services import invitation_create
    from tests.factories import make_client

    contact = User.objects.create_user(email="new@acme.example", client=make_client())
    _invitation, token = invitation_create(user=contact)
    pages = [
        f"/invite/{token}/",
        f"/accounts/login/?next=/d/{'A' * 43}/",
    ]
    for url in pages:
        response = HttpsClient().get(url)
        assert b'method="post"' in response.content
        assert response["Referrer-Policy"] == "strict-origin", url
