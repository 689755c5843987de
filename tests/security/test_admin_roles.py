"""Staff roles that hold: every registered ModelAdmin, every action, every form, as each role.

The admin registry is walked (``admin.site._registry``), so an admin or an action added later
is tried here without anyone remembering to; one that nobody classified in ``MAY_ACT``,
``MAY_CHANGE``, ``MAY_DELETE`` or ``ADD_DATA`` fails ``test_every_admin_and_action_is_classified``.
For each role (owner, assistant, bookkeeper: clients/roles.py) and for a staff user who holds
every ``view_*`` permission and nothing else:

- the changelist offers exactly the actions the role may run;
- a forged POST of every other action, of every change form and every delete confirmation
  changes nothing in the database (every table is compared before and after);
- the owner's own POSTs do change the database, so the comparison above can fail, and each
  of the owner's writes leaves at least one audit row.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from business.services import profile_get
from clients.models import BackupCodeDevice, User
from clients.roles import ASSISTANT, BOOKKEEPER, OWNER, roles_setup
from clients.services import invitation_create
from invoices.models import IntegrityAlert, Invoice
from invoices.money import LineInput
from invoices.services import draft_create, invoice_issue, link_create
from notifications.services import enqueue_security_notice
from tests.conftest import logged_in_staff
from tests.factories import make_client, make_contact, make_invoice, make_staff, pdf_bytes

pytestmark = pytest.mark.django_db

VIEWER = "view-only"
ROLES = (OWNER, ASSISTANT, BOOKKEEPER, VIEWER)

# Who may run each action: (model label, action name) -> roles. Independent of the code's
# own declarations, so that a missing or wrong declaration fails here.
MAY_ACT: dict[tuple[str, str], set[str]] = {
    ("invoices.invoice", "issue"): {OWNER},
    ("invoices.invoice", "mark_paid_today"): {OWNER, BOOKKEEPER},
    ("invoices.invoice", "void"): {OWNER},
    ("invoices.invoice", "email_link"): {OWNER},
    ("invoices.invoice", "credit_note"): {OWNER},
    ("invoices.invoice", "delete_selected"): {OWNER, ASSISTANT},
    ("invoices.generatedinvoice", "issue"): {OWNER},
    ("invoices.generatedinvoice", "credit_note"): {OWNER},
    ("invoices.generatedinvoice", "delete_selected"): {OWNER, ASSISTANT},
    ("invoices.integrityalert", "recheck"): {OWNER},
    ("invoices.integrityalert", "acknowledge"): {OWNER},
    ("invoices.downloadlink", "revoke"): {OWNER},
    ("clients.contact", "send_invitation"): {OWNER},
    ("clients.contact", "email_invitation"): {OWNER, ASSISTANT},
    ("clients.contact", "send_password_reset"): {OWNER, ASSISTANT},
    ("clients.invitation", "revoke"): {OWNER},
    ("auth.group", "delete_selected"): {OWNER},
    ("clients.backupcodedevice", "delete_selected"): {OWNER},
}
# Who may save each admin's change form (of a draft, for invoices); absent: nobody.
MAY_CHANGE: dict[str, set[str]] = {
    "clients.client": {OWNER, ASSISTANT},
    "clients.contact": {OWNER, ASSISTANT},
    "clients.user": {OWNER},
    "auth.group": {OWNER},
    "invoices.invoice": {OWNER, ASSISTANT},
    "invoices.generatedinvoice": {OWNER, ASSISTANT},
    "business.businessprofile": {OWNER, ASSISTANT},
}
# Who may delete (drafts, for invoices); absent: nobody. Devices and lockouts have no bulk
# action: one at a time, from their own page.
MAY_DELETE: dict[str, set[str]] = {
    **{label: roles for (label, action), roles in MAY_ACT.items() if action == "delete_selected"},
    "otp_totp.totpdevice": {OWNER},
    "axes.accessattempt": {OWNER},
}
# What the owner types into each add form (the models the owner may add to).
ADD_DATA: dict[str, dict[str, object]] = {
    "clients.client": {"name": "Added Ltd", "billing_email": "ap@added.example"},
    "clients.contact": {"client": "{client}", "email": "added@acme.example"},
    "clients.user": {"email": "added-staff@example.test", "usable_password": "false"},
    "auth.group": {"name": "added role"},
    "invoices.invoice": {
        "client": "{client}",
        "number": "ADDED-1",
        "issue_date": "2026-11-01",
        "due_date": "2026-12-01",
        "total": "10.00",
        "currency": "EUR",
    },
    "invoices.generatedinvoice": {
        "client": "{client}",
        "issue_date": "2026-11-01",
        "due_date": "2026-12-01",
        "currency": "EUR",
    },
}
# Rows the requests themselves may write (the session), not part of the comparison.
NOT_COMPARED = {Session}


def _label(model) -> str:
    return model._meta.label_lower


def _snapshot() -> dict[str, list[tuple]]:
    return {
        _label(model): [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in model._base_manager.order_by("pk").values_list()
        ]
        for model in apps.get_models()
        if model not in NOT_COMPARED
    }


def _staff(role: str) -> User:
    user = make_staff(email=f"{role}@staff.example")
    User.objects.filter(pk=user.pk).update(is_superuser=False)
    user.refresh_from_db()
    if role == VIEWER:
        user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    else:
        user.groups.set([Group.objects.get(name=role)])
    return user


@pytest.fixture
def world(db):
    """One object of every model the admin shows, and a verified session for each role."""
    roles_setup()
    acme = make_client("Acme GmbH")
    contact = make_contact(acme, email="ap@acme.example")
    new = User.objects.create_user(email="new@acme.example", client=acme)
    invitation_create(user=new)
    issued = make_invoice(acme, number="INV-ISSUED")
    draft = make_invoice(acme, number="INV-DRAFT", issue=False)
    lines = [LineInput("Consulting", Decimal(2), Decimal("100.00"), Decimal(20))]
    generated = draft_create(client=acme, lines=lines, issue_date=dt.date(2026, 11, 1))
    invoice_issue(invoice=draft_create(client=acme, lines=lines, issue_date=dt.date(2026, 11, 2)))
    link_create(invoice=issued, ttl=dt.timedelta(days=3))
    IntegrityAlert.objects.create(invoice=issued)
    enqueue_security_notice(user=contact, what="a test", email=contact.email)
    profile_get()
    other_staff = make_staff(email="other@staff.example")
    TOTPDevice.objects.create(user=other_staff, name="phone", confirmed=True)
    BackupCodeDevice.objects.create(user=other_staff, name="codes", confirmed=True)
    Group.objects.create(name="spare role")
    AccessAttempt.objects.create(
        username="ap@acme.example", ip_address="192.0.2.1", failures_since_start=5
    )
    AccessLog.objects.create(username="ap@acme.example", ip_address="192.0.2.1")
    AccessFailureLog.objects.create(username="ap@acme.example", ip_address="192.0.2.1")
    sessions = {role: logged_in_staff(_staff(role)) for role in ROLES}
    return {
        "client": acme,
        "contact": contact,
        "new": new,
        "issued": issued,
        "draft": draft,
        "generated": generated,
        "sessions": sessions,
    }


def _sample(model, world) -> object:
    """The object a forged change or delete aims at: a draft where there are drafts."""
    label = _label(model)
    if label == "invoices.invoice":
        return world["draft"]
    if label == "invoices.generatedinvoice":
        return world["generated"]
    if label == "clients.contact":
        return world["new"]
    if label == "clients.user":
        return User.objects.get(email="other@staff.example")
    if label == "auth.group":
        return Group.objects.get(name="spare role")
    return model._default_manager.order_by("pk").first()


def _actions_of(model_admin, user) -> set[str]:
    request = RequestFactory().get("/")
    request.user = user
    return set(model_admin.get_actions(request))


def _offered(response) -> set[str]:
    if response.status_code != 200:
        return set()
    select = re.search(rb'<select name="action"[^>]*>(.*?)</select>', response.content, re.S)
    if select is None:
        return set()
    return {v.decode() for v in re.findall(rb'<option value="([^"]*)"', select.group(1))} - {""}


def _post_action(web, model, action: str, world):
    """Every object of the model selected; for a deletion the sample (a draft) alone, since
    Django refuses a whole selection in which one object may not be deleted."""
    if action == "delete_selected":
        pks = [str(_sample(model, world).pk)]
    else:
        pks = [str(pk) for pk in model._base_manager.values_list("pk", flat=True)]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return web.post(url, {"action": action, "_selected_action": pks, "post": "yes"})


def _forged_change(model_admin, obj, owner: User) -> dict[str, object]:
    """The change form as the owner would see it, with every text changed and every box
    flipped; plus empty inline formsets."""
    request = RequestFactory().get("/")
    request.user = owner
    form = model_admin.get_form(request, obj, change=True)(instance=obj)
    data: dict[str, object] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        kind = type(field).__name__
        if kind == "BooleanField":
            if not value:
                data[name] = "on"
        elif kind == "EmailField":
            data[name] = f"forged.{name}@evil.example"
        elif kind in ("CharField", "SlugField") and not getattr(field, "choices", None):
            data[name] = f"{value or ''}X"[: getattr(field, "max_length", None) or 100]
        elif kind == "SplitDateTimeField" and value:
            data[f"{name}_0"], data[f"{name}_1"] = f"{value:%Y-%m-%d}", f"{value:%H:%M:%S}"
        elif isinstance(value, dt.date):
            data[name] = str(value + dt.timedelta(days=1))
        elif isinstance(value, (list, tuple)):
            data[name] = [str(v) for v in value]
        elif value is not None and kind not in ("FileField", "ImageField"):
            data[name] = str(value)
    for inline in model_admin.get_inline_instances(request, obj):
        prefix = inline.get_formset(request, obj)(instance=obj).prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    if _label(type(obj)) == "business.businessprofile":
        data["iban"] = "DE89370400440532013000"
    return data


def _url(model, view: str, obj) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=[obj.pk])


def test_every_admin_and_action_is_classified(world):
    owner = User.objects.get(email=f"{OWNER}@staff.example")
    found = {
        (_label(model), action)
        for model, model_admin in admin.site._registry.items()
        for action in _actions_of(model_admin, owner)
    }
    assert found == set(MAY_ACT)
    request = RequestFactory().get("/")
    request.user = owner
    addable = {
        _label(model)
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_add_permission(request)
    }
    assert addable == set(ADD_DATA)


@pytest.mark.parametrize("role", ROLES)
def test_the_changelist_offers_only_the_actions_of_the_role(world, role):
    web = world["sessions"][role]
    for model in admin.site._registry:
        label = _label(model)
        offered = _offered(web.get(reverse(f"admin:{label.replace('.', '_')}_changelist")))
        expected = {a for (m, a), roles in MAY_ACT.items() if m == label and role in roles}
        assert offered == expected, (role, label)


@pytest.mark.parametrize("role", [ASSISTANT, BOOKKEEPER, VIEWER])
def test_a_forged_action_of_another_role_changes_nothing(world, role):
    web = world["sessions"][role]
    for model in admin.site._registry:
        for (label, action), roles in MAY_ACT.items():
            if label != _label(model) or role in roles:
                continue
            before = _snapshot()
            _post_action(web, model, action, world)
            assert _snapshot() == before, (role, label, action)


@pytest.mark.parametrize("role", [ASSISTANT, BOOKKEEPER, VIEWER])
def test_forged_change_and_delete_forms_change_nothing(world, role):
    web = world["sessions"][role]
    owner = User.objects.get(email=f"{OWNER}@staff.example")
    for model, model_admin in admin.site._registry.items():
        label, obj = _label(model), _sample(model, world)
        if role not in MAY_CHANGE.get(label, set()):
            data = _forged_change(model_admin, obj, owner)
            before = _snapshot()
            web.post(_url(model, "change", obj), data)
            assert _snapshot() == before, (role, label, "change")
        if role not in MAY_DELETE.get(label, set()):
            before = _snapshot()
            web.post(_url(model, "delete", obj), {"post": "yes"})
            assert _snapshot() == before, (role, label, "delete")


def test_the_assistant_cannot_change_the_bank_details(world):
    owner = User.objects.get(email=f"{OWNER}@staff.example")
    profile = profile_get()
    model_admin = admin.site._registry[type(profile)]
    data = _forged_change(model_admin, profile, owner)
    data["business_name"] = "Renamed by the assistant"
    world["sessions"][ASSISTANT].post(_url(type(profile), "change", profile), data)
    profile.refresh_from_db()
    assert profile.business_name == "Renamed by the assistant"  # the rest: allowed
    assert profile.iban == ""


def test_nobody_deletes_or_changes_an_issued_invoice(world):
    issued = world["issued"]
    for role in ROLES:
        web = world["sessions"][role]
        before = _snapshot()
        web.post(_url(Invoice, "delete", issued), {"post": "yes"})
        web.post(_url(Invoice, "change", issued), {"number": "FORGED", "total": "1.00"})
        assert _snapshot() == before, role


def _audited_write(web, post) -> tuple[bool, bool]:
    """Whether ``post`` wrote anything and whether it left an audit row; rolled back after,
    so that every write is tried on the same world."""
    with transaction.atomic():
        before, audit_before = _snapshot(), AuditEvent.objects.count()
        post(web)
        after = _snapshot()
        # Django's own LogEntry is written even for a save that changed nothing.
        changed = {k for k in before if before[k] != after[k]} - {"admin.logentry"}
        result = bool(changed), AuditEvent.objects.count() > audit_before
        transaction.set_rollback(True)
    return result


def test_the_owners_actions_write_and_every_write_is_audited(world):
    web = world["sessions"][OWNER]
    for label, action in MAY_ACT:
        model = apps.get_model(label)
        wrote, audited = _audited_write(
            web, lambda w, model=model, action=action: _post_action(w, model, action, world)
        )
        assert wrote and audited, (label, action, wrote, audited)


def test_the_owners_forms_write_and_every_write_is_audited(world):
    web = world["sessions"][OWNER]
    owner = User.objects.get(email=f"{OWNER}@staff.example")
    for label, fields in ADD_DATA.items():
        model = apps.get_model(label)
        data = {k: (world["client"].pk if v == "{client}" else v) for k, v in fields.items()}
        if label == "invoices.invoice":
            data["pdf"] = SimpleUploadedFile("i.pdf", pdf_bytes(), "application/pdf")
        url = reverse(f"admin:{label.replace('.', '_')}_add")
        inline_data = {}
        request = RequestFactory().get("/")
        request.user = owner
        for inline in admin.site._registry[model].get_inline_instances(request, None):
            prefix = inline.get_formset(request, None)().prefix
            inline_data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
        payload = {**data, **inline_data}
        wrote, audited = _audited_write(web, lambda w, url=url, p=payload: w.post(url, p))
        assert wrote and audited, (label, "add", wrote, audited)
    for label in MAY_CHANGE:
        model = apps.get_model(label)
        obj = _sample(model, world)
        data = _forged_change(admin.site._registry[model], obj, owner)
        url = _url(model, "change", obj)
        wrote, audited = _audited_write(web, lambda w, url=url, data=data: w.post(url, data))
        assert wrote and audited, (label, "change", wrote, audited)
    for label in MAY_DELETE:
        model = apps.get_model(label)
        obj = _sample(model, world)
        url = _url(model, "delete", obj)
        wrote, audited = _audited_write(web, lambda w, url=url: w.post(url, {"post": "yes"}))
        assert wrote and audited, (label, "delete", wrote, audited)


def test_a_draft_issued_meanwhile_is_not_deleted(world):
    """The admin's delete checks the status in the DELETE itself, not on its stale copy."""
    from invoices.admin import InvoiceAdmin

    draft = world["draft"]
    stale = Invoice.objects.get(pk=draft.pk)
    invoice_issue(invoice=draft)
    request = RequestFactory().post("/")
    request.user = User.objects.get(email=f"{OWNER}@staff.example")
    request._messages = type("M", (), {"add": lambda *a, **k: None})()
    InvoiceAdmin(Invoice, admin.site).delete_model(request, stale)
    assert Invoice.objects.filter(pk=draft.pk, status="issued").exists()


