"""Login by email and password, logout, audit of both."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent, EventKind
from tests.conftest import HttpsClient, logged_in_staff
from tests.factories import PASSWORD, make_client, make_contact

pytestmark = pytest.mark.django_db


def test_contact_logs_in_with_email_any_case():
    contact = make_contact(email="ap@acme.example")
    web = HttpsClient()
    response = web.post(reverse("login"), {"username": "AP@Acme.Example", "password": PASSWORD})
    assert response.status_code == 302
    assert web.get(reverse("invoice-list")).status_code == 200
    event = AuditEvent.objects.get(kind=EventKind.LOGIN)
    assert event.actor == contact and event.ip_address == "127.0.0.1"


def test_wrong_password_is_refused_and_audited():
    make_contact(email="ap@acme.example")
    response = HttpsClient().post(
        reverse("login"), {"username": "ap@acme.example", "password": "nope nope nope"}
    )
    assert response.status_code == 200
    assert b"do not match" in response.content
    assert (
        AuditEvent.objects.filter(
            kind=EventKind.LOGIN_FAILED, actor_email="ap@acme.example"
        ).count()
        == 1
    )


def test_unknown_email_gets_the_same_message():
    make_contact(email="ap@acme.example")
    known = HttpsClient().post(
        reverse("login"), {"username": "ap@acme.example", "password": "wrong password"}
    )
    unknown = HttpsClient().post(
        reverse("login"), {"username": "nobody@acme.example", "password": "wrong password"}
    )
    assert b"do not match" in known.content and b"do not match" in unknown.content


def test_contact_of_inactive_client_cannot_log_in():
    make_contact(make_client(is_active=False), email="gone@old.example")
    response = HttpsClient().post(
        reverse("login"), {"username": "gone@old.example", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert b"do not match" in response.content


def test_login_redirects_back_to_next_but_never_off_site():
    make_contact(email="ap@acme.example")
    web = HttpsClient()
    inside = web.post(
        reverse("login") + "?next=/invoices/",
        {"username": "ap@acme.example", "password": PASSWORD, "next": "/invoices/"},
    )
    assert inside["Location"] == "/invoices/"
    web = HttpsClient()
    outside = web.post(
        reverse("login"),
        {"username": "ap@acme.example", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert outside["Location"] == reverse("portal-home")


def test_logout_needs_post_and_is_audited():
    contact = make_contact()
    web = HttpsClient()
    web.force_login(contact)
    assert web.get(reverse("logout")).status_code == 405
    assert web.post(reverse("logout")).status_code == 302
    assert web.get(reverse("invoice-list")).status_code == 302
    assert AuditEvent.objects.filter(kind=EventKind.LOGOUT, actor=contact).exists()


def test_home_sends_each_kind_of_user_to_its_place():
    assert HttpsClient().get("/")["Location"] == reverse("login")
    web = HttpsClient()
    web.force_login(make_contact())
    assert web.get("/")["Location"] == reverse("invoice-list")
    assert logged_in_staff().get("/")["Location"] == reverse("admin:index")


def test_contact_cannot_use_the_admin():
    web = HttpsClient()
    web.force_login(make_contact())
    response = web.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
