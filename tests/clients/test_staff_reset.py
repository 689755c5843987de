"""An invitation never replaces a password: whoever already has one gets a reset at their own
address, with their sessions and links ended, and is told."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent, EventKind
from clients.models import Invitation, User
from clients.services import ClientError, contact_password_reset_send, invitation_create
from invoices.models import DownloadLink
from invoices.services import link_create
from tests.conftest import HttpsClient, logged_in, logged_in_staff
from tests.factories import PASSWORD, make_client, make_contact, make_invoice

pytestmark = pytest.mark.django_db

GOOD = "a long and unusual passphrase 7"


@pytest.fixture
def acme():
    return make_client("Acme GmbH")


@pytest.fixture
def holder(acme):
    """A contact who chose a password long ago."""
    return make_contact(acme, email="ap@acme.example")


def _action(web, action: str, pks):
    return web.post(
        reverse("admin:clients_contact_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


def test_an_invitation_for_a_contact_with_a_password_is_refused(holder):
    with pytest.raises(ClientError, match="password reset"):
        invitation_create(user=holder)
    assert not Invitation.objects.filter(user=holder).exists()


def test_reinviting_a_contact_with_a_password_in_the_admin_shows_no_link(holder):
    response = _action(logged_in_staff(), "send_invitation", [holder.pk])
    assert b"/invite/" not in response.content and b"password reset" in response.content
    assert not Invitation.objects.filter(user=holder).exists()
    holder.refresh_from_db()
    assert holder.check_password(PASSWORD)


def test_a_contact_who_once_logged_in_is_not_invited_even_without_a_usable_password(holder):
    holder.set_unusable_password()
    holder.last_login = holder.date_joined
    holder.save()
    with pytest.raises(ClientError):
        invitation_create(user=holder)


def test_emailing_invitations_skips_contacts_with_a_password(holder, acme, mailoutbox):
    new = User.objects.create_user(email="new@acme.example", client=acme)
    _action(logged_in_staff(), "email_invitation", [holder.pk, new.pk])
    assert [m.to for m in mailoutbox] == [[new.email]]


def test_an_invitation_dies_when_the_contact_sets_a_password_meanwhile(acme):
    new = User.objects.create_user(email="new@acme.example", client=acme)
    _invitation, token = invitation_create(user=new)
    url = reverse("invitation", args=[token])
    new.set_password(GOOD)  # e.g. through an earlier invitation or a reset
    new.save()
    web = HttpsClient()
    assert web.get(url).status_code == 404
    response = web.post(
        url, {"password1": "another passphrase 9 x", "password2": "another passphrase 9 x"}
    )
    assert response.status_code == 404
    new.refresh_from_db()
    assert new.check_password(GOOD)


def test_staff_reset_goes_to_the_contacts_address_ends_sessions_and_links(
    holder, mailoutbox, django_capture_on_commit_callbacks
):
    invoice = make_invoice(holder.client)
    link, _token = link_create(invoice=invoice, ttl=dt.timedelta(days=3), by=holder)
    session = logged_in(holder)
    assert session.get(reverse("invoice-list")).status_code == 200
    staff = logged_in_staff()
    with django_capture_on_commit_callbacks(execute=True):
        response = _action(staff, "send_password_reset", [holder.pk])
    assert response.status_code == 200
    # the reset link goes to the contact, never onto the staff user's page
    assert b"/accounts/reset/" not in response.content
    to_holder = [m for m in mailoutbox if m.to == [holder.email]]
    assert len(to_holder) == 2  # the reset link and the security notice
    links = [re.search(r"https://\S+/accounts/reset/\S+/", m.body) for m in to_holder]
    assert sum(bool(found) for found in links) == 1
    assert session.get(reverse("invoice-list")).status_code == 302  # logged out
    link.refresh_from_db()
    assert link.revoked_at is not None
    assert AuditEvent.objects.filter(kind=EventKind.LINK_REVOKED, link=link).exists()
    assert AuditEvent.objects.filter(
        kind=EventKind.PASSWORD_RESET_BY_STAFF, client=holder.client, subject=holder
    ).exists()  # subject: the contact's own security log shows it
    holder.refresh_from_db()
    assert holder.check_password(PASSWORD)  # theirs until they choose a new one


def test_staff_reset_for_a_contact_without_a_password_is_refused(acme):
    new = User.objects.create_user(email="new@acme.example", client=acme)
    with pytest.raises(ClientError, match="invitation"):
        contact_password_reset_send(actor=None, contact=new)


def test_a_password_reset_revokes_the_users_links_with_an_audit_row(holder):
    from django.test import RequestFactory

    from clients.account_services import password_reset_done

    invoice = make_invoice(holder.client)
    link, _token = link_create(invoice=invoice, ttl=dt.timedelta(days=3), by=holder)
    request = RequestFactory().post("/")
    request.user = holder
    password_reset_done(user=holder, request=request)
    assert DownloadLink.objects.get(pk=link.pk).revoked_at is not None
    assert AuditEvent.objects.filter(kind=EventKind.LINK_REVOKED, link=link).count() == 1


def test_setup_roles_is_idempotent_and_repairs_the_groups(capsys):
    from django.contrib.auth.models import Group, Permission

    call_command("setup_roles")
    bookkeeper = Group.objects.get(name="bookkeeper")
    bookkeeper.permissions.add(Permission.objects.get(codename="issue_invoice"))
    call_command("setup_roles")
    assert not bookkeeper.permissions.filter(codename="issue_invoice").exists()
    assert Group.objects.filter(name__in=["owner", "assistant", "bookkeeper"]).count() == 3
    assert "bookkeeper" in capsys.readouterr().out


def test_an_assistant_uploads_drafts_only(acme):
    from django.contrib.auth.models import Group
    from django.core.files.uploadedfile import SimpleUploadedFile

    from invoices.models import Invoice
    from tests.factories import make_staff, pdf_bytes

    call_command("setup_roles")
    assistant = make_staff(email="assistant@staff.example")
    User.objects.filter(pk=assistant.pk).update(is_superuser=False)
    assistant.refresh_from_db()
    assistant.groups.set([Group.objects.get(name="assistant")])
    logged_in_staff(assistant).post(
        reverse("admin:invoices_invoice_add"),
        {
            "client": acme.pk,
            "number": "UP-1",
            "issue_date": "2026-11-01",
            "due_date": "2026-12-01",
            "total": "10.00",
            "currency": "EUR",
            "pdf": SimpleUploadedFile("i.pdf", pdf_bytes(), "application/pdf"),
            "issue_now": "on",  # forged: the form does not offer it to an assistant
        },
    )
    assert Invoice.objects.get(number="UP-1").status == "draft"


def test_a_queued_invitation_for_a_contact_who_set_a_password_meanwhile_is_dropped(
    acme, mailoutbox
):
    from notifications.models import Notification
    from notifications.services import enqueue_invitation, send_due

    new = User.objects.create_user(email="new@acme.example", client=acme)
    note = enqueue_invitation(contact=new)
    new.set_password(GOOD)
    new.save()
    report = send_due()
    assert (report.sent, report.failed) == (0, 1)
    assert Notification.objects.get(pk=note.pk).status == "failed"
    assert mailoutbox == []
