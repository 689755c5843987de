"""An uploaded PDF may hold pages, links inside the document and https links; anything
else a reader can be made to do is refused, wherever in the file it hides (issue 12, 4).

The corpus is built in code (tests/invoices/hostile_pdfs.py). Every hostile file goes
through the real upload service; a few also through a real admin POST."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
import tracemalloc
import zipfile
import zlib
from decimal import Decimal

import pikepdf
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent, EventKind
from invoices import pdfactive, pdfcheck, pdfraw
from invoices.models import Invoice
from invoices.pdf import render_invoice, sample_document
from invoices.pdfcheck import PdfRejected, check_pdf
from invoices.services import InvoiceError, invoice_create
from tests.conftest import logged_in_staff
from tests.factories import make_client
from tests.invoices.hostile_pdfs import BENIGN, HOSTILE, build
from tests.invoices.raw_pdfs import (
    append_update,
    clean,
    stray_bodies_with_many_stream_keywords,
    zip_after_a_comment,
    zip_in_a_stream,
)

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
    monkeypatch.setattr(pdfraw, "_CHUNK", chunk)
    content, words = HOSTILE[kind]
    with pytest.raises(PdfRejected, match=words):
        check_pdf(io.BytesIO(content))


@pytest.mark.parametrize("chunk", [5, 64])
def test_a_clean_incremental_update_is_accepted_across_read_boundaries(chunk, monkeypatch):
    monkeypatch.setattr(pdfraw, "_CHUNK", chunk)
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


@pytest.mark.parametrize(
    "kind",
    [
        "javascript-then-an-array-nested-600-deep",
        "javascript-then-a-64-bit-overflowing-integer",
        "javascript-then-an-unterminated-string",
        "javascript-then-too-many-stray-braces",
    ],
)
def test_the_damaged_files_are_not_inert_poppler_prints_their_script(kind, tmp_path):
    """qpdf reads the damaged object as null; poppler reads the script before the damage."""
    if not shutil.which("pdfinfo"):
        pytest.skip("poppler-utils not installed")
    path = tmp_path / "hostile.pdf"
    path.write_bytes(HOSTILE[kind][0])
    out = subprocess.run(["pdfinfo", "-js", str(path)], capture_output=True, text=True).stdout
    assert "app.alert(1)" in out


def test_an_object_that_is_literally_null_is_not_damage():
    content = append_update(clean(), {1: b"<< /Type /Catalog /Pages 2 0 R /X 5 0 R >>", 5: b"null"})
    assert check_pdf(io.BytesIO(content)) == 1


@pytest.mark.parametrize("make", [zip_after_a_comment, zip_in_a_stream])
def test_the_zip_polyglots_are_readable_zips(make):
    """The refused files really are ZIPs as well (else their refusal would prove nothing)."""
    assert zipfile.ZipFile(io.BytesIO(make())).namelist() == ["evil.html"]


def test_the_zip_in_a_stream_passes_the_eof_checks_and_is_a_valid_pdf():
    """Only the ZIP check stands in its way: every %%EOF is followed by PDF."""
    assert pdfcheck._only_pdf_after_each_eof(io.BytesIO(zip_in_a_stream()))
    with pikepdf.open(io.BytesIO(zip_in_a_stream())) as pdf:
        assert len(pdf.pages) == 1
        assert pdf.get_object((7, 0)).read_raw_bytes().startswith(b"PK\x03\x04")


def test_text_comments_between_revisions_are_accepted():
    content = clean() + b"% written by an editor\n"
    update = append_update(content, {1: b"<< /Type /Catalog /Pages 2 0 R /Lang (en) >>"})
    assert check_pdf(io.BytesIO(update)) == 1


@pytest.mark.parametrize("gap", [b"%\x00\xffbinary\n", b" " * 2000, b"% a text line\nPK\x03\x04"])
def test_anything_but_text_comments_between_revisions_is_refused(gap):
    content = append_update(clean() + gap, {1: b"<< /Type /Catalog /Pages 2 0 R >>"})
    with pytest.raises(PdfRejected, match="foreign data"):
        check_pdf(io.BytesIO(content))


def _counting_parses(monkeypatch) -> list[int]:
    """The length of each text the raw scan hands to qpdf's parser."""
    parsed: list[int] = []

    def counted(text: bytes):
        parsed.append(len(text))
        return pikepdf.Object.parse(text)

    monkeypatch.setattr(pdfraw, "parse", counted)
    return parsed


def test_each_stray_body_is_parsed_at_most_twice(monkeypatch):
    """8 bodies of 14 KB, each holding 2000 "stream" keywords: trying each as the end of
    the body took ~20 s (2000 parses per body); now two tries per body at most, and the
    unreadable first body refuses the file."""
    parsed = _counting_parses(monkeypatch)
    pdf = stray_bodies_with_many_stream_keywords(bodies=8, keywords=2000)
    with pytest.raises(PdfRejected, match="cannot be read"):
        check_pdf(io.BytesIO(pdf))
    assert 1 <= len(parsed) <= 2 * 8
    assert sum(parsed) <= 2 * len(pdf)


def test_stray_stream_bodies_are_parsed_up_to_their_dictionary(monkeypatch):
    parsed = _counting_parses(monkeypatch)
    body = b"<< /Length 14000 >>\nstream\n" + b"stream\n" * 2000 + b"\nendstream"
    content = append_update(clean(), {7: body}, listed=False)
    assert check_pdf(io.BytesIO(content)) == 1
    assert parsed == [len(b"\n<< /Length 14000 >>")]


def test_stray_bodies_beyond_the_parse_budget_are_refused(monkeypatch):
    monkeypatch.setattr(pdfraw, "MAX_PARSED_BYTES", 100)
    bodies = dict.fromkeys(range(7, 10), b"<< /Title (%s) >>" % (b"x" * 40))
    content = append_update(clean(), bodies, listed=False)
    with pytest.raises(PdfRejected, match="too much outside its index"):
        check_pdf(io.BytesIO(content))
