"""Password reset (issue 12, item 6): links built from INVOICEPORTAL_BASE_URL whatever the
Host header says, the email sent through the queue after the answer, the same database work
for known and unknown addresses, limits per address and per client address, audited."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, EventKind
from business.services import profile_get
from clients import account_services
from clients.account_views import PasswordResetView
from clients.models import User
from notifications.models import Notification, NotificationStatus
from notifications.services import send_due
from tests.conftest import HttpsClient, logged_in_staff
from tests.factories import make_client, make_contact

pytestmark = pytest.mark.django_db

RESET = "/accounts/password-reset/"


@pytest.fixture
def contact():
    return make_contact(make_client("Acme GmbH"), email="ap@acme.example")


@pytest.fixture(autouse=True)
def portal_url(settings):
    settings.BASE_URL = "https://portal.example"
    settings.RESET_LIMIT_PER_ADDRESS = 3
    settings.RESET_LIMIT_PER_IP = 10


def ask(email: str, ip: str = "198.51.100.7", **headers: str):
    return HttpsClient().post(RESET, {"email": email}, REMOTE_ADDR=ip, **headers)


def test_forged_host_with_another_port_never_reaches_the_email(contact, mailoutbox):
    # "localhost" is an allowed host in the embedded run; Django accepts any port with it.
    response = ask(contact.email, HTTP_HOST="localhost:9999")
    assert response.status_code == 302
    (message,) = mailoutbox
    links = re.findall(r"https?://[^\s\"<]+", message.body + message.alternatives[0][0])
    assert links and all(
        link.startswith("https://portal.example/accounts/reset/") for link in links
    )
    assert "9999" not in message.body and "localhost" not in message.body


def test_fifteen_requests_send_three_emails_and_the_refusals_are_audited(contact, mailoutbox):
    answers = [ask(contact.email, ip=f"198.51.100.{n}") for n in range(15)]
    assert len(mailoutbox) == 3
    assert {(a.status_code, a["Location"], a.content) for a in answers} == {
        (answers[0].status_code, answers[0]["Location"], answers[0].content)
    }
    limited = AuditEvent.objects.filter(kind=EventKind.PASSWORD_RESET_LIMITED)
    assert limited.count() == 12
    assert set(limited.values_list("subject", flat=True)) == {contact.pk}
    assert all("this address" in row.detail for row in limited)


def test_one_client_address_spraying_addresses_is_limited(contact, mailoutbox):
    for n in range(10):
        ask(f"nobody{n}@acme.example")
    ask(contact.email)  # the 11th request from that address in the hour
    assert mailoutbox == []
    row = AuditEvent.objects.get(kind=EventKind.PASSWORD_RESET_LIMITED)
    assert row.ip_address == "198.51.100.7" and "client address" in row.detail
    assert ask(contact.email, ip="203.0.113.9").status_code == 302
    assert len(mailoutbox) == 1  # another client address is not limited


def test_the_limits_last_an_hour(contact, mailoutbox):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        for _ in range(4):
            ask(contact.email)
    assert len(mailoutbox) == 3
    with time_machine.travel(start + dt.timedelta(minutes=61), tick=False):
        ask(contact.email)
    assert len(mailoutbox) == 4


def _shape(queries) -> list[str]:
    """Each statement's verb and tables, without its values."""
    shapes = []
    for query in queries:
        sql = query["sql"]
        tables = sorted(set(re.findall(r'(?:FROM|INTO|UPDATE|JOIN)\s+"?(\w+)"?', sql)))
        shapes.append(f"{sql.split()[0].upper()} {' '.join(tables)}")
    return shapes


def _work(email: str) -> list[str]:
    request = RequestFactory().post(RESET, REMOTE_ADDR="192.0.2.1")
    with CaptureQueriesContext(connection) as queries:
        account_services.password_reset_request(email=email, request=request)
    return _shape(queries.captured_queries)


