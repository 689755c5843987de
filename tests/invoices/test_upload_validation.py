"""Uploads are refused with a clear message unless they are real, whole, unencrypted PDFs
under the cap; a refusal leaves nothing behind (no row, no file)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent, EventKind
from invoices.models import Invoice, InvoiceStatus
from invoices.services import InvoiceError, invoice_create
from tests.conftest import logged_in_staff
from tests.factories import encrypted_pdf_bytes, make_client, pdf_bytes

pytestmark = pytest.mark.django_db


def _create(client, content: bytes, number: str = "UP-1"):
    return invoice_create(
        client=client,
        number=number,
        issue_date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 12, 1),
        total=Decimal("10.00"),
        currency="EUR",
        pdf=io.BytesIO(content),
    )


def _files(private_dir):
    return sorted(p.name for p in private_dir.iterdir()) if private_dir.exists() else []


BAD_FILES = {
    "text-renamed": (b"Dear client, please pay.\n" * 20, "not a PDF"),
    "truncated": (pdf_bytes()[:-200], "incomplete"),
    "header-only": (b"%PDF-1.7\n%%EOF\n", "cannot be read"),
    "encrypted": (encrypted_pdf_bytes(), "encrypted"),
    "empty": (b"", "empty"),
    "html-polyglot": (b"<html><script>alert(1)</script></html>%PDF-1.4\n%%EOF", "not a PDF"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_files_are_refused_and_leave_nothing(kind, private_dir):
    client = make_client()
    content, message = BAD_FILES[kind]
    with pytest.raises(InvoiceError, match=message):
        _create(client, content)
    assert Invoice.objects.count() == 0
    assert _files(private_dir) == []
    assert AuditEvent.objects.filter(kind=EventKind.UPLOAD_REFUSED).count() == 1


def test_oversize_file_is_refused(settings, private_dir):
    settings.MAX_UPLOAD_BYTES = 4096
    content = pdf_bytes("x" * 50, pages=30)
    assert len(content) > 4096
    with pytest.raises(InvoiceError, match="larger than the limit of 4,096 bytes"):
        _create(make_client(), content)
    assert Invoice.objects.count() == 0
    assert _files(private_dir) == []


def test_file_exactly_at_the_cap_is_accepted(settings, private_dir):
    content = pdf_bytes()
    settings.MAX_UPLOAD_BYTES = len(content)
    invoice = _create(make_client(), content)
    assert invoice.pdf_size == len(content)
    assert _files(private_dir) == [invoice.pdf_name]


def test_duplicate_number_stores_nothing(private_dir):
    client = make_client()
    first = _create(client, pdf_bytes(), number="DUP-1")
    with pytest.raises(InvoiceError, match="already exists"):
        _create(client, pdf_bytes(), number="DUP-1")
    assert Invoice.objects.count() == 1
    assert _files(private_dir) == [first.pdf_name]


def test_stored_file_has_a_random_private_name(private_dir):
    content = pdf_bytes()
    invoice = _create(make_client(), content)
    path = private_dir / invoice.pdf_name
    assert path.read_bytes() == content
    assert (path.stat().st_mode & 0o777) == 0o600
    assert "UP-1" not in invoice.pdf_name


# The admin: the same rules through real HTTP requests.


def _admin_post(web, client, upload, number="ADM-1"):
    return web.post(
        reverse("admin:invoices_invoice_add"),
        {
            "client": client.pk,
            "number": number,
            "issue_date": "2026-11-01",
            "due_date": "2026-12-01",
            "total": "1200.00",
            "currency": "eur",
            "pdf": upload,
            "issue_now": "on",
        },
    )


def test_admin_upload_stores_and_issues(private_dir):
    client = make_client()
    web = logged_in_staff()
    content = pdf_bytes("Admin upload")
    response = _admin_post(web, client, SimpleUploadedFile("inv.pdf", content, "application/pdf"))
    assert response.status_code == 302, response.content[:2000]
    invoice = Invoice.objects.get(number="ADM-1")
    assert invoice.status == InvoiceStatus.ISSUED
    assert invoice.currency == "EUR"
    assert (private_dir / invoice.pdf_name).read_bytes() == content
    # issued invoices are frozen in the admin
    change = web.get(reverse("admin:invoices_invoice_change", args=[invoice.pk]))
    assert b'name="total"' not in change.content


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("notes.pdf", b"just text, not a pdf" * 10, b"not a PDF"),
        ("cut.pdf", pdf_bytes()[:-300], b"incomplete"),
        ("locked.pdf", encrypted_pdf_bytes(), b"encrypted"),
        ("../../../etc/evil.pdf", b"plain text" * 10, b"not a PDF"),
    ],
)
def test_admin_refuses_bad_uploads_with_a_clear_message(private_dir, filename, content, message):
    web = logged_in_staff()
    response = _admin_post(web, make_client(), SimpleUploadedFile(filename, content))
    assert response.status_code == 200
    assert message in response.content
    assert Invoice.objects.count() == 0
    assert _files(private_dir) == []


def test_admin_refuses_oversize_upload(settings, private_dir):
    settings.MAX_UPLOAD_BYTES = 2048
    web = logged_in_staff()
    big = pdf_bytes("y" * 40, pages=20)
    response = _admin_post(web, make_client(), SimpleUploadedFile("big.pdf", big))
    assert response.status_code == 200
    assert b"larger than the limit of 2,048 bytes" in response.content
    assert Invoice.objects.count() == 0
    assert _files(private_dir) == []


def test_path_separators_in_the_filename_cannot_escape(private_dir, tmp_path):
    web = logged_in_staff()
    content = pdf_bytes()
    upload = SimpleUploadedFile("../../outside/evil.pdf", content, "application/pdf")
    response = _admin_post(web, make_client(), upload, number="ESC-1")
    assert response.status_code == 302
    invoice = Invoice.objects.get(number="ESC-1")
    assert "/" not in invoice.original_filename
    assert _files(private_dir) == [invoice.pdf_name]
    assert not (tmp_path / "outside").exists()
    assert not (private_dir.parent / "outside").exists()


def test_files_are_group_readable_only_when_the_proxy_sends_them(settings, private_dir):
    settings.SENDFILE = "nginx"
    invoice = _create(make_client(), pdf_bytes(), number="GRP-1")
    assert ((private_dir / invoice.pdf_name).stat().st_mode & 0o777) == 0o640
    assert (private_dir.stat().st_mode & 0o777) == 0o750
