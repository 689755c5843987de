"""Writes for invoices. ``core``: uploads, status changes, links, downloads;
``generation``: invoices made from line items, numbering, PDFs, credit notes;
``integrity``: stored files that failed their checksum, and the staff alert."""

from invoices.services.core import (
    InvoiceError,
    ServedDownload,
    StorageError,
    download_begin,
    invoice_create,
    invoice_mark_paid,
    invoice_void,
    link_create,
    link_revoke,
)
from invoices.services.drafts import (
    DRAFT_FIELDS,
    draft_lines_save,
    generated_draft_create,
    invoice_draft_delete,
    invoice_draft_update,
    links_revoke_for_user,
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
from invoices.services.integrity import (
    integrity_alert_acknowledge,
    integrity_alert_recheck,
    integrity_failure_record,
    stored_file_matches,
)

__all__ = [
    "DRAFT_FIELDS",
    "InvoiceError",
    "ServedDownload",
    "StorageError",
    "credit_note_create",
    "download_begin",
    "draft_check",
    "draft_create",
    "draft_lines_save",
    "draft_preview_pdf",
    "draft_recompute",
    "generated_draft_create",
    "integrity_alert_acknowledge",
    "integrity_alert_recheck",
    "integrity_failure_record",
    "invoice_create",
    "invoice_draft_delete",
    "invoice_draft_update",
    "invoice_issue",
    "invoice_mark_paid",
    "invoice_void",
    "link_create",
    "link_revoke",
    "links_revoke_for_user",
    "next_number",
    "stored_file_matches",
]
