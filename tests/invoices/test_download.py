"""Downloads: bytes, headers, streaming, integrity check, audit, HTTPS only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client as PlainHttpClient
from django.urls import reverse

from audit.models import AuditEvent, EventKind
from invoices import storage
from invoices.services import link_create
from tests.conftest import logged_in
from tests.factories import make_invoice, pdf_bytes

pytestmark = pytest.mark.django_db


def _download(web, invoice, **headers):
    location = web.post(reverse("invoice-download-link", args=[invoice.public_id]))["Location"]
    return web.get(location, headers=headers), location


def test_download_is_byte_identical_with_safe_headers(owner_setup):
    content = pdf_bytes("Byte check", pages=3)
    invoice = make_invoice(owner_setup["client"], number="INV-2026-777", content=content)
    response, _ = _download(logged_in(owner_setup["owner"]), invoice)
    assert response.status_code == 200
    assert response.streaming  # never read whole into memory
    assert b"".join(response.streaming_content) == content
    assert response["Content-Disposition"] == 'attachment; filename="INV-2026-777.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Content-Length"] == str(len(content))


def test_filename_is_sanitised(owner_setup):
    invoice = make_invoice(owner_setup["client"], number="2026/11.a-b_c")
    response, _ = _download(logged_in(owner_setup["owner"]), invoice)
    assert response["Content-Disposition"] == 'attachment; filename="2026_11.a-b_c.pdf"'


def test_every_download_is_audited_with_who_where_and_bytes(owner_setup):
    web = logged_in(owner_setup["owner"])
    invoice = owner_setup["invoice"]
    response, _ = _download(web, invoice, user_agent="InvoiceTest/1.0")
    b"".join(response.streaming_content)
    event = AuditEvent.objects.get(kind=EventKind.DOWNLOAD, invoice=invoice)
    assert event.actor == owner_setup["owner"]
    assert event.client == owner_setup["client"]
    assert event.ip_address == "127.0.0.1"
    assert event.user_agent == "InvoiceTest/1.0"
    assert event.bytes_sent == invoice.pdf_size
    assert event.link is not None and event.link.invoice == invoice
    # and the client sees it on the invoice page
    page = web.get(reverse("invoice-detail", args=[invoice.public_id]))
    assert b"InvoiceTest/1.0" in page.content


def test_tampered_file_is_refused_and_audited(owner_setup):
    invoice = owner_setup["invoice"]
    path = storage.pdf_path(invoice.pdf_name)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    response, _ = _download(logged_in(owner_setup["owner"]), invoice)
    assert response.status_code == 404
    assert AuditEvent.objects.filter(kind=EventKind.INTEGRITY_FAILURE, invoice=invoice).count() == 1
    assert not AuditEvent.objects.filter(kind=EventKind.DOWNLOAD).exists()


def test_missing_file_is_refused_not_a_server_error(owner_setup):
    invoice = owner_setup["invoice"]
    storage.pdf_path(invoice.pdf_name).unlink()
    response, _ = _download(logged_in(owner_setup["owner"]), invoice)
    assert response.status_code == 404
    assert AuditEvent.objects.filter(kind=EventKind.INTEGRITY_FAILURE).count() == 1


def test_plain_http_is_redirected_and_never_serves_the_file(owner_setup):
    _link, token = link_create(invoice=owner_setup["invoice"], ttl=dt.timedelta(minutes=5))
    web = PlainHttpClient()
    web.force_login(owner_setup["owner"])
    response = web.get(reverse("download", args=[token]))
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert not AuditEvent.objects.filter(kind=EventKind.DOWNLOAD).exists()


def test_view_refuses_plain_http_even_with_redirect_off(owner_setup, settings):
    settings.SECURE_SSL_REDIRECT = False
    _link, token = link_create(invoice=owner_setup["invoice"], ttl=dt.timedelta(minutes=5))
    web = PlainHttpClient()
    web.force_login(owner_setup["owner"])
    response = web.get(reverse("download", args=[token]))
    assert response.status_code == 403
    assert b"HTTPS required" in response.content
    assert not response.has_header("Content-Disposition")


def test_download_button_needs_post(owner_setup):
    web = logged_in(owner_setup["owner"])
    response = web.get(reverse("invoice-download-link", args=[owner_setup["invoice"].public_id]))
    assert response.status_code == 405


def test_download_button_is_csrf_protected(owner_setup):
    from tests.conftest import HttpsClient

    web = HttpsClient(enforce_csrf_checks=True)
    web.force_login(owner_setup["owner"])
    response = web.post(reverse("invoice-download-link", args=[owner_setup["invoice"].public_id]))
    assert response.status_code == 403
    assert b"Please try again" in response.content


def test_behind_nginx_the_download_is_handed_over_with_x_accel_redirect(owner_setup, settings):
    settings.SENDFILE = "nginx"
    invoice = owner_setup["invoice"]
    response, _ = _download(logged_in(owner_setup["owner"]), invoice)
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/_protected/invoices/{invoice.pdf_name}"
    assert response.content == b""
    assert response["Content-Disposition"] == 'attachment; filename="INV-2026-001.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert AuditEvent.objects.filter(kind=EventKind.DOWNLOAD, invoice=invoice).count() == 1


def test_behind_nginx_a_tampered_file_is_still_refused(owner_setup, settings):
    settings.SENDFILE = "nginx"
    invoice = owner_setup["invoice"]
    path = storage.pdf_path(invoice.pdf_name)
    path.write_bytes(path.read_bytes() + b"%")
    response, _ = _download(logged_in(owner_setup["owner"]), invoice)
    assert response.status_code == 404
    assert not response.has_header("X-Accel-Redirect")
