"""Audit rows name the account they are about by id, never by address text (issue 12,
item 7): a contact who takes an address another account gave up never reads that account's
failed logins, and no security log ever shows another client's invoice."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from audit.models import AuditEvent, EventKind
from audit.services import audit_record
from clients.email_change import email_change_confirm, email_change_create
from tests.conftest import HttpsClient, logged_in
from tests.factories import PASSWORD, make_client, make_contact, make_invoice

pytestmark = pytest.mark.django_db

ATTACKER_IP = "203.0.113.66"


def _fail_login(email: str) -> None:
    HttpsClient().post(
        reverse("login"),
        {"username": email, "password": "wrong password"},
        REMOTE_ADDR=ATTACKER_IP,
        HTTP_USER_AGENT="VictimBrowser/9",
    )


def test_failed_logins_and_reset_requests_carry_the_accounts_id():
    contact = make_contact(email="ap@acme.example")
    _fail_login("AP@acme.example")
    HttpsClient().post(reverse("password_reset"), {"email": "ap@acme.example"})
    rows = AuditEvent.objects.filter(
        kind__in=[EventKind.LOGIN_FAILED, EventKind.PASSWORD_RESET_REQUESTED]
    )
    assert rows.count() == 2 and set(rows.values_list("subject", flat=True)) == {contact.pk}


def test_the_new_holder_of_an_old_address_never_reads_the_previous_holders_log():
    acme = make_client("Acme GmbH")
    victim = make_contact(acme, email="ap@acme.example")
    invoice = make_invoice(acme, number="ACME-SECRET-77")
    _fail_login(victim.email)
    audit_record(
        kind=EventKind.NOTIFICATION_FAILED,
        actor_email=victim.email,
        subject=victim,
        invoice=invoice,
    )
    change, _token = email_change_create(user=victim, new_email="moved@acme.example")
    email_change_confirm(user=victim, change=change)
    taker = make_contact(make_client("Rival Ltd"), email="ap@acme.example")
    html = logged_in(taker).get(reverse("account")).content.decode()
    assert ATTACKER_IP not in html and "VictimBrowser" not in html
    assert "ACME-SECRET-77" not in html and "Login failed" not in html
    victim.refresh_from_db()
    own = logged_in(victim).get(reverse("account")).content.decode()
    assert ATTACKER_IP in own and "ACME-SECRET-77" in own  # still in the right log


def test_no_security_log_shows_another_clients_invoice():
    contact = make_contact(email="ap@acme.example")
    rival_invoice = make_invoice(make_client("Rival Ltd"), number="RIVAL-SECRET-88")
    audit_record(kind=EventKind.DOWNLOAD_REFUSED, subject=contact, invoice=rival_invoice)
    audit_record(kind=EventKind.DOWNLOAD_REFUSED, actor=contact, invoice=rival_invoice)
    html = logged_in(contact).get(reverse("account")).content.decode()
    assert "RIVAL-SECRET-88" not in html


def test_the_backfill_attaches_old_rows_only_to_who_held_the_address_then():
    victim = make_contact(email="ap@acme.example")
    before = audit_record(kind=EventKind.LOGIN_FAILED, actor_email="ap@acme.example")
    change, _token = email_change_create(user=victim, new_email="moved@acme.example")
    email_change_confirm(user=victim, change=change)
    taker = make_contact(email="ap@acme.example")
    after = audit_record(kind=EventKind.LOGIN_FAILED, actor_email="ap@acme.example")
    moved = audit_record(kind=EventKind.LOGIN_FAILED, actor_email="moved@acme.example")
    backfill = importlib.import_module("audit.migrations.0005_event_subject_backfill")
    backfill.attach(apps, None)
    subjects = {
        row.pk: row.subject_id
        for row in AuditEvent.objects.filter(pk__in=[before.pk, after.pk, moved.pk])
    }
    # "before" was the victim's, under its old address: unknowable by text, left unattached
    # rather than handed to the address's next holder.
    assert subjects == {before.pk: None, after.pk: taker.pk, moved.pk: victim.pk}


def test_a_logged_in_contact_reads_its_own_failed_logins():
    contact = make_contact(email="ap@acme.example")
    _fail_login(contact.email)
    web = HttpsClient()
    web.post(reverse("login"), {"username": contact.email, "password": PASSWORD})
    assert ATTACKER_IP in web.get(reverse("account")).content.decode()
