"""The business profile: bank details changes are audited and announced to clients."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from audit.models import AuditEvent, EventKind
from business.services import profile_get
from tests.conftest import logged_in, logged_in_staff
from tests.factories import make_contact, make_invoice, pdf_bytes

pytestmark = pytest.mark.django_db


def _form(profile, **changes):
    data = {
        "business_name": profile.business_name,
        "address": "Street 1\nBerlin",
        "tax_id": "DE1",
        "email": "",
        "phone": "+49 30 1234567",
        "footer_text": "",
        "default_currency": "EUR",
        "payment_terms_days": "30",
        "number_pattern": "INV-{year}-{seq:04}",
        "credit_note_pattern": "CN-{year}-{seq:04}",
        "account_holder": "Jo",
        "iban": "DE89 3704 0044 0532 0130 00",
        "bic": "COBADEFFXXX",
        "account_number": "",
        "payment_reference_pattern": "{number}",
    }
    data.update(changes)
    return data


def _save(staff, **changes):
    profile = profile_get()
    return staff.post(
        reverse("admin:business_businessprofile_change", args=[profile.pk]),
        _form(profile, **changes),
    )


def test_first_setup_is_not_announced_but_a_change_is_audited_and_shown_for_90_days():
    staff = logged_in_staff()
    contact = make_contact()
    invoice = make_invoice(contact.client)
    assert _save(staff).status_code == 302
    assert profile_get().bank_details_changed_at is None
    assert b"bank details changed" not in logged_in(contact).get(reverse("invoice-list")).content
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        assert _save(staff, iban="GB33 BUKB 2020 1555 5555 55").status_code == 302
    events = AuditEvent.objects.filter(kind=EventKind.BANK_DETAILS_CHANGED).order_by("id")
    assert events.count() == 2  # the first setup is audited too, just not announced
    assert events.last().detail == "changed: iban" and events.last().actor is not None
    with time_machine.travel(start + dt.timedelta(days=89), tick=False):
        for url in [reverse("invoice-list"), reverse("invoice-detail", args=[invoice.public_id])]:
            html = logged_in(contact).get(url).content.decode()
            assert f"Our bank details changed on {start:%Y-%m-%d}" in html
            assert "confirm the new details with us by phone" in html
    with time_machine.travel(start + dt.timedelta(days=91), tick=False):
        assert (
            b"bank details changed" not in logged_in(contact).get(reverse("invoice-list")).content
        )


def test_unpaid_invoice_page_shows_the_current_details_and_their_date():
    staff = logged_in_staff()
    _save(staff)
    _save(staff, bic="DEUTDEFFXXX")
    contact = make_contact()
    invoice = make_invoice(contact.client)
    html = (
        logged_in(contact).get(reverse("invoice-detail", args=[invoice.public_id])).content.decode()
    )
    assert "DEUTDEFFXXX" in html and "they last changed on" in html
    assert "Never trust bank details that reach you by email alone" in html


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("INV-{year}", "needs {seq}"),
        ("INV-{seq:04", "cannot be filled"),
        ("{foo}-{seq}", "cannot be filled"),
        ("IN V {seq}", "letters, digits"),
    ],
)
def test_bad_number_patterns_are_refused(pattern, message):
    response = _save(logged_in_staff(), number_pattern=pattern)
    assert response.status_code == 200
    assert message.encode() in response.content


def _png(size=(40, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "navy").save(out, "PNG")
    return out.getvalue()


def test_logo_must_be_a_real_png_or_jpeg_under_the_cap():
    staff = logged_in_staff()
    profile = profile_get()
    url = reverse("admin:business_businessprofile_change", args=[profile.pk])
    fake = staff.post(
        url, {**_form(profile), "logo_upload": SimpleUploadedFile("logo.png", pdf_bytes())}
    )
    assert b"not a readable PNG or JPEG" in fake.content
    big = staff.post(
        url,
        {
            **_form(profile),
            "logo_upload": SimpleUploadedFile("logo.png", b"\x89PNG" + b"0" * 600_000),
        },
    )
    assert b"larger than 512 KiB" in big.content
    good = staff.post(
        url, {**_form(profile), "logo_upload": SimpleUploadedFile("logo.png", _png())}
    )
    assert good.status_code == 302
    assert profile_get().logo_type == "png"


def test_a_number_pattern_cannot_use_the_number_itself():
    response = _save(logged_in_staff(), number_pattern="INV-{number}-{seq}")
    assert response.status_code == 200
    assert b"cannot be filled" in response.content


@pytest.mark.parametrize(
    "changes",
    [
        {"footer_text": "NEW BANK ACCOUNT from 1 Dec: IBAN GB33 BUKB 2020 1555 5555 55"},
        {"email": "billing@attacker.example"},
        {"phone": "+44 20 7946 0000"},
    ],
)
def test_payment_instructions_in_the_footer_email_or_phone_are_a_bank_change(changes):
    """Printed on every invoice with the bank details (invoices/services/generation.py):
    stamped, announced and audited like a new IBAN."""
    staff = logged_in_staff()
    assert _save(staff).status_code == 302
    assert profile_get().bank_details_changed_at is None
    assert _save(staff, **changes).status_code == 302
    assert profile_get().bank_details_changed_at is not None
    event = AuditEvent.objects.filter(kind=EventKind.BANK_DETAILS_CHANGED).latest("id")
    assert event.detail == f"changed: {next(iter(changes))}"


def test_the_service_refuses_a_footer_change_without_the_bank_permission():
    from django.contrib.auth.models import Permission
    from django.core.exceptions import PermissionDenied

    from business.services import profile_save
    from tests.factories import make_staff

    assistant = make_staff(email="assistant@staff.example")
    assistant.is_superuser = False
    assistant.save()
    assistant.user_permissions.set(
        Permission.objects.filter(codename__in=["change_businessprofile", "view_businessprofile"])
    )
    from clients.models import User

    assistant = User.objects.get(pk=assistant.pk)  # no cached permissions
    profile = profile_get()
    for field, value in [("footer_text", "pay to IBAN X"), ("email", "x@evil.example")]:
        setattr(profile, field, value)
        with pytest.raises(PermissionDenied):
            profile_save(profile=profile, by=assistant)
        profile = profile_get()
    profile.business_name = "Renamed"
    profile_save(profile=profile, by=assistant)  # the rest of the profile: allowed
    assert profile_get().business_name == "Renamed" and profile_get().footer_text == ""