def test_a_staff_password_set_in_the_admin_is_audited(world):
    other = User.objects.get(email="other@staff.example")
    url = reverse("admin:auth_user_password_change", args=[other.pk])
    new = "another long passphrase 81"
    data = {"password1": new, "password2": new, "usable_password": "true"}
    wrote, audited = _audited_write(world["sessions"][OWNER], lambda w: w.post(url, data))
    assert wrote and audited
    for role in (ASSISTANT, BOOKKEEPER, VIEWER):
        before = _snapshot()
        world["sessions"][role].post(url, data)
        assert _snapshot() == before, role


OUR_PACKAGES = {
    "audit",
    "business",
    "clients",
    "core",
    "invoices",
    "notifications",
    "invoiceportal",
}
DJANGO_CHECKS = ("has_add_permission", "has_change_permission", "has_delete_permission")


def test_every_permission_override_narrows_djangos_answer():
    """An override that answers without asking ``super()`` may only ever say no."""
    import inspect
    import textwrap

    checked = 0
    for model_admin in admin.site._registry.values():
        for cls in (type(model_admin), *model_admin.inlines):
            for klass in cls.__mro__:
                if klass.__module__.split(".")[0] not in OUR_PACKAGES:
                    continue
                for name in (*DJANGO_CHECKS, "has_view_permission"):
                    method = klass.__dict__.get(name)
                    if method is None:
                        continue
                    checked += 1
                    body = textwrap.dedent(inspect.getsource(method))
                    answers = [a.split("#")[0].strip() for a in re.findall(r"return (.+)", body)]
                    assert "super()" in body or set(answers) == {"False"}, (klass, name)
    assert checked > 20


