"""The consultant's side for invoices, one module per admin. Importing the modules here is
what registers them when the admin site autodiscovers ``invoices.admin``; business rules
and every write live in invoices.services."""

from __future__ import annotations

from invoices.admin.generated import GeneratedInvoiceAdmin
from invoices.admin.integrity import IntegrityAlertAdmin
from invoices.admin.links import DownloadLinkAdmin
from invoices.admin.uploaded import InvoiceAdmin

__all__ = ["DownloadLinkAdmin", "GeneratedInvoiceAdmin", "IntegrityAlertAdmin", "InvoiceAdmin"]
