"""Invoice PDFs with reportlab: invoice data in, bytes out. No ORM and no request in here.

The text uses an embedded TrueType font (DejaVu Sans, shipped in invoices/fonts/) so that
€, £, umlauts, accents and Greek or Cyrillic names print correctly. The line table breaks
across pages with its header row repeated; every page says "Page N of M".
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    Image,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from invoices.money import LineInput, Totals, format_amount

__all__ = ["InvoiceDocument", "Party", "PaymentDetails", "render_invoice"]

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT, FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"


@cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD)


@dataclass(frozen=True)
class Party:
    name: str
    address: str = ""
    tax_id: str = ""
    email: str = ""


@dataclass(frozen=True)
class PaymentDetails:
    account_holder: str = ""
    iban: str = ""
    bic: str = ""
    account_number: str = ""
    reference: str = ""


@dataclass(frozen=True)
class InvoiceDocument:
    title: str  # "Invoice" or "Credit note"
    number: str
    issue_date: dt.date
    due_date: dt.date
    currency: str
    seller: Party
    buyer: Party
    lines: tuple[LineInput, ...]
    totals: Totals
    payment: PaymentDetails = field(default_factory=PaymentDetails)
    footer: str = ""
    logo: bytes | None = None
    note: str = ""  # e.g. "Credits invoice INV-2026-0007"
    draft: bool = False


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=9.5, leading=12.5)
    return {
        "base": base,
        "small": ParagraphStyle(
            "small", parent=base, fontSize=8, leading=10, textColor=colors.grey
        ),
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=18, leading=22),
        "bold": ParagraphStyle("bold", parent=base, fontName=FONT_BOLD),
        "right": ParagraphStyle("right", parent=base, alignment=TA_RIGHT),
        "right_bold": ParagraphStyle(
            "right_bold", parent=base, alignment=TA_RIGHT, fontName=FONT_BOLD
        ),
    }


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    # Paragraph speaks a small XML dialect: escape, then keep line breaks.
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Paragraph(escaped.replace("\n", "<br/>"), style)


class _NumberedCanvas(canvas.Canvas):
    """Defers page output until the page count is known, for "Page N of M"."""

    def __init__(self, *args: Any, footer: str = "", draft: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._saved: list[dict[str, Any]] = []
        self._footer = footer
        self._draft = draft

    def showPage(self) -> None:
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved)
        for state in self._saved:
            self.__dict__.update(state)
            self._decorate(total)
            super().showPage()
        super().save()

    def _decorate(self, total: int) -> None:
        width, _height = A4
        self.setFont(FONT, 8)
        self.setFillColor(colors.grey)
        self.drawRightString(width - 18 * mm, 12 * mm, f"Page {self._pageNumber} of {total}")
        if self._footer:
            self.drawString(18 * mm, 12 * mm, self._footer[:140])
        if self._draft:
            self.saveState()
            self.setFont(FONT_BOLD, 70)
            self.setFillColor(colors.Color(0.85, 0.1, 0.1, alpha=0.18))
            self.translate(width / 2, A4[1] / 2)
            self.rotate(35)
            self.drawCentredString(0, 0, "DRAFT")
            self.restoreState()


def _header(doc: InvoiceDocument, s: dict[str, ParagraphStyle]) -> list[Any]:
    left: list[Any] = []
    if doc.logo:
        reader = ImageReader(io.BytesIO(doc.logo))
        w, h = reader.getSize()
        scale = min(50 * mm / w, 20 * mm / h, 1)
        left.append(Image(io.BytesIO(doc.logo), width=w * scale, height=h * scale, hAlign="LEFT"))
    left.append(_para(doc.seller.name, s["bold"]))
    seller_lines = [doc.seller.address, f"Tax ID: {doc.seller.tax_id}" if doc.seller.tax_id else ""]
    left.append(_para("\n".join(x for x in seller_lines if x), s["base"]))
    right = [
        _para(doc.title, s["title"]),
        _para(f"No. {doc.number}", s["bold"]),
        _para(f"Date: {doc.issue_date:%Y-%m-%d}\nDue: {doc.due_date:%Y-%m-%d}", s["base"]),
    ]
    if doc.note:
        right.append(_para(doc.note, s["base"]))
    header = Table([[left, right]], colWidths=[100 * mm, 74 * mm])
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    buyer = [_para("Bill to", s["small"]), _para(doc.buyer.name, s["bold"])]
    buyer_lines = [doc.buyer.address, f"Tax ID: {doc.buyer.tax_id}" if doc.buyer.tax_id else ""]
    buyer.append(_para("\n".join(x for x in buyer_lines if x), s["base"]))
    return [header, Spacer(1, 8 * mm), *buyer, Spacer(1, 8 * mm)]


# Cell geometry of the line table: the font and padding every body cell uses.
_CELL_SIZE, _CELL_LEADING, _CELL_PADDING, _CELL_VPADDING = 9.5, 12.5, 6, 3
_LINE_COLUMNS = (66 * mm, 16 * mm, 16 * mm, 28 * mm, 14 * mm, 34 * mm)


def _cell(text: str, width: float, style: ParagraphStyle) -> str | Paragraph:
    """``text`` wrapped to ``width`` as a plain string (one per output line), which the
    table draws without Paragraph's markup parser and line breaker: most of the time of a
    long invoice went there. A word wider than the column still becomes a Paragraph, which
    splits long words instead of letting them run over the next column."""
    room = width - 2 * _CELL_PADDING
    font = style.fontName
    if "\n" not in text and stringWidth(text, font, _CELL_SIZE) <= room:
        return text  # fits on one line: most cells (amounts, units, rates, short descriptions)
    pieces = simpleSplit(text, font, _CELL_SIZE, room)
    if any(stringWidth(piece, font, _CELL_SIZE) > room for piece in pieces):
        return _para(text, style)
    return "\n".join(pieces)


def _text_table(
    texts: list[tuple[str, ...]],
    widths: tuple[float, ...],
    styles: list[tuple[ParagraphStyle, ...]],
    commands: list[tuple[Any, ...]],
    **kwargs: Any,
) -> Table:
    """A table of text cells drawn as plain wrapped strings (see ``_cell``), with the font
    and alignment of each cell's style and every row's height given up front: otherwise a
    LongTable measures every remaining row again at each page break (quadratic in pages).
    Rows holding a Paragraph (a too-long word) are still measured by reportlab."""
    rows = [
        [_cell(t, w, st) for t, w, st in zip(row, widths, row_styles, strict=True)]
        for row, row_styles in zip(texts, styles, strict=True)
    ]
    heights = [
        None
        if any(isinstance(c, Paragraph) for c in row)
        else max(c.count("\n") + 1 for c in row) * _CELL_LEADING + 2 * _CELL_VPADDING
        for row in rows
    ]
    # One FONT/ALIGN command per column and run of rows styled alike: a command per cell
    # would cost more than the Paragraphs it replaces.
    cell_styles: list[tuple[Any, ...]] = []
    start = 0
    for end in range(1, len(styles) + 1):
        if end < len(styles) and styles[end] == styles[start]:
            continue
        for x, st in enumerate(styles[start]):
            first, last = (x, start), (x, end - 1)
            cell_styles.append(("FONT", first, last, st.fontName, _CELL_SIZE, _CELL_LEADING))
            if st.alignment == TA_RIGHT:
                cell_styles.append(("ALIGN", first, last, "RIGHT"))
        start = end
    table_class = LongTable if kwargs.get("repeatRows") else Table
    table = table_class(rows, colWidths=list(widths), rowHeights=heights, **kwargs)
    table.setStyle(TableStyle([*cell_styles, ("VALIGN", (0, 0), (-1, -1), "TOP"), *commands]))
    return table


def _lines_table(doc: InvoiceDocument, s: dict[str, ParagraphStyle]) -> Table:
    texts = [("Description", "Qty", "Unit", "Unit price", "Tax", "Amount")]
    styles = [(s["bold"],) * 6]
    body = (s["base"], s["right"], s["base"], s["right"], s["right"], s["right"])
    for line, net in zip(doc.lines, doc.totals.line_nets, strict=True):
        texts.append(
            (
                line.description,
                f"{line.quantity.normalize():f}",
                line.unit,
                format_amount(line.unit_price, doc.currency),
                f"{line.tax_rate.normalize():f}%",
                format_amount(net, doc.currency),
            )
        )
        styles.append(body)
    return _text_table(
        texts,
        _LINE_COLUMNS,
        styles,
        [
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.lightgrey),
        ],
        repeatRows=1,
    )


def _summary(doc: InvoiceDocument, s: dict[str, ParagraphStyle]) -> list[Any]:
    cur = doc.currency
    texts = [("Subtotal", format_amount(doc.totals.subtotal, cur))]
    texts += [
        (f"Tax {g.rate:f}% on {format_amount(g.net, cur)}", format_amount(g.tax, cur))
        for g in doc.totals.taxes
    ]
    texts.append(("Total", format_amount(doc.totals.total, cur)))
    styles = [(s["base"], s["right"])] * (len(texts) - 1) + [(s["bold"], s["right_bold"])]
    table = _text_table(
        texts,
        (70 * mm, 40 * mm),
        styles,
        [("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)],
        hAlign="RIGHT",
    )
    return [Spacer(1, 6 * mm), table]


def _payment(doc: InvoiceDocument, s: dict[str, ParagraphStyle]) -> list[Any]:
    p = doc.payment
    parts = [
        f"Account holder: {p.account_holder}" if p.account_holder else "",
        f"IBAN: {p.iban}" if p.iban else "",
        f"BIC: {p.bic}" if p.bic else "",
        f"Account number: {p.account_number}" if p.account_number else "",
        f"Payment reference: {p.reference}" if p.reference else "",
    ]
    text = "\n".join(x for x in parts if x)
    if not text:
        return []
    return [
        Spacer(1, 8 * mm),
        _para("Payment details", s["bold"]),
        _para(text, s["base"]),
        Spacer(1, 2 * mm),
        _para(
            "Check these details in the invoice portal before you pay. Never trust bank "
            "details that reach you by email alone.",
            s["small"],
        ),
    ]


def render_invoice(doc: InvoiceDocument) -> bytes:
    """The PDF for ``doc``: A4, embedded fonts, title/author/subject metadata."""
    _register_fonts()
    styles = _styles()
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=22 * mm,
        title=f"{doc.title} {doc.number}",
        author=doc.seller.name,
        subject=f"{doc.title} {doc.number} for {doc.buyer.name}",
        creator="invoiceportal",
    )
    story = [
        *_header(doc, styles),
        _lines_table(doc, styles),
        *_summary(doc, styles),
        *_payment(doc, styles),
    ]

    def make_canvas(*args: Any, **kwargs: Any) -> _NumberedCanvas:
        return _NumberedCanvas(*args, footer=doc.footer, draft=doc.draft, **kwargs)

    template.build(story, canvasmaker=make_canvas)
    return buffer.getvalue()


def sample_document(lines: int = 3, *, draft: bool = False) -> InvoiceDocument:
    """A made-up invoice, for benchmarks and the admin's design check."""
    from invoices.money import compute_totals

    items = tuple(
        LineInput(
            description=f"Consulting, work package {i + 1}: analysis, workshop and report",
            quantity=Decimal("1.5") + i % 3,
            unit_price=Decimal("120.00") + i,
            tax_rate=Decimal("19") if i % 4 else Decimal("7"),
            unit="h",
        )
        for i in range(lines)
    )
    return InvoiceDocument(
        title="Invoice",
        number="INV-2026-0001",
        issue_date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 12, 1),
        currency="EUR",
        seller=Party("Jürgen Müller Consulting", "Hauptstraße 1\n10115 Berlin", "DE123456789"),
        buyer=Party("Ωmega Λtd · Иванов & Co", "1 Rue de l'Église\n75001 Paris"),
        lines=items,
        totals=compute_totals(items, "EUR"),
        payment=PaymentDetails(
            "Jürgen Müller", "DE89 3704 0044 0532 0130 00", "COBADEFFXXX", "", "INV-2026-0001"
        ),
        footer="Jürgen Müller Consulting · Hauptstraße 1 · 10115 Berlin · € payments only",
        draft=draft,
    )