def test_the_assistant_cannot_put_payment_instructions_on_invoices(world):
    """The footer, email and phone are printed on every generated invoice with the bank
    details: "NEW BANK ACCOUNT: IBAN ..." in the footer is a bank change, the owner's."""
    owner = User.objects.get(email=f"{OWNER}@staff.example")
    profile = profile_get()
    data = _forged_change(admin.site._registry[type(profile)], profile, owner)
    data["footer_text"] = "NEW BANK ACCOUNT from 1 Dec: IBAN DE89 3704 0044 0532 0130 00"
    data["phone"] = "+49 30 1234567 (attacker)"
    data["email"] = "billing@attacker.example"
    world["sessions"][ASSISTANT].post(_url(type(profile), "change", profile), data)
    profile.refresh_from_db()
    assert "IBAN" not in profile.footer_text, "the assistant wrote payment instructions"
    assert "attacker" not in profile.phone + profile.email


def test_the_assistant_cannot_switch_off_a_clients_2fa_requirement(world):
    """Who needs a second factor, and who may log in at all, is the owner's decision."""
    from clients.models import Client

    acme = world["client"]
    Client.objects.filter(pk=acme.pk).update(requires_2fa=True, is_active=False)
    acme.refresh_from_db()
    owner = User.objects.get(email=f"{OWNER}@staff.example")
    data = _forged_change(admin.site._registry[Client], acme, owner)
    data.pop("requires_2fa", None)  # the box unticked
    data["is_active"] = "on"
    data["name"], data["billing_email"] = acme.name, acme.billing_email
    world["sessions"][ASSISTANT].post(_url(Client, "change", acme), data)
    acme.refresh_from_db()
    assert acme.requires_2fa, "the assistant switched off the client's 2FA requirement"
    assert not acme.is_active, "the assistant re-activated a client the owner cut off"


