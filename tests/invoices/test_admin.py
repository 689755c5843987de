"""The consultant's admin: links for email, revocation, invoice state changes, body limit."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent, EventKind
from clients.models import Invitation, User
from clients.services import invitation_create
from invoices.models import DownloadLink, Invoice, InvoiceStatus
from tests.conftest import logged_in, logged_in_staff
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def _action(web, model: str, action: str, pks):
    return web.post(
        reverse(f"admin:{model}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


def test_email_link_is_shown_once_and_still_needs_the_owners_login(owner_setup):
    staff = logged_in_staff()
    invoice = owner_setup["invoice"]
    response = _action(staff, "invoices_invoice", "email_link", [invoice.pk])
    urls = re.findall(r'value="(https://[^"]+/d/[^"]+)"', response.content.decode())
    assert len(urls) == 1
    assert all("/d/" not in str(m) for m in get_messages(response.wsgi_request))
    path = "/" + urls[0].split("/", 3)[3]
    link = DownloadLink.objects.get(invoice=invoice)
    assert (link.expires_at - link.created_at).days == 14
    assert logged_in(owner_setup["stranger"]).get(path).status_code == 404
    assert logged_in(owner_setup["owner"]).get(path).status_code == 200
    # the admin never shows the token again
    page = staff.get(reverse("admin:invoices_downloadlink_change", args=[link.pk]))
    assert path.split("/")[2].encode() not in page.content


def test_admin_revokes_a_link(owner_setup):
    from datetime import timedelta

    from invoices.services import link_create

    link, token = link_create(invoice=owner_setup["invoice"], ttl=timedelta(days=3))
    staff = logged_in_staff()
    _action(staff, "invoices_downloadlink", "revoke", [link.pk])
    link.refresh_from_db()
    assert link.revoked_at is not None
    assert logged_in(owner_setup["owner"]).get(reverse("download", args=[token])).status_code == 404
    assert AuditEvent.objects.filter(kind=EventKind.LINK_REVOKED, link=link).count() == 1


def test_admin_marks_paid_and_voids(owner_setup):
    staff = logged_in_staff()
    invoice = owner_setup["invoice"]
    _action(staff, "invoices_invoice", "mark_paid_today", [invoice.pk])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.paid_on is not None
    response = _action(staff, "invoices_invoice", "void", [invoice.pk])
    assert b"cannot be voided" in response.content
    other = owner_setup["rival_invoice"]
    _action(staff, "invoices_invoice", "void", [other.pk])
    other.refresh_from_db()
    assert other.status == InvoiceStatus.VOID


def test_issued_invoice_cannot_be_edited_or_deleted(owner_setup):
    staff = logged_in_staff()
    invoice = owner_setup["invoice"]
    staff.post(
        reverse("admin:invoices_invoice_change", args=[invoice.pk]),
        {"number": "CHANGED", "total": "1.00"},
    )
    invoice.refresh_from_db()
    assert invoice.number == "INV-2026-001"
    assert (
        staff.post(
            reverse("admin:invoices_invoice_delete", args=[invoice.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Invoice.objects.filter(pk=invoice.pk).exists()


def test_admin_lists_downloads_per_invoice(owner_setup):
    owner = logged_in(owner_setup["owner"])
    location = owner.post(
        reverse("invoice-download-link", args=[owner_setup["invoice"].public_id])
    )["Location"]
    owner.get(location)
    page = logged_in_staff().get(
        reverse("admin:invoices_invoice_change", args=[owner_setup["invoice"].pk])
    )
    assert b"ap@acme.example" in page.content
    assert b"Download" in page.content


def test_audit_trail_is_read_only_in_the_admin(owner_setup):
    staff = logged_in_staff()
    event = AuditEvent.objects.first()
    assert staff.get(reverse("admin:audit_auditevent_changelist")).status_code == 200
    assert (
        staff.post(
            reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    with pytest.raises(PermissionError):
        event.delete()
    event.detail = "rewritten"
    with pytest.raises(PermissionError):
        event.save()


def test_revoking_an_invitation_in_the_admin_is_audited():
    contact = User.objects.create_user(email="x@acme.example", client=make_client())
    invitation, _token = invitation_create(user=contact)
    _action(logged_in_staff(), "clients_invitation", "revoke", [invitation.pk])
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None
    assert AuditEvent.objects.filter(kind=EventKind.INVITATION_REVOKED).count() == 1


def test_contact_cannot_be_moved_to_another_client(owner_setup):
    staff = logged_in_staff()
    owner = owner_setup["owner"]
    staff.post(
        reverse("admin:clients_contact_change", args=[owner.pk]),
        {"client": owner_setup["rival"].pk, "email": owner.email, "is_active": "on"},
    )
    owner.refresh_from_db()
    assert owner.client == owner_setup["client"]


def test_oversized_body_is_refused_before_the_form_reads_it(settings, private_dir):
    settings.MAX_UPLOAD_BYTES = 1024
    staff = logged_in_staff()
    big = SimpleUploadedFile("big.pdf", b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024))
    response = staff.post(reverse("admin:invoices_invoice_add"), {"number": "BIG-1", "pdf": big})
    assert response.status_code == 413
    assert b"Upload too large" in response.content
    assert Invoice.objects.count() == 0
    assert not private_dir.exists() or list(private_dir.iterdir()) == []


def test_admin_refuses_an_email_that_differs_only_in_case(owner_setup):
    staff = logged_in_staff()
    response = staff.post(
        reverse("admin:clients_contact_add"),
        {"client": owner_setup["client"].pk, "email": "AP@ACME.example"},
    )
    assert response.status_code == 200
    assert b"already exists" in response.content
    # A contact not yet activated (no password): staff may still correct its address.
    other = User.objects.create_user(email="new@rival.example", client=owner_setup["rival"])
    change = staff.post(
        reverse("admin:clients_contact_change", args=[other.pk]),
        {"email": "Ap@Acme.Example", "is_active": "on"},
    )
    assert change.status_code == 200
    assert b"already exists" in change.content
    other.refresh_from_db()
    assert other.email == "new@rival.example"


def test_staff_cannot_redirect_the_address_of_a_contact_with_a_password(owner_setup):
    """A reset goes to the contact's address: staff changing it first would take over."""
    stranger = owner_setup["stranger"]
    response = logged_in_staff().post(
        reverse("admin:clients_contact_change", args=[stranger.pk]),
        {"email": "intruder@evil.example", "is_active": "on"},
    )
    assert response.status_code == 302
    stranger.refresh_from_db()
    assert stranger.email == "ap@rival.example"


