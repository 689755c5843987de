"""Small factory functions over fixtures: each test says what it needs."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from decimal import Decimal

from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

from clients.models import Client, User
from invoices.models import Invoice
from invoices.services import invoice_create

PASSWORD = "correct horse battery staple 42"
_seq = itertools.count(1)


def pdf_bytes(text: str = "Invoice", pages: int = 1) -> bytes:
    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer)
    for page in range(pages):
        drawing.drawString(72, 720, f"{text} page {page + 1}")
        drawing.showPage()
    drawing.save()
    return buffer.getvalue()


def encrypted_pdf_bytes() -> bytes:
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf_bytes())).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_client(name: str | None = None, **extra: object) -> Client:
    return Client.objects.create(name=name or f"Client {next(_seq)}", **extra)


def make_contact(
    client: Client | None = None, email: str | None = None, password: str = PASSWORD
) -> User:
    client = client or make_client()
    return User.objects.create_user(
        email=email or f"contact{next(_seq)}@example.test", password=password, client=client
    )


def make_staff(email: str | None = None, password: str = PASSWORD) -> User:
    return User.objects.create_superuser(
        email=email or f"staff{next(_seq)}@example.test", password=password
    )


def make_invoice(
    client: Client,
    *,
    number: str | None = None,
    issue: bool = True,
    issue_date: dt.date = dt.date(2026, 11, 1),
    due_date: dt.date = dt.date(2026, 12, 1),
    total: Decimal = Decimal("1200.00"),
    currency: str = "EUR",
    content: bytes | None = None,
) -> Invoice:
    return invoice_create(
        client=client,
        number=number or f"INV-TEST-{next(_seq):05d}",
        issue_date=issue_date,
        due_date=due_date,
        total=total,
        currency=currency,
        pdf=io.BytesIO(content if content is not None else pdf_bytes()),
        original_filename="invoice.pdf",
        issue=issue,
    )