def test_the_assistant_cannot_reactivate_a_contact_the_owner_deactivated(world):
    from clients.models import Contact

    contact = world["contact"]
    User.objects.filter(pk=contact.pk).update(is_active=False)
    owner = User.objects.get(email=f"{OWNER}@staff.example")
    obj = Contact.objects.get(pk=contact.pk)
    data = _forged_change(admin.site._registry[Contact], obj, owner)
    data["is_active"] = "on"
    world["sessions"][ASSISTANT].post(_url(Contact, "change", obj), data)
    assert not User.objects.get(pk=contact.pk).is_active


def test_the_owner_decides_access_and_the_service_refuses_the_assistant(world):
    from django.core.exceptions import PermissionDenied

    from clients.services import client_save, contact_update

    acme, contact = world["client"], world["contact"]
    assistant = User.objects.get(email=f"{ASSISTANT}@staff.example")
    owner = User.objects.get(email=f"{OWNER}@staff.example")
    acme.requires_2fa = True
    with pytest.raises(PermissionDenied):
        client_save(actor=assistant, client=acme, changed=["requires_2fa"])
    with pytest.raises(PermissionDenied):
        contact_update(actor=assistant, contact=contact, changes={"is_active": False})
    client_save(actor=owner, client=acme, changed=["requires_2fa"])
    contact_update(actor=owner, contact=contact, changes={"is_active": False})
    acme.refresh_from_db()
    assert acme.requires_2fa and not User.objects.get(pk=contact.pk).is_active


