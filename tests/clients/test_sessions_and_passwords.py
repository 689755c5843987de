"""Sessions (idle and absolute expiry, log out everywhere) and passwords (upgrade of old
hashes, change, reset by email that kills links and never bypasses 2FA)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.hashers import make_password
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent, EventKind
from clients.models import User
from invoices.models import DownloadLink
from tests.conftest import HttpsClient
from tests.factories import PASSWORD, make_client, make_contact, make_invoice

pytestmark = pytest.mark.django_db

START = timezone.now().replace(microsecond=0)


def login(email: str, password: str = PASSWORD) -> HttpsClient:
    web = HttpsClient()
    assert web.post(reverse("login"), {"username": email, "password": password}).status_code == 302
    return web


@pytest.fixture
def contact():
    return make_contact(make_client("Acme GmbH"), email="ap@acme.example")


def test_idle_session_expires_after_30_minutes(contact):
    with time_machine.travel(START, tick=False):
        web = login(contact.email)
    with time_machine.travel(START + dt.timedelta(minutes=29), tick=False):
        assert web.get(reverse("invoice-list")).status_code == 200
    with time_machine.travel(START + dt.timedelta(minutes=58), tick=False):
        assert web.get(reverse("invoice-list")).status_code == 200
    with time_machine.travel(START + dt.timedelta(minutes=88, seconds=1), tick=False):
        response = web.get(reverse("invoice-list"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        assert web.get(reverse("invoice-list")).status_code == 302
    assert AuditEvent.objects.filter(kind=EventKind.SESSION_EXPIRED, actor=contact).count() == 1


def test_active_session_still_ends_12_hours_after_login(contact):
    with time_machine.travel(START, tick=False):
        web = login(contact.email)
    minute = 0
    while minute < 12 * 60:
        minute += 20
        with time_machine.travel(START + dt.timedelta(minutes=minute), tick=False):
            status = web.get(reverse("invoice-list")).status_code
        if minute <= 12 * 60:
            assert status == 200, minute
    with time_machine.travel(START + dt.timedelta(hours=12, minutes=1), tick=False):
        assert web.get(reverse("invoice-list")).status_code == 302


def test_log_out_everywhere_ends_the_other_sessions(contact):
    laptop = login(contact.email)
    phone = login(contact.email)
    assert phone.get(reverse("invoice-list")).status_code == 200
    response = laptop.post(reverse("logout-everywhere"))
    assert response.status_code == 302
    assert phone.get(reverse("invoice-list")).status_code == 302  # ended
    assert laptop.get(reverse("invoice-list")).status_code == 200  # the one that asked stays
    assert AuditEvent.objects.filter(kind=EventKind.SESSIONS_ENDED, actor=contact).exists()


def test_pbkdf2_hash_is_upgraded_to_argon2id_at_login(settings):
    settings.PASSWORD_HASHERS = [
        "core.hashers.PortalArgon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    contact = make_contact(email="old@acme.example")
    User.objects.filter(pk=contact.pk).update(
        password=make_password(PASSWORD, hasher="pbkdf2_sha256")
    )
    assert User.objects.get(pk=contact.pk).password.startswith("pbkdf2_sha256$")
    login(contact.email)
    assert User.objects.get(pk=contact.pk).password.startswith(
        "argon2$argon2id$v=19$m=65536,t=2,p=1$"
    )


def test_weaker_argon2_parameters_are_upgraded_too(settings):
    from django.contrib.auth.hashers import Argon2PasswordHasher

    settings.PASSWORD_HASHERS = [
        "core.hashers.PortalArgon2PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]

    class Weak(Argon2PasswordHasher):
        memory_cost, time_cost, parallelism = 1024, 1, 1

    contact = make_contact(email="weak@acme.example")
    User.objects.filter(pk=contact.pk).update(password=Weak().encode(PASSWORD, Weak().salt()))
    login(contact.email)
    assert User.objects.get(pk=contact.pk).password.startswith(
        "argon2$argon2id$v=19$m=65536,t=2,p=1$"
    )


def test_password_change_needs_the_old_password_and_ends_other_sessions(contact):
    web = login(contact.email)
    other = login(contact.email)
    url = reverse("password-change")
    new = "a brand new passphrase 2026"
    refused = web.post(
        url, {"old_password": "not the password", "new_password1": new, "new_password2": new}
    )
    assert refused.status_code == 200
    assert (
        web.post(
            url, {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
        ).status_code
        == 302
    )
    assert web.get(reverse("invoice-list")).status_code == 200
    assert other.get(reverse("invoice-list")).status_code == 302
    assert AuditEvent.objects.filter(kind=EventKind.PASSWORD_CHANGED, actor=contact).exists()
    login(contact.email, new)


def test_reset_page_does_not_reveal_whether_an_address_has_an_account(contact, mailoutbox):
    known = HttpsClient().post(reverse("password_reset"), {"email": contact.email})
    unknown = HttpsClient().post(reverse("password_reset"), {"email": "nobody@acme.example"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [contact.email]
    body = mailoutbox[0].body
    assert "/accounts/reset/" in body
    assert not mailoutbox[0].attachments
    ((html, mime),) = mailoutbox[0].alternatives
    assert mime == "text/html" and "/accounts/reset/" in html


def _reset_link(outbox) -> str:
    bodies = [m.body for m in outbox if "/accounts/reset/" in m.body]
    base = re.escape(django_settings.BASE_URL)
    return re.search(rf"{base}(/accounts/reset/\S+)", bodies[-1]).group(1)


def _reset(email: str, outbox, password: str) -> HttpsClient:
    HttpsClient().post(reverse("password_reset"), {"email": email})
    link = _reset_link(outbox)
    web = HttpsClient()
    form = web.get(link, follow=True)
    assert form.status_code == 200
    done = web.post(
        form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password}
    )
    assert done.status_code == 302, done.content[:500]
    return web


def test_reset_ends_sessions_kills_links_and_works_once(contact, mailoutbox):
    invoice = make_invoice(contact.client)
    session = login(contact.email)
    location = session.post(reverse("invoice-download-link", args=[invoice.public_id]))["Location"]
    link = DownloadLink.objects.get(created_by=contact)
    new = "reset passphrase for acme 1"
    _reset(contact.email, mailoutbox, new)
    link.refresh_from_db()
    assert link.revoked_at is not None
    assert session.get(reverse("invoice-list")).status_code == 302  # old session ended
    fresh = login(contact.email, new)
    assert fresh.get(location).status_code == 404  # the old link is dead
    assert AuditEvent.objects.filter(kind=EventKind.PASSWORD_RESET, actor=contact).exists()
    # the emailed link works once
    reuse = _reset_link(mailoutbox)
    assert b"not valid" in HttpsClient().get(reuse, follow=True).content


def test_reset_never_bypasses_2fa(contact, mailoutbox):
    TOTPDevice.objects.create(user=contact, name="phone", confirmed=True)
    new = "reset passphrase for acme 2"
    _reset(contact.email, mailoutbox, new)
    web = login(contact.email, new)
    response = web.get(reverse("invoice-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("otp-verify"))


def test_email_change_needs_the_password_and_the_link_sent_to_the_new_address(contact, mailoutbox):
    web = login(contact.email)
    url = reverse("email-change")
    refused = web.post(url, {"email": "new@acme.example", "password": "wrong password"})
    assert b"not your password" in refused.content
    assert web.post(url, {"email": "New@Acme.example", "password": PASSWORD}).status_code == 302
    contact.refresh_from_db()
    assert contact.email == "ap@acme.example"  # not before the link is used
    (confirm,) = [m for m in mailoutbox if m.to == ["new@acme.example"]]
    link = re.search(r"https://\S+?(/account/email/confirm/\S+/)", confirm.body).group(1)
    assert web.post(link).status_code == 302
    contact.refresh_from_db()
    assert contact.email == "new@acme.example"
    assert AuditEvent.objects.filter(kind=EventKind.EMAIL_CHANGED, actor=contact).exists()
    taken = make_contact(email="taken@acme.example")
    again = web.post(url, {"email": taken.email, "password": PASSWORD})
    # The same answer as for a free address (tests/clients/test_email_change.py); no link.
    assert again.status_code == 302
    assert not [m for m in mailoutbox if m.to == [taken.email] and "/confirm/" in m.body]


def test_account_page_shows_the_users_own_security_log(contact):
    other = make_contact(email="other@acme.example")
    login(other.email)
    web = login(contact.email)
    html = web.get(reverse("account")).content.decode()
    assert "Login" in html
    assert html.count("<tr>") - 1 == AuditEvent.objects.filter(actor=contact).count()


def test_no_reset_email_for_a_contact_of_a_deactivated_client(contact, mailoutbox):
    contact.client.is_active = False
    contact.client.save()
    response = HttpsClient().post(reverse("password_reset"), {"email": contact.email})
    assert response.status_code == 302
    assert mailoutbox == []


def test_security_changes_are_announced_by_email_without_secrets(contact, mailoutbox, settings):
    web = login(contact.email)
    new = "a brand new passphrase 2027"
    web.post(
        reverse("password-change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    notice = [
        m for m in mailoutbox if m.subject == "A security change on your invoice portal account"
    ]
    assert len(notice) == 1 and notice[0].to == [contact.email]
    assert "password of your account was changed" in notice[0].body
    assert new not in notice[0].body
    web.post(reverse("email-change"), {"email": "moved@acme.example", "password": new})
    to_old = [m for m in mailoutbox if "change the login address" in m.body]
    assert to_old and to_old[0].to == ["ap@acme.example"]
    assert "moved@acme.example" in to_old[0].body


def test_a_login_from_a_new_browser_is_announced(contact, mailoutbox):
    first = HttpsClient(HTTP_USER_AGENT="Firefox/140")
    first.post(reverse("login"), {"username": contact.email, "password": PASSWORD})
    again = HttpsClient(HTTP_USER_AGENT="Firefox/140")
    again.post(reverse("login"), {"username": contact.email, "password": PASSWORD})
    assert mailoutbox == []  # the first login ever, then the same browser: nothing to say
    other = HttpsClient(HTTP_USER_AGENT="CurlPhone/1.0")
    other.post(reverse("login"), {"username": contact.email, "password": PASSWORD})
    assert len(mailoutbox) == 1 and "new browser (CurlPhone/1.0" in mailoutbox[0].body


def test_reset_link_expires_after_an_hour(contact, mailoutbox):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        HttpsClient().post(reverse("password_reset"), {"email": contact.email})
    link = _reset_link(mailoutbox)
    with time_machine.travel(start + dt.timedelta(minutes=61), tick=False):
        assert b"not valid" in HttpsClient().get(link, follow=True).content