def test_known_and_unknown_addresses_do_the_same_database_work(contact, settings):
    invited = User.objects.create_user(email="invited@acme.example", client=contact.client)
    profile_get()  # the business profile exists in any running portal
    known = _work(contact.email)
    assert known == _work("nobody@acme.example")
    assert known == _work(invited.email)  # no usable password yet: nothing sent
    settings.RESET_LIMIT_PER_ADDRESS = 1
    assert known == _work(contact.email)  # limited
    assert any(s.startswith("INSERT") and "notification" in s for s in known)
    statuses = list(Notification.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == [NotificationStatus.PENDING] + [NotificationStatus.DROPPED] * 3


def test_the_email_goes_out_after_the_answer(contact, mailoutbox):
    request = RequestFactory().post(RESET, {"email": contact.email}, secure=True)
    request._dont_enforce_csrf_checks = True
    response = PasswordResetView.as_view()(request)
    assert response.status_code == 302 and mailoutbox == []  # the answer is ready, no SMTP yet
    response.close()  # what the WSGI server does once the answer is written
    assert len(mailoutbox) == 1


def test_no_reset_link_reaches_an_address_the_account_left_before_sending(contact, mailoutbox):
    request = RequestFactory().post(RESET, REMOTE_ADDR="192.0.2.1")
    account_services.password_reset_request(email=contact.email, request=request)
    contact.email = "moved@acme.example"
    contact.save()
    send_due()
    assert mailoutbox == []
    note = Notification.objects.get()
    assert note.status == NotificationStatus.FAILED and "can no longer reset" in note.last_error


def test_the_reset_token_is_never_stored(contact, mailoutbox):
    ask(contact.email)
    token_path = re.search(r"/accounts/reset/\S+/", mailoutbox[0].body).group(0)
    note = Notification.objects.get()
    assert token_path.split("/")[-2] not in note.body + note.body_html
    assert "[[portal-link]]" in note.body


def test_admin_links_for_emails_are_built_from_the_base_url(contact):
    invited = User.objects.create_user(email="invited@acme.example", client=contact.client)
    response = logged_in_staff().post(
        reverse("admin:clients_contact_changelist"),
        {"action": "send_invitation", "_selected_action": [invited.pk]},
        HTTP_HOST="localhost:9999",
    )
    html = response.content.decode()
    assert "https://portal.example/invite/" in html, html[:2000]
    assert "localhost:9999" not in html


def test_one_ipv6_host_is_limited_by_its_64(settings, mailoutbox):
    """One host holds a whole /64 (2**64 addresses): the per-client-address limit counts the
    /64, not each address in it; another /64, and IPv4 neighbours, are counted apart."""
    settings.RESET_LIMIT_PER_IP = 10
    for i in range(30):
        ask(f"victim{i}@acme.example", ip=f"2001:db8:1:2::{i + 1:x}")
    accepted = AuditEvent.objects.filter(kind=EventKind.PASSWORD_RESET_REQUESTED)
    assert accepted.count() == 10
    assert AuditEvent.objects.filter(kind=EventKind.PASSWORD_RESET_LIMITED).count() == 20
    ask("other@acme.example", ip="2001:db8:1:3::1")
    ask("v4@acme.example", ip="198.51.100.8")
    assert accepted.count() == 12
    assert account_services.reset_network("2001:db8:1:2:ffff::9") == "network 2001:db8:1:2::/64"
    assert account_services.reset_network("::ffff:198.51.100.8") == "network 198.51.100.8"


def test_closing_the_answer_never_talks_to_the_mail_relay(
    contact, settings, monkeypatch, mailoutbox
):
    """gunicorn closes the connection only after the response's close() returns: an SMTP
    exchange there (for a known address only) would tell by the time to EOF. close() only
    wakes the background sender, the same call for a known and an unknown address."""
    import notifications.receivers

    settings.MAIL_FLUSH_IN_BACKGROUND = True
    from django.core.mail.backends.locmem import EmailBackend

    relay_calls: list[int] = []
    send = EmailBackend.send_messages
    monkeypatch.setattr(
        EmailBackend,
        "send_messages",
        lambda self, messages: relay_calls.append(len(messages)) or send(self, messages),
    )
    woken: list[str] = []
    monkeypatch.setattr(notifications.receivers, "flush_in_background", lambda: woken.append("x"))
    request_finished.disconnect(close_old_connections)  # keep the test's database open
    try:
        for email in (contact.email, "nobody@acme.example"):
            request = RequestFactory().post(RESET, {"email": email}, secure=True)
            request._dont_enforce_csrf_checks = True
            response = PasswordResetView.as_view()(request)
            response.close()
    finally:
        request_finished.connect(close_old_connections)
    assert relay_calls == [] and mailoutbox == []  # no SMTP before the connection closes
    assert woken == ["x", "x"]  # the same hand-off for both
    send_due()  # what the woken thread does
    assert relay_calls == [1] and mailoutbox[0].to == [contact.email]


@pytest.mark.django_db(transaction=True)
def test_the_background_sender_sends_promptly(contact, settings, mailoutbox):
    """The hand-off really sends (make run): the thread sends the queued reset soon."""
    import time

    settings.MAIL_FLUSH_IN_BACKGROUND = True
    ask(contact.email)
    deadline = time.monotonic() + 10
    while not mailoutbox and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [contact.email]