def test_role_and_staff_audit_rows_name_the_groups_and_permissions_changed(world):
    """ "groups" alone does not tell the evidence reader who got which rights."""
    from audit.models import EventKind

    web, owner = world["sessions"][OWNER], User.objects.get(email=f"{OWNER}@staff.example")
    other = User.objects.get(email="other@staff.example")
    other.groups.set([Group.objects.get(name=BOOKKEEPER)])
    data = _forged_change(admin.site._registry[User], other, owner)
    data["groups"] = [str(Group.objects.get(name=ASSISTANT).pk)]
    assert web.post(_url(User, "change", other), data).status_code == 302
    event = AuditEvent.objects.filter(kind=EventKind.STAFF_USER_CHANGED).latest("id")
    assert f"groups +{ASSISTANT} -{BOOKKEEPER}" in event.detail, event.detail
    assert event.subject == other
    spare = Group.objects.get(name="spare role")
    granted = Permission.objects.get(codename="mark_invoice_paid")
    data = {"name": spare.name, "permissions": [str(granted.pk)]}
    assert web.post(_url(Group, "change", spare), data).status_code == 302
    event = AuditEvent.objects.filter(kind=EventKind.ROLE_CHANGED).latest("id")
    assert "permissions +invoices.mark_invoice_paid" in event.detail, event.detail
