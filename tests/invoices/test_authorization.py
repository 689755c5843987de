"""Every client-facing URL as anonymous, as another client's contact, as staff and as the
owner. Only the owner gets data; the wrong ones get a 404 identical to an unknown id's."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from invoices.tokens import link_mint
from tests.conftest import HttpsClient, logged_in, logged_in_staff

pytestmark = pytest.mark.django_db


def _routes(invoice):
    return {
        "detail": ("get", reverse("invoice-detail", args=[invoice.public_id])),
        "download-button": ("post", reverse("invoice-download-link", args=[invoice.public_id])),
    }


def _fresh_link(invoice) -> str:
    from datetime import timedelta

    _link, token = link_mint(invoice=invoice, ttl=timedelta(minutes=5))
    return reverse("download", args=[token])


@pytest.mark.parametrize("route", ["detail", "download-button"])
def test_anonymous_is_sent_to_login(owner_setup, route):
    method, url = _routes(owner_setup["invoice"])[route]
    response = getattr(HttpsClient(), method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_anonymous_download_link_goes_to_login_and_back(owner_setup):
    url = _fresh_link(owner_setup["invoice"])
    response = HttpsClient().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_anonymous_history_goes_to_login():
    response = HttpsClient().get(reverse("invoice-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("route", ["detail", "download-button"])
def test_other_clients_contact_gets_the_unknown_id_404(owner_setup, route):
    web = logged_in(owner_setup["stranger"])
    method, url = _routes(owner_setup["invoice"])[route]
    foreign = getattr(web, method)(url)
    unknown_method, unknown_url = _routes(type(owner_setup["invoice"])(public_id=uuid.uuid4()))[
        route
    ]
    unknown = getattr(web, unknown_method)(unknown_url)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.content == unknown.content
    assert b"INV-2026-001" not in foreign.content


def test_other_clients_contact_cannot_use_the_owners_link(owner_setup):
    url = _fresh_link(owner_setup["invoice"])
    web = logged_in(owner_setup["stranger"])
    foreign = web.get(url)
    unknown = web.get(reverse("download", args=["A" * 43]))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.content == unknown.content
    assert not foreign.has_header("Content-Disposition")


def test_other_clients_history_does_not_list_the_invoice(owner_setup):
    response = logged_in(owner_setup["stranger"]).get(reverse("invoice-list"))
    assert response.status_code == 200
    assert b"RIV-2026-001" in response.content
    assert b"INV-2026-001" not in response.content


def test_staff_user_gets_404_on_client_pages(owner_setup):
    web = logged_in_staff()
    _method, url = _routes(owner_setup["invoice"])["detail"]
    assert web.get(url).status_code == 404
    assert web.get(_fresh_link(owner_setup["invoice"])).status_code == 404


def test_owner_gets_everything(owner_setup):
    web = logged_in(owner_setup["owner"])
    invoice = owner_setup["invoice"]
    assert b"INV-2026-001" in web.get(reverse("invoice-list")).content
    detail = web.get(reverse("invoice-detail", args=[invoice.public_id]))
    assert detail.status_code == 200
    assert invoice.pdf_sha256.encode() in detail.content
    button = web.post(reverse("invoice-download-link", args=[invoice.public_id]))
    assert button.status_code == 302
    download = web.get(button["Location"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"


def test_drafts_are_invisible_to_the_owner(owner_setup):
    from tests.factories import make_invoice

    draft = make_invoice(owner_setup["client"], number="DRAFT-1", issue=False)
    web = logged_in(owner_setup["owner"])
    assert web.get(reverse("invoice-detail", args=[draft.public_id])).status_code == 404
    assert b"DRAFT-1" not in web.get(reverse("invoice-list")).content


def test_contact_of_inactive_client_is_logged_out(owner_setup):
    web = logged_in(owner_setup["owner"])
    owner_setup["client"].is_active = False
    owner_setup["client"].save()
    response = web.get(reverse("invoice-detail", args=[owner_setup["invoice"].public_id]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
