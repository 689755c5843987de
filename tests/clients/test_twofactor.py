"""Two-factor authentication through real requests: enrolment from the shown secret, login
with a code, replay, throttling, backup codes, policy, and the download view's own check."""

from __future__ import annotations

import base64
import datetime as dt
import re
import time

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent, EventKind
from invoices.services import link_create
from tests.conftest import HttpsClient
from tests.factories import PASSWORD, make_client, make_contact, make_invoice, make_staff

pytestmark = pytest.mark.django_db

START = timezone.now().replace(microsecond=0)


def code_for(secret: str, at: float | None = None) -> str:
    """What an authenticator app shows for ``secret`` (the text on the setup page)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key)
    totp.time = time.time() if at is None else at
    return f"{totp.token():06d}"


def password_login(email: str) -> HttpsClient:
    web = HttpsClient()
    response = web.post(reverse("login"), {"username": email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return web


def enrol(web: HttpsClient) -> tuple[str, list[str]]:
    page = web.get(reverse("otp-setup"))
    assert page.status_code == 200
    html = page.content.decode()
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    assert 'src="data:image/svg+xml;base64,' in html  # the QR code, rendered server-side
    done = web.post(reverse("otp-setup"), {"otp_token": code_for(secret)})
    assert done.status_code == 200, done.content[:800]
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.content.decode())
    return secret, codes


@pytest.fixture
def contact():
    return make_contact(make_client("Acme GmbH"), email="ap@acme.example")


def test_enrolment_with_the_shown_secret_then_login_requires_a_code(contact):
    invoice = make_invoice(contact.client)
    with time_machine.travel(START, tick=False):
        web = password_login(contact.email)
        secret, codes = enrol(web)
        assert len(codes) == 10 and len(set(codes)) == 10
        assert AuditEvent.objects.filter(kind=EventKind.OTP_ENROLLED, actor=contact).exists()
    with time_machine.travel(START + dt.timedelta(seconds=60), tick=False):
        fresh = password_login(contact.email)
        detail = reverse("invoice-detail", args=[invoice.public_id])
        blocked = fresh.get(detail)
        assert blocked.status_code == 302
        assert blocked["Location"].startswith(reverse("otp-verify") + "?next=")
        assert fresh.get(reverse("invoice-list")).status_code == 302
        ok = fresh.post(reverse("otp-verify"), {"otp_token": code_for(secret), "next": detail})
        assert ok.status_code == 302 and ok["Location"] == detail
        assert fresh.get(detail).status_code == 200


def test_a_code_cannot_be_replayed(contact):
    with time_machine.travel(START, tick=False):
        secret, _codes = enrol(password_login(contact.email))
    with time_machine.travel(START + dt.timedelta(seconds=90), tick=False):
        code = code_for(secret)
        first = password_login(contact.email)
        assert first.post(reverse("otp-verify"), {"otp_token": code}).status_code == 302
        second = password_login(contact.email)
        replay = second.post(reverse("otp-verify"), {"otp_token": code})
        assert replay.status_code == 200
        assert b"not accepted" in replay.content
        assert second.get(reverse("invoice-list")).status_code == 302


def test_wrong_codes_are_throttled_and_audited(contact):
    with time_machine.travel(START, tick=False):
        secret, _codes = enrol(password_login(contact.email))
    later = START + dt.timedelta(seconds=120)
    with time_machine.travel(later, tick=False):
        web = password_login(contact.email)
        for _ in range(3):
            web.post(reverse("otp-verify"), {"otp_token": "000000"})
        # right code, but inside the back-off after the failures: refused
        refused = web.post(reverse("otp-verify"), {"otp_token": code_for(secret)})
        assert refused.status_code == 200
    assert AuditEvent.objects.filter(kind=EventKind.OTP_FAILED, actor=contact).count() >= 2
    with time_machine.travel(later + dt.timedelta(seconds=30), tick=False):
        accepted = web.post(reverse("otp-verify"), {"otp_token": code_for(secret)})
        assert accepted.status_code == 302


def test_a_backup_code_works_exactly_once(contact):
    with time_machine.travel(START, tick=False):
        _secret, codes = enrol(password_login(contact.email))
    web = password_login(contact.email)
    assert (
        web.post(
            reverse("otp-verify"), {"otp_token": codes[0].upper().replace("-", " ")}
        ).status_code
        == 302
    )
    assert web.get(reverse("invoice-list")).status_code == 200
    event = AuditEvent.objects.get(kind=EventKind.BACKUP_CODE_USED)
    assert event.detail == "9 backup codes left"
    again = password_login(contact.email)
    assert again.post(reverse("otp-verify"), {"otp_token": codes[0]}).status_code == 200


def test_backup_codes_are_stored_only_as_digests(contact):
    from clients.models import BackupCode

    with time_machine.travel(START, tick=False):
        _secret, codes = enrol(password_login(contact.email))
    stored = set(BackupCode.objects.values_list("digest", flat=True))
    assert len(stored) == 10
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored


def test_regenerating_codes_needs_password_and_code_and_kills_the_old_ones(contact):
    with time_machine.travel(START, tick=False):
        web = password_login(contact.email)
        secret, old = enrol(web)
    with time_machine.travel(START + dt.timedelta(seconds=60), tick=False):
        wrong = web.post(
            reverse("otp-backup-codes"),
            {"password": "not it at all", "otp_token": code_for(secret)},
        )
        assert b"not your password" in wrong.content
        made = web.post(
            reverse("otp-backup-codes"), {"password": PASSWORD, "otp_token": code_for(secret)}
        )
        new = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", made.content.decode())
        assert len(new) == 10 and not set(new) & set(old)
    with time_machine.travel(START + dt.timedelta(seconds=120), tick=False):
        fresh = password_login(contact.email)
        assert fresh.post(reverse("otp-verify"), {"otp_token": old[1]}).status_code == 200
    with time_machine.travel(START + dt.timedelta(seconds=130), tick=False):  # after the back-off
        assert fresh.post(reverse("otp-verify"), {"otp_token": new[1]}).status_code == 302


def test_disabling_needs_password_and_a_current_code(contact):
    with time_machine.travel(START, tick=False):
        web = password_login(contact.email)
        secret, _codes = enrol(web)
    with time_machine.travel(START + dt.timedelta(seconds=60), tick=False):
        no_code = web.post(reverse("otp-disable"), {"password": PASSWORD, "otp_token": "123456"})
        assert no_code.status_code == 200
    with time_machine.travel(START + dt.timedelta(seconds=70), tick=False):  # after the back-off
        done = web.post(
            reverse("otp-disable"), {"password": PASSWORD, "otp_token": code_for(secret)}
        )
        assert done.status_code == 302
    assert AuditEvent.objects.filter(kind=EventKind.OTP_DISABLED, actor=contact).exists()
    plain = password_login(contact.email)
    assert plain.get(reverse("invoice-list")).status_code == 200


def test_client_that_requires_2fa_sends_contacts_to_enrol_first(contact):
    contact.client.requires_2fa = True
    contact.client.save()
    invoice = make_invoice(contact.client)
    web = password_login(contact.email)
    for url in [
        reverse("invoice-list"),
        reverse("invoice-detail", args=[invoice.public_id]),
        reverse("account"),
    ]:
        response = web.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("otp-setup"))
    with time_machine.travel(START, tick=False):
        enrol(web)
        assert web.get(reverse("invoice-list")).status_code == 200


def test_setting_can_require_2fa_for_every_client(contact, settings):
    settings.REQUIRE_2FA_FOR_ALL = True
    web = password_login(contact.email)
    assert web.get(reverse("invoice-list"))["Location"].startswith(reverse("otp-setup"))


def test_download_link_needs_the_verified_session_too(contact):
    invoice = make_invoice(contact.client)
    with time_machine.travel(START, tick=False):
        secret, _codes = enrol(password_login(contact.email))
    _link, token = link_create(invoice=invoice, ttl=dt.timedelta(hours=1))
    url = reverse("download", args=[token])
    with time_machine.travel(START + dt.timedelta(seconds=60), tick=False):
        web = password_login(contact.email)
        response = web.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("otp-verify"))
        assert (
            response["Location"].endswith("next=" + url.replace("/", "%2F"))
            or url in response["Location"]
        )
        assert not AuditEvent.objects.filter(kind=EventKind.DOWNLOAD).exists()
        verified = web.post(reverse("otp-verify"), {"otp_token": code_for(secret), "next": url})
        assert verified["Location"] == url
        assert web.get(url).status_code == 200


def test_the_download_view_checks_2fa_itself(contact, settings):
    """Even without the gate middleware, the view refuses an unverified session."""
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if not m.endswith("TwoFactorGateMiddleware")
    ]
    invoice = make_invoice(contact.client)
    with time_machine.travel(START, tick=False):
        enrol(password_login(contact.email))
    _link, token = link_create(invoice=invoice, ttl=dt.timedelta(hours=1))
    web = password_login(contact.email)
    response = web.get(reverse("download", args=[token]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("otp-verify"))


def test_session_key_rotates_at_login_and_at_verification(contact):
    with time_machine.travel(START, tick=False):
        secret, _codes = enrol(password_login(contact.email))
    with time_machine.travel(START + dt.timedelta(seconds=60), tick=False):
        web = HttpsClient()
        web.get(reverse("login"))
        web.cookies["__Host-sessionid"] = "x" * 32
        web.post(reverse("login"), {"username": contact.email, "password": PASSWORD})
        after_login = web.cookies["__Host-sessionid"].value
        assert after_login != "x" * 32
        web.post(reverse("otp-verify"), {"otp_token": code_for(secret)})
        assert web.cookies["__Host-sessionid"].value != after_login


def test_staff_without_a_device_is_led_to_enrolment_and_then_into_the_admin():
    staff = make_staff(email="me@consultant.example")
    web = password_login(staff.email)
    response = web.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("otp-setup"))
    with time_machine.travel(START, tick=False):
        page = web.get(response["Location"])
        secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.content.decode()).group(
            1
        )
        done = web.post(response["Location"], {"otp_token": code_for(secret), "next": "/admin/"})
        assert b'href="/admin/"' in done.content
        assert web.get("/admin/").status_code == 200


SECRET_RE = r'<code class="secret">([A-Z2-7]+)</code>'


def shown_secret(web: HttpsClient) -> str:
    return re.search(SECRET_RE, web.get(reverse("otp-setup")).content.decode()).group(1)


def test_an_old_session_sees_no_secret_until_it_reenters_the_password(contact):
    with time_machine.travel(START, tick=False):
        web = password_login(contact.email)
    with time_machine.travel(START + dt.timedelta(minutes=20), tick=False):
        page = web.get(reverse("otp-setup")).content.decode()
        assert 'name="password"' in page
        assert not re.search(SECRET_RE, page) and "data:image/svg" not in page
        assert not TOTPDevice.objects.filter(user=contact).exists()
        # the code step without the password step: still only the password form
        blind = web.post(reverse("otp-setup"), {"otp_token": "123456"})
        assert not re.search(SECRET_RE, blind.content.decode())
        wrong = web.post(reverse("otp-setup"), {"password": "not it at all"})
        assert b"not your password" in wrong.content
        assert not re.search(SECRET_RE, wrong.content.decode())
        ok = web.post(reverse("otp-setup"), {"password": PASSWORD, "next": "/account/"})
        assert ok.status_code == 302
        assert ok["Location"] == reverse("otp-setup") + "?next=%2Faccount%2F"
        secret = shown_secret(web)
        done = web.post(reverse("otp-setup"), {"otp_token": code_for(secret)})
        assert b"Two-factor authentication is on" in done.content
    with time_machine.travel(START + dt.timedelta(minutes=31), tick=False):
        # the re-entry counts for ten minutes too, not for the rest of the session
        assert 'name="password"' in web.get(reverse("otp-setup")).content.decode()


def test_a_second_session_opening_the_enrolment_page_gets_a_different_secret(contact):
    with time_machine.travel(START, tick=False):
        victim, onlooker = password_login(contact.email), password_login(contact.email)
        assert shown_secret(victim) != shown_secret(onlooker)
        assert shown_secret(victim) == shown_secret(victim)  # stable within a session


def test_a_code_from_another_sessions_secret_does_not_confirm(contact):
    with time_machine.travel(START, tick=False):
        victim, onlooker = password_login(contact.email), password_login(contact.email)
        seen_by_onlooker = shown_secret(onlooker)
        victims_secret = shown_secret(victim)
        refused = victim.post(reverse("otp-setup"), {"otp_token": code_for(seen_by_onlooker)})
        assert b"does not match" in refused.content
        refused = onlooker.post(reverse("otp-setup"), {"otp_token": code_for(victims_secret)})
        assert b"does not match" in refused.content
    assert not TOTPDevice.objects.filter(user=contact, confirmed=True).exists()


def test_confirming_in_one_session_removes_the_other_pending_devices(contact):
    with time_machine.travel(START, tick=False):
        victim, onlooker = password_login(contact.email), password_login(contact.email)
        seen_by_onlooker = shown_secret(onlooker)
        _secret, _codes = enrol(victim)
    [device] = TOTPDevice.objects.filter(user=contact)
    assert device.confirmed
    assert not AuditEvent.objects.filter(kind=EventKind.OTP_DEVICE_REMOVED).exists()
    with time_machine.travel(START + dt.timedelta(seconds=60), tick=False):
        # the onlooker's secret is worth nothing at login
        thief = password_login(contact.email)
        stolen = thief.post(reverse("otp-verify"), {"otp_token": code_for(seen_by_onlooker)})
        assert stolen.status_code == 200
        assert thief.get(reverse("invoice-list")).status_code == 302


def test_removing_a_users_device_in_the_admin_is_audited_and_secrets_stay_hidden(contact):
    from tests.conftest import logged_in_staff

    device = TOTPDevice.objects.create(user=contact, name="phone", confirmed=True)
    staff = logged_in_staff()
    page = staff.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk])).content.decode()
    assert device.key not in page
    staff.post(reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"})
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    event = AuditEvent.objects.get(kind=EventKind.OTP_DEVICE_REMOVED, actor_email=contact.email)
    assert "phone" in event.detail
