"""The reportlab PDF, checked by extracting its text (pypdf) and by rendering a page to PNG
(pdftoppm, installed by the test set-up)."""

from __future__ import annotations

import io
import shutil
import subprocess
from decimal import Decimal

import pytest
from PIL import Image
from pypdf import PdfReader

from invoices.money import LineInput, compute_totals, format_amount
from invoices.pdf import render_invoice, sample_document


def _text(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def test_sixty_lines_break_across_pages_with_totals_and_page_numbers():
    doc = sample_document(60)
    reader, text = _text(render_invoice(doc))
    pages = len(reader.pages)
    assert pages == 4
    for n in range(1, pages + 1):
        assert f"Page {n} of {pages}" in reader.pages[n - 1].extract_text()
    # the header row repeats on every page that continues the table
    with_lines = [p.extract_text() for p in reader.pages if "work package" in p.extract_text()]
    assert len(with_lines) >= 3
    assert all("Unit price" in text for text in with_lines)
    assert format_amount(doc.totals.total, "EUR") in text
    assert format_amount(doc.totals.subtotal, "EUR") in text
    for group in doc.totals.taxes:
        assert format_amount(group.tax, "EUR") in text
    assert "work package 60" in text


def test_unicode_prints_the_euro_sign_umlauts_and_non_latin_names():
    _reader, text = _text(render_invoice(sample_document(2)))
    assert "€ payments only" in text
    assert "Jürgen Müller Consulting" in text
    assert "Ωmega Λtd · Иванов & Co" in text
    assert "Église" in text


def test_metadata_and_embedded_font():
    data = render_invoice(sample_document(2))
    reader = PdfReader(io.BytesIO(data))
    meta = reader.metadata
    assert meta.title == "Invoice INV-2026-0001"
    assert meta.author == "Jürgen Müller Consulting"
    assert "Ωmega" in meta.subject
    fonts = {
        str(f["/BaseFont"])
        for page in reader.pages
        for f in page["/Resources"]["/Font"].get_object().values()
    }
    assert any("DejaVuSans" in name for name in fonts)
    assert b"/FontFile2" in data  # the TrueType program is embedded


def test_payment_details_and_a_warning_about_email_are_printed():
    _reader, text = _text(render_invoice(sample_document(1)))
    assert "IBAN: DE89 3704 0044 0532 0130 00" in text
    assert "Payment reference: INV-2026-0001" in text
    assert "Never trust bank details that reach you by email alone" in text


def test_three_decimal_currency_prints_three_decimals():
    from dataclasses import replace

    items = (LineInput("Advisory", Decimal("1"), Decimal("10.0005"), Decimal("0")),)
    doc = replace(
        sample_document(1), lines=items, currency="BHD", totals=compute_totals(items, "BHD")
    )
    _reader, text = _text(render_invoice(doc))
    assert "10.001 BHD" in text


def test_a_page_renders_to_a_real_image(tmp_path):
    assert shutil.which("pdftoppm"), "pdftoppm missing: run scripts/system-deps (make test does)"
    path = tmp_path / "invoice.pdf"
    path.write_bytes(render_invoice(sample_document(5)))
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "p")],
        check=True,
    )
    (png,) = tmp_path.glob("p*.png")
    with Image.open(png) as image:
        gray = image.convert("L")
        width, height = gray.size
        assert 300 < width < 400 and 400 < height < 500  # A4 at 40 dpi
        dark = sum(gray.histogram()[:128])
        assert dark > 1500  # text, table rules: a page with content, not a blank one


@pytest.mark.parametrize("draft", [True, False])
def test_draft_watermark_only_on_drafts(draft):
    _reader, text = _text(render_invoice(sample_document(1, draft=draft)))
    assert ("DRAFT" in text) is draft


# Speed (issue 7): line cells are plain wrapped strings, not Paragraphs; these keep what
# the Paragraphs gave (wrapping, long words, markup printed as text) and bound the memory.


def _line_doc(*descriptions: str):
    from dataclasses import replace

    items = tuple(
        LineInput(text, Decimal("1"), Decimal("10.00"), Decimal("0")) for text in descriptions
    )
    return replace(sample_document(1), lines=items, totals=compute_totals(items, "EUR"))


def test_a_long_description_wraps_inside_its_column():
    words = "Quarterly review of the supplier contracts and the logistics of the warehouse"
    _reader, text = _text(render_invoice(_line_doc(words)))
    assert " ".join(text.split()).count(words) == 1  # every word printed, in order
    assert not any(words in line for line in text.splitlines())  # over several lines


def test_a_word_wider_than_its_column_is_split_not_run_over():
    word = "Z" * 90
    _reader, text = _text(render_invoice(_line_doc(word)))
    assert "".join(text.split()).count(word) == 1  # every letter printed, once
    assert not any(word in line for line in text.splitlines())  # but on several lines


def test_markup_in_a_line_prints_as_text():
    _reader, text = _text(render_invoice(_line_doc("<b>bold</b> & <i>co</i>", "Z" * 90 + " <b>")))
    assert "<b>bold</b> & <i>co</i>" in text
    assert "<b>" in text.split("Z")[-1]


def test_reportlab_runs_with_its_c_accelerators():
    from reportlab.lib import rl_accel

    # rl-accel (pyproject.toml) replaces reportlab's pure Python fallbacks; none is left.
    assert not rl_accel._py_funcs, f"pure Python fallbacks in use: {sorted(rl_accel._py_funcs)}"


def test_the_largest_invoice_renders_within_a_memory_bound():
    import tracemalloc

    from invoices.services.generation import MAX_LINES

    doc = sample_document(MAX_LINES)
    render_invoice(doc)  # fonts registered, caches warm
    tracemalloc.start()
    try:
        data = render_invoice(doc)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(PdfReader(io.BytesIO(data)).pages) >= 45
    # about 3 MiB measured for 1000 lines (~48 pages); the pages are kept until the count
    # is known, so this grows with the pages, never with anything else.
    assert peak < 16 * 2**20, f"{peak / 2**20:.1f} MiB"