def test_admin_contact_needs_a_client():
    response = logged_in_staff().post(
        reverse("admin:clients_contact_add"), {"email": "x@y.example"}
    )
    assert response.status_code == 200
    assert not User.objects.filter(email="x@y.example").exists()


def test_deactivation_revokes_open_invitations_for_good():
    client = make_client()
    contact = User.objects.create_user(email="leaver@acme.example", client=client)
    _invitation, token = invitation_create(user=contact)
    url = reverse("invitation", args=[token])
    contact.is_active = False
    contact.save()
    contact.is_active = True
    contact.save()
    assert logged_in_staff().get(url).status_code == 404  # any session: the link is dead
    other = User.objects.create_user(email="other@acme.example", client=client)
    _invitation, token = invitation_create(user=other)
    client.is_active = False
    client.save()
    client.is_active = True
    client.save()
    from tests.conftest import HttpsClient

    assert HttpsClient().get(reverse("invitation", args=[token])).status_code == 404


def test_staff_who_may_only_view_alerts_cannot_silence_them(owner_setup):
    """Closing an integrity alert takes the right to change invoices; a staff user with
    view rights alone sees the alert but neither action, and a forged POST closes nothing."""
    from django.contrib.auth.models import Permission

    from invoices.models import IntegrityAlert

    alert = IntegrityAlert.objects.create(invoice=owner_setup["invoice"])
    viewer = User.objects.create_user(
        email="viewer@example.test", password="a long enough password 1", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_integrityalert"))
    web = logged_in_staff(viewer)
    changelist = reverse("admin:invoices_integrityalert_changelist")
    page = web.get(changelist)
    assert page.status_code == 200
    assert owner_setup["invoice"].number in page.content.decode()
    assert 'value="acknowledge"' not in page.content.decode()
    for action in ("acknowledge", "recheck"):
        web.post(changelist, {"action": action, "_selected_action": [alert.pk]}, follow=True)
    alert.refresh_from_db()
    assert alert.resolved_at is None
    assert not AuditEvent.objects.filter(kind=EventKind.INTEGRITY_RESOLVED).exists()

    owner_of_invoices = logged_in_staff()  # a superuser: may change invoices
    assert 'value="acknowledge"' in owner_of_invoices.get(changelist).content.decode()
    owner_of_invoices.post(changelist, {"action": "acknowledge", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.resolved_at is not None
