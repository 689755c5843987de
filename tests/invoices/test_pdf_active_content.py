"""An uploaded PDF may hold pages, links inside the document and https links; anything
else a reader can be made to do is refused, wherever in the file it hides (issue 12, 4).

The corpus is built in code (tests/invoices/hostile_pdfs.py). Every hostile file goes
through the real upload service; a few also through a real admin POST."""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc
import zlib
from decimal import Decimal

import pikepdf
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent, EventKind
from invoices import pdfactive
from invoices.models import Invoice
from invoices.pdf import render_invoice, sample_document
from invoices.pdfcheck import PdfRejected, check_pdf
from invoices.services import InvoiceError, invoice_create
from tests.conftest import logged_in_staff
from tests.factories import make_client
from tests.invoices.hostile_pdfs import BENIGN, HOSTILE, build

pytestmark = pytest.mark.django_db


def _create(content: bytes, number: str = "ACT-1") -> Invoice:
    return invoice_create(
        client=make_client(),
        number=number,
        issue_date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 12, 1),
        total=Decimal("10.00"),
        currency="EUR",
        pdf=io.BytesIO(content),
    )


def _files(private_dir) -> list[str]:
    return sorted(p.name for p in private_dir.iterdir()) if private_dir.exists() else []


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_pdf_is_refused_by_the_upload_service_and_leaves_nothing(kind, private_dir):
    content, words = HOSTILE[kind]
    with pytest.raises(InvoiceError, match=words) as refused:
        _create(content)
    assert str(refused.value).startswith("The PDF ")
    assert str(refused.value).count(". ") <= 1  # one sentence (two with its advice)
    assert Invoice.objects.count() == 0
    assert _files(private_dir) == []
    assert AuditEvent.objects.filter(kind=EventKind.UPLOAD_REFUSED).count() == 1


@pytest.mark.parametrize(
    "kind",
    [
        "gotor-to-an-smb-share",
        "file-attachment-annotation-with-an-exe",
        "javascript-only-inside-an-object-stream",
        "hex-escaped-javascript-open-action",
    ],
)
def test_hostile_pdf_is_refused_through_the_admin(kind, private_dir):
    content, words = HOSTILE[kind]
    response = logged_in_staff().post(
        reverse("admin:invoices_invoice_add"),
        {
            "client": make_client().pk,
            "number": "ADM-ACT-1",
            "issue_date": "2026-11-01",
            "due_date": "2026-12-01",
            "total": "100.00",
            "currency": "EUR",
            "issue_now": "on",
            "pdf": SimpleUploadedFile("invoice.pdf", content, "application/pdf"),
        },
    )
    assert response.status_code == 200
    assert words.encode() in response.content
    assert Invoice.objects.count() == 0
    assert _files(private_dir) == []


@pytest.mark.parametrize("kind", sorted(BENIGN))
def test_what_an_invoice_may_contain_is_accepted_and_stored_unchanged(kind, private_dir):
    invoice = _create(BENIGN[kind])
    assert (private_dir / invoice.pdf_name).read_bytes() == BENIGN[kind]


@pytest.mark.parametrize(
    "document",
    [sample_document(1), sample_document(60), sample_document(3, draft=True)],
    ids=["one-page", "sixty-lines", "draft"],
)
def test_the_portals_own_rendered_invoices_are_accepted(document):
    content = render_invoice(document)
    assert check_pdf(io.BytesIO(content)) >= 1


def test_the_hidden_script_is_really_compressed_and_unreferenced_by_known_keys():
    """The object-stream case proves something only if the raw bytes do not give the
    script away and nothing but a private key points to it."""
    content, _words = HOSTILE["javascript-only-inside-an-object-stream"]
    assert b"JavaScript" not in content and b"/JS" not in content
    with pikepdf.open(io.BytesIO(content)) as pdf:
        assert any(entry.type == 2 for entry in pdf.get_xref_table().values())


def test_escaped_names_are_in_the_file_as_escapes():
    content, _words = HOSTILE["hex-escaped-javascript-open-action"]
    assert b"/J#61vaScript" in content and b"/J#53" in content
    assert b"/JavaScript" not in content and b"/OpenAction" not in content


def test_an_object_stream_bomb_is_refused_before_qpdf_inflates_it(monkeypatch):
    monkeypatch.setattr(pdfactive, "MAX_OBJECT_STREAM_BYTES", 64)
    content = build(lambda pdf: None, object_streams=True)
    with pytest.raises(PdfRejected, match="compressed objects are too large"):
        check_pdf(io.BytesIO(content))


@pytest.mark.parametrize("chunk", [5, 64, 4096])
@pytest.mark.parametrize(
    "kind",
    ["javascript-left-in-a-superseded-catalog", "javascript-body-outside-every-xref"],
)
def test_bodies_outside_the_index_are_found_across_read_boundaries(kind, chunk, monkeypatch):
    """The raw scan reads the file in pieces; a header cut by a piece boundary is found."""
    monkeypatch.setattr(pdfactive, "_CHUNK", chunk)
    content, words = HOSTILE[kind]
    with pytest.raises(PdfRejected, match=words):
        check_pdf(io.BytesIO(content))


@pytest.mark.parametrize("chunk", [5, 64])
def test_a_clean_incremental_update_is_accepted_across_read_boundaries(chunk, monkeypatch):
    monkeypatch.setattr(pdfactive, "_CHUNK", chunk)
    assert check_pdf(io.BytesIO(BENIGN["clean-incremental-update"])) == 1


def test_measuring_an_object_stream_bomb_stops_at_the_limit_without_holding_it():
    packer, mebibyte = zlib.compressobj(1), bytes(1 << 20)
    bomb = b"".join([*(packer.compress(mebibyte) for _ in range(128)), packer.flush()])
    tracemalloc.start()
    try:
        size = pdfactive._inflated_size(bomb, limit=8 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 8 << 20 <= size < 10 << 20
    assert peak < 4 << 20
