"""`manage.py invite_client`: creates a client, its first contact and an invitation URL."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from clients.models import Client, Invitation, User
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("invite_client", *args, stdout=out)
    return out.getvalue()


def test_creates_client_contact_and_a_working_invitation(settings):
    settings.BASE_URL = "https://portal.example"
    output = _run("--name", "Acme GmbH", "--email", "AP@acme.example")
    url = output.strip().splitlines()[-1]
    assert url.startswith("https://portal.example/invite/")
    contact = User.objects.get(email="ap@acme.example")
    assert contact.client.name == "Acme GmbH"
    assert not contact.has_usable_password()
    page = HttpsClient().get(url.removeprefix("https://portal.example"))
    assert page.status_code == 200


def test_expiry_defaults_to_seven_days():
    _run("--name", "Acme GmbH", "--email", "ap@acme.example")
    invitation = Invitation.objects.get()
    assert (invitation.expires_at - invitation.created_at).days == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "Acme GmbH", "--email", "not-an-email"], "not a valid email"),
        (["--name", "  ", "--email", "ap@acme.example"], "needs a name"),
        (
            ["--name", "Acme GmbH", "--email", "ap@acme.example", "--expires-days", "0"],
            "between 1 and 60",
        ),
    ],
)
def test_bad_input_stores_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)
    assert Client.objects.count() == 0
    assert User.objects.count() == 0


def test_existing_email_or_client_is_refused_and_nothing_added():
    _run("--name", "Acme GmbH", "--email", "ap@acme.example")
    with pytest.raises(CommandError, match="already exists"):
        _run("--name", "Other AG", "--email", "ap@acme.example")
    with pytest.raises(CommandError, match="already exists"):
        _run("--name", "Acme GmbH", "--email", "new@acme.example")
    assert Client.objects.count() == 1
    assert User.objects.count() == 1
