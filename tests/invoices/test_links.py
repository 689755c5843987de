"""Download links: expiry (time controlled), revocation, tampering, another invoice's token,
reuse after voiding, download limits."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, EventKind
from core import tokens
from invoices import tokens as link_tokens
from invoices.models import DownloadLink
from invoices.services import invoice_void, link_create, link_revoke
from tests.conftest import logged_in
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db


def _link(invoice, **kwargs):
    return link_create(invoice=invoice, ttl=kwargs.pop("ttl", dt.timedelta(minutes=5)), **kwargs)


def test_token_has_at_least_128_bits_and_only_its_digest_is_stored(owner_setup):
    link, token = _link(owner_setup["invoice"])
    assert tokens.TOKEN_BYTES * 8 >= 128
    assert len(token) == 43
    stored = DownloadLink.objects.get(pk=link.pk)
    assert token not in {stored.token_digest, stored.note}
    assert stored.token_digest == tokens.token_digest(link_tokens.NAMESPACE, token)


def test_two_links_never_share_a_token(owner_setup):
    seen = {_link(owner_setup["invoice"])[1] for _ in range(50)}
    assert len(seen) == 50


def test_link_works_until_it_expires(owner_setup):
    web = logged_in(owner_setup["owner"])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _link_row, token = _link(owner_setup["invoice"], ttl=dt.timedelta(seconds=300))
    url = reverse("download", args=[token])
    with time_machine.travel(start + dt.timedelta(seconds=299), tick=False):
        assert web.get(url).status_code == 200
    with time_machine.travel(start + dt.timedelta(seconds=300), tick=False):
        assert web.get(url).status_code == 404


def test_portal_button_link_expires_after_the_configured_ttl(owner_setup, settings):
    settings.DOWNLOAD_LINK_TTL = 120
    web = logged_in(owner_setup["owner"])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        location = web.post(
            reverse("invoice-download-link", args=[owner_setup["invoice"].public_id])
        )["Location"]
    with time_machine.travel(start + dt.timedelta(seconds=121), tick=False):
        assert web.get(location).status_code == 404


def test_revoked_link_is_404(owner_setup):
    web = logged_in(owner_setup["owner"])
    link, token = _link(owner_setup["invoice"])
    assert link_revoke(link=link) is True
    assert web.get(reverse("download", args=[token])).status_code == 404
    assert link_revoke(link=link) is False


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-1], id="truncated"),
        pytest.param(lambda t: t[:16], id="half"),
        pytest.param(lambda t: t + "A", id="extended"),
        pytest.param(lambda t: ("B" if t[0] != "B" else "C") + t[1:], id="first-char-flipped"),
        pytest.param(lambda t: t[:-1] + ("B" if t[-1] != "B" else "C"), id="last-char-flipped"),
        pytest.param(lambda t: t.upper(), id="case-changed"),
        pytest.param(lambda t: t.replace("-", "+").replace("_", "/") + "=", id="std-base64"),
        pytest.param(
            lambda t: tokens.token_digest(link_tokens.NAMESPACE, t), id="the-stored-digest"
        ),
    ],
)
def test_tampered_tokens_are_404(owner_setup, mangle):
    web = logged_in(owner_setup["owner"])
    _link_row, token = _link(owner_setup["invoice"])
    tampered = mangle(token)
    assert tampered != token
    response = web.get("/d/" + quote(tampered, safe="") + "/")
    assert response.status_code == 404
    assert not response.has_header("Content-Disposition")


def test_another_invoices_token_does_not_open_this_invoice(owner_setup):
    """A token is bound to its invoice: it serves that invoice's bytes, never another's."""
    second = make_invoice(owner_setup["client"], number="INV-2026-002")
    web = logged_in(owner_setup["owner"])
    _row, token = _link(second)
    response = web.get(reverse("download", args=[token]))
    assert response.status_code == 200
    assert "INV-2026-002.pdf" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert len(body) == second.pdf_size


def test_link_of_voided_invoice_is_404(owner_setup):
    web = logged_in(owner_setup["owner"])
    link, token = _link(owner_setup["invoice"])
    invoice_void(invoice=owner_setup["invoice"])
    assert web.get(reverse("download", args=[token])).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is not None
    # and no new link can be made for it
    button = web.post(reverse("invoice-download-link", args=[owner_setup["invoice"].public_id]))
    assert button.status_code == 404


def test_download_limit_is_enforced(owner_setup):
    web = logged_in(owner_setup["owner"])
    _row, token = _link(owner_setup["invoice"], max_downloads=2)
    url = reverse("download", args=[token])
    assert web.get(url).status_code == 200
    assert web.get(url).status_code == 200
    assert web.get(url).status_code == 404


def test_portal_button_links_are_single_use(owner_setup):
    web = logged_in(owner_setup["owner"])
    location = web.post(reverse("invoice-download-link", args=[owner_setup["invoice"].public_id]))[
        "Location"
    ]
    assert web.get(location).status_code == 200
    assert web.get(location).status_code == 404


def test_refused_downloads_are_audited(owner_setup):
    web = logged_in(owner_setup["stranger"])
    _row, token = _link(owner_setup["invoice"])
    web.get(reverse("download", args=[token]))
    event = AuditEvent.objects.get(kind=EventKind.DOWNLOAD_REFUSED)
    assert event.actor == owner_setup["stranger"]
    assert token not in event.detail


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["client deactivated", "invoice voided", "link revoked"])
def test_a_change_between_lookup_and_count_stops_that_download(owner_setup, change):
    """A download is looked up first (link_find) and counted later (link_take), with the file
    check in between; whatever happens to the link, its invoice or its client in that gap is
    seen by the count itself, so the download is refused and nothing is counted."""
    invoice = owner_setup["invoice"]
    link, token = link_create(invoice=invoice, ttl=dt.timedelta(days=1))
    found = link_tokens.link_find(token=token, client_id=invoice.client_id)
    assert found is not None
    if change == "client deactivated":
        type(invoice.client).objects.filter(pk=invoice.client_id).update(is_active=False)
    elif change == "invoice voided":
        type(invoice).objects.filter(pk=invoice.pk).update(status="void")
    else:
        DownloadLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())
    assert link_tokens.link_take(link=found) is False
    link.refresh_from_db()
    assert link.download_count == 0
