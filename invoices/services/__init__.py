"""Writes for invoices. ``core``: uploads, status changes, links, downloads;
``generation``: invoices made from line items, numbering, PDFs, credit notes."""

from invoices.services.core import (
    InvoiceError,
    ServedDownload,
    download_begin,
    invoice_create,
    invoice_mark_paid,
    invoice_void,
    link_create,
    link_revoke,
)
from invoices.services.generation import (
    credit_note_create,
    draft_check,
    draft_create,
    draft_preview_pdf,
    draft_recompute,
    invoice_issue,
    next_number,
)

__all__ = [
    "InvoiceError",
    "ServedDownload",
    "credit_note_create",
    "download_begin",
    "draft_check",
    "draft_create",
    "draft_preview_pdf",
    "draft_recompute",
    "invoice_create",
    "invoice_issue",
    "invoice_mark_paid",
    "invoice_void",
    "link_create",
    "link_revoke",
    "next_number",
]
