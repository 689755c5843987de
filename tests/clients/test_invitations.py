"""Invitations: a contact chooses its own password once, through an expiring link."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, EventKind
from clients.models import Invitation, User
from clients.services import invitation_create
from tests.conftest import HttpsClient, logged_in_staff
from tests.factories import make_client, make_staff

pytestmark = pytest.mark.django_db

GOOD = "a long and unusual passphrase 7"


@pytest.fixture
def invitee():
    client = make_client("Acme GmbH")
    return User.objects.create_user(email="ap@acme.example", client=client)


def _invite(user, **kwargs):
    invitation, token = invitation_create(user=user, **kwargs)
    return invitation, reverse("invitation", args=[token])


def _accept(web, url, password=GOOD, repeat=None):
    return web.post(url, {"password1": password, "password2": repeat or password})


def test_contact_chooses_password_and_is_logged_in(invitee):
    _inv, url = _invite(invitee)
    web = HttpsClient()
    page = web.get(url)
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "strict-origin"
    assert b"ap@acme.example" in page.content
    response = _accept(web, url)
    assert response.status_code == 302
    assert response["Location"] == reverse("invoice-list")
    assert web.get(reverse("invoice-list")).status_code == 200
    invitee.refresh_from_db()
    assert invitee.check_password(GOOD)
    assert AuditEvent.objects.filter(kind=EventKind.INVITATION_USED, actor=invitee).count() == 1


def test_invitation_works_only_once(invitee):
    _inv, url = _invite(invitee)
    assert _accept(HttpsClient(), url).status_code == 302
    again = HttpsClient().get(url)
    assert again.status_code == 404
    assert b"This invitation link is not valid" in again.content
    second_post = _accept(HttpsClient(), url, password="another passphrase 99")
    assert second_post.status_code == 404
    invitee.refresh_from_db()
    assert invitee.check_password(GOOD)


def test_expired_invitation_gives_a_clear_page(invitee):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _inv, url = _invite(invitee, ttl=dt.timedelta(days=7))
    with time_machine.travel(start + dt.timedelta(days=7, seconds=1), tick=False):
        response = HttpsClient().get(url)
        assert response.status_code == 404
        assert b"may have expired" in response.content
        assert _accept(HttpsClient(), url).status_code == 404
    invitee.refresh_from_db()
    assert not invitee.has_usable_password()


def test_new_invitation_revokes_the_old_one(invitee):
    _old, old_url = _invite(invitee)
    _new, new_url = _invite(invitee)
    assert HttpsClient().get(old_url).status_code == 404
    assert HttpsClient().get(new_url).status_code == 200


@pytest.mark.parametrize(
    ("password", "repeat", "message"),
    [
        ("short pw 1", None, b"too short"),
        ("password1234", None, b"too common"),
        ("7364528193746", None, b"entirely numeric"),
        ("a long and unusual passphrase 7", "a different passphrase 8", b"differ"),
    ],
)
def test_weak_or_mismatched_passwords_are_refused(invitee, password, repeat, message):
    _inv, url = _invite(invitee)
    response = _accept(HttpsClient(), url, password=password, repeat=repeat)
    assert response.status_code == 200
    assert message in response.content
    invitee.refresh_from_db()
    assert not invitee.has_usable_password()
    assert Invitation.objects.get(user=invitee).used_at is None


def test_64_character_password_is_accepted(invitee):
    _inv, url = _invite(invitee)
    password = "correct horse battery staple " * 3
    assert len(password) > 64
    assert _accept(HttpsClient(), url, password=password).status_code == 302


def test_invitation_digest_only(invitee):
    invitation, url = _invite(invitee)
    token = url.rstrip("/").rsplit("/", 1)[-1]
    assert token not in invitation.token_digest
    assert len(invitation.token_digest) == 64


def test_garbage_tokens_give_the_same_page(invitee):
    _invite(invitee)
    for junk in ["x", "A" * 43, "A" * 500, "%00abc"]:
        response = HttpsClient().get(f"/invite/{junk}/")
        assert response.status_code == 404
        assert b"This invitation link is not valid" in response.content


def test_staff_cannot_be_invited():
    from clients.services import ClientError

    with pytest.raises(ClientError):
        invitation_create(user=make_staff())


def test_admin_adds_contact_and_shows_invitation_once():
    client = make_client("Admin Made Ltd")
    web = logged_in_staff()
    response = web.post(
        reverse("admin:clients_contact_add"),
        {
            "client": client.pk,
            "email": "Pay@AdminMade.example",
            "first_name": "Pat",
            "last_name": "Payer",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    contact = User.objects.get(email="pay@adminmade.example")
    assert contact.client == client
    assert not contact.has_usable_password()
    urls = re.findall(r'value="(https://[^"]+/invite/[^"]+)"', response.content.decode())
    assert len(urls) == 1
    url = urls[0]
    # never in the messages framework, whose cookie is readable
    assert all("/invite/" not in str(m) for m in response.context["messages"])
    assert "/invite/" not in str(response.cookies.get("messages", ""))
    path = "/" + url.split("/", 3)[3]
    assert HttpsClient().get(path).status_code == 200
    # a reload of the contact page does not show it again
    again = web.get(reverse("admin:clients_contact_change", args=[contact.pk]))
    assert b"/invite/" not in again.content


def test_an_invitation_dies_when_staff_change_the_contacts_address():
    """An invitation already emailed to a wrong (mistyped, former holder's) address must not
    set the password of the account that now logs in with the corrected address."""
    from clients.services import contact_update

    contact = User.objects.create_user(email="ap@acme-typo.example", client=make_client("Acme"))
    invitation, token = invitation_create(user=contact)
    contact_update(actor=make_staff(), contact=contact, changes={"email": "ap@acme.example"})
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None, "the invitation to the old address still works"
    event = AuditEvent.objects.filter(kind=EventKind.INVITATION_REVOKED).latest("id")
    assert "ap@acme-typo.example" in event.detail and event.actor is not None
    assert HttpsClient().get(reverse("invitation", args=[token])).status_code == 404
