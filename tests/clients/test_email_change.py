"""A new login address takes effect only through a link sent to it, used by the logged-in
account holder; the old address is told (issue 12, item 7)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, EventKind
from clients.email_change import email_change_create
from clients.models import EmailChange
from tests.conftest import HttpsClient
from tests.factories import PASSWORD, make_client, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact():
    return make_contact(make_client("Acme GmbH"), email="ap@acme.example")


def login(email: str) -> HttpsClient:
    web = HttpsClient()
    assert web.post(reverse("login"), {"username": email, "password": PASSWORD}).status_code == 302
    return web


def _ask(web: HttpsClient, new: str) -> None:
    response = web.post(reverse("email-change"), {"email": new, "password": PASSWORD})
    assert response.status_code == 302


def _link(outbox, to: str) -> str:
    (message,) = [m for m in outbox if m.to == [to]]
    return re.search(r"https://\S+?(/account/email/confirm/[\w-]+/)", message.body).group(1)


def test_a_stolen_session_cannot_move_the_account_without_the_new_mailbox(contact, mailoutbox):
    web = login(contact.email)
    _ask(web, "attacker@evil.example")
    contact.refresh_from_db()
    assert contact.email == "ap@acme.example"
    told = [m for m in mailoutbox if m.to == ["ap@acme.example"]]
    assert told and "attacker@evil.example" in told[0].body  # the holder hears at once
    assert AuditEvent.objects.filter(kind=EventKind.EMAIL_CHANGE_REQUESTED, actor=contact).exists()


def test_the_link_changes_the_address_once_and_tells_the_old_one(contact, mailoutbox):
    web = login(contact.email)
    _ask(web, "new@acme.example")
    link = _link(mailoutbox, "new@acme.example")
    assert web.get(link).status_code == 200  # a mail scanner's GET changes nothing
    contact.refresh_from_db()
    assert contact.email == "ap@acme.example"
    assert web.post(link).status_code == 302
    contact.refresh_from_db()
    assert contact.email == "new@acme.example"
    told = [m for m in mailoutbox if "was changed to new@acme.example" in m.body]
    assert [m.to for m in told] == [["ap@acme.example"]]
    assert web.post(link).status_code == 404  # single use
    assert web.get(reverse("account")).status_code == 200  # still logged in


def test_another_account_holding_the_link_gets_the_404(contact, mailoutbox):
    stranger = make_contact(make_client("Rival Ltd"), email="ap@rival.example")
    _ask(login(contact.email), "new@acme.example")
    link = _link(mailoutbox, "new@acme.example")
    assert login(stranger.email).post(link).status_code == 404
    assert HttpsClient().post(link).status_code == 302  # anonymous: to the login page
    contact.refresh_from_db()
    stranger.refresh_from_db()
    assert (contact.email, stranger.email) == ("ap@acme.example", "ap@rival.example")


def test_the_link_expires(contact, settings):
    settings.EMAIL_CHANGE_TTL = 600  # shorter than the idle session timeout
    _change, token = email_change_create(user=contact, new_email="new@acme.example")
    web = login(contact.email)
    later = timezone.now() + dt.timedelta(seconds=settings.EMAIL_CHANGE_TTL + 1)
    with time_machine.travel(later, tick=False):
        assert web.post(reverse("email-change-confirm", args=[token])).status_code == 404


def test_an_address_taken_in_the_meantime_is_refused(contact):
    _change, token = email_change_create(user=contact, new_email="new@acme.example")
    make_contact(make_client("Rival Ltd"), email="new@acme.example")
    response = login(contact.email).post(reverse("email-change-confirm", args=[token]))
    assert response.status_code == 404
    contact.refresh_from_db()
    assert contact.email == "ap@acme.example"


def test_only_the_digest_of_the_token_is_stored(contact):
    change, token = email_change_create(user=contact, new_email="new@acme.example")
    assert token not in change.token_digest
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM clients_emailchange")
        assert not any(token in str(value) for row in cursor.fetchall() for value in row)


def test_a_newer_request_or_any_other_change_of_address_kills_open_links(contact):
    first, _ = email_change_create(user=contact, new_email="one@acme.example")
    second, _ = email_change_create(user=contact, new_email="two@acme.example")
    first.refresh_from_db()
    assert first.revoked_at is not None and second.revoked_at is None
    contact.email = "staff-typed@acme.example"  # the admin's path: a plain save
    contact.save()
    assert EmailChange.objects.filter(revoked_at__isnull=True).count() == 0


def test_the_form_does_not_tell_which_addresses_have_accounts(mailoutbox):
    """A contact of one client must not learn whether an address is a login here (another
    client's accounts payable, the consultant's staff): the same answer for a taken address
    as for a free one; the taken one gets no link, and the drop is audited."""
    make_contact(make_client("Acme GmbH"), email="ap@acme.example")
    stranger = make_contact(make_client("Rival Ltd"), email="ap@rival.example")
    web = login(stranger.email)
    url = reverse("email-change")
    taken = web.post(url, {"email": "ap@acme.example", "password": PASSWORD}, follow=True)
    free = web.post(url, {"email": "nobody@acme.example", "password": PASSWORD}, follow=True)
    assert taken.redirect_chain == free.redirect_chain == [(reverse("account"), 302)]
    said = [str(m) for r in (taken, free) for m in r.context["messages"]]
    assert said[0].replace("ap@acme.example", "X") == said[1].replace("nobody@acme.example", "X")
    assert not [m for m in mailoutbox if m.to == ["ap@acme.example"]]
    assert [m for m in mailoutbox if m.to == ["nobody@acme.example"]]
    assert AuditEvent.objects.filter(
        kind=EventKind.EMAIL_CHANGE_DROPPED, actor=stranger, detail__contains="ap@acme.example"
    ).exists()


def test_the_form_is_not_a_mail_cannon(contact, mailoutbox, settings):
    """A logged-in contact (or a stolen session with the password) must not make the portal
    mail any address, unlimited, from the consultant's domain: EMAIL_CHANGE_LIMIT_PER_ACCOUNT
    links an hour, refusals audited, the same answer."""
    settings.EMAIL_CHANGE_LIMIT_PER_ACCOUNT = 3
    web = login(contact.email)
    for i in range(20):
        response = web.post(
            reverse("email-change"), {"email": f"target{i}@victim.example", "password": PASSWORD}
        )
        assert response.status_code == 302
    outside = {m.to[0] for m in mailoutbox if m.to[0].endswith("@victim.example")}
    assert len(outside) == 3
    assert (
        AuditEvent.objects.filter(kind=EventKind.EMAIL_CHANGE_LIMITED, actor=contact).count() == 17
    )
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=61)):
        web = login(contact.email)  # the session timed out meanwhile
        web.post(reverse("email-change"), {"email": "later@victim.example", "password": PASSWORD})
    assert [m for m in mailoutbox if m.to == ["later@victim.example"]]
