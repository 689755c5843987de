"""The password re-check on account pages is not a password oracle for a stolen session:
each wrong password is audited, and after REAUTH_FAILURE_LIMIT of them the session ends and
the account's login lockout counts the failure (clients.reauth, second attacker's review)."""

from __future__ import annotations

import time

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from audit.models import AuditEvent, EventKind
from clients import middleware
from tests.clients.test_twofactor import enrol, password_login
from tests.factories import PASSWORD, make_client, make_contact

pytestmark = pytest.mark.django_db

GUESSES = 40


@pytest.fixture
def contact():
    return make_contact(make_client("Acme GmbH"), email="ap@acme.example")


def _age_login(web) -> None:
    """Make the session's password entry older than the 10 minute window."""
    session = web.session
    for key in (middleware.AUTH_AT, middleware.REAUTH_AT):
        if key in session:
            session[key] = time.time() - 700
    session.save()


def _otp_setup(web, password):
    _age_login(web)
    return web.post(reverse("otp-setup"), {"password": password})


def _email_change(web, password):
    return web.post(reverse("email-change"), {"email": "x@evil.example", "password": password})


def _password_change(web, password):
    new = "a brand new passphrase 42"
    return web.post(
        reverse("password-change"),
        {"old_password": password, "new_password1": new, "new_password2": new},
    )


def _backup_codes(web, password):
    return web.post(reverse("otp-backup-codes"), {"password": password, "otp_token": "000000"})


def _otp_disable(web, password):
    return web.post(reverse("otp-disable"), {"password": password, "otp_token": "000000"})


PAGES = {
    "otp-setup": _otp_setup,
    "email-change": _email_change,
    "password-change": _password_change,
    "backup-codes": _backup_codes,
    "otp-disable": _otp_disable,
}


@pytest.mark.parametrize("page", PAGES)
def test_password_guessing_on_an_account_page_ends_the_session(page, contact, settings):
    """A stolen session guesses the password: every wrong guess is audited, after the limit
    the session is over (the login page), the right password no longer passes, and the
    login lockout counted a failure against the account."""
    web = password_login(contact.email)
    if page in ("backup-codes", "otp-disable"):
        enrol(web)
    post = PAGES[page]
    answered = 0
    for i in range(GUESSES):
        response = post(web, f"wrong guess {i}")
        if response.status_code != 200:
            break
        assert b"not your password" in response.content
        answered += 1
    assert answered == settings.REAUTH_FAILURE_LIMIT - 1
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    failed = AuditEvent.objects.filter(kind=EventKind.REAUTH_FAILED, actor=contact)
    assert failed.count() == settings.REAUTH_FAILURE_LIMIT
    assert AuditEvent.objects.filter(kind=EventKind.REAUTH_LOCKED, actor=contact).exists()
    assert AccessAttempt.objects.filter(username=contact.email).exists()
    after = post(web, PASSWORD)
    assert after.status_code == 302 and after["Location"].startswith(reverse("login"))
    contact.refresh_from_db()
    assert contact.check_password(PASSWORD)  # the password change did not go through


def test_a_wrong_password_at_a_recheck_is_audited_and_the_right_one_passes(contact):
    web = password_login(contact.email)
    _age_login(web)
    assert web.post(reverse("otp-setup"), {"password": "nope"}).status_code == 200
    assert AuditEvent.objects.filter(kind=EventKind.REAUTH_FAILED, actor=contact).count() == 1
    assert web.post(reverse("otp-setup"), {"password": PASSWORD}).status_code == 302
    assert not AuditEvent.objects.filter(kind=EventKind.REAUTH_LOCKED).exists()
