from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from invoices.signals import invoice_issued
from notifications.services import enqueue_document_waiting, send_due

logger = logging.getLogger(__name__)


@receiver(invoice_issued)
def _issued(sender: Any, invoice: Any, **kwargs: Any) -> None:
    enqueue_document_waiting(invoice=invoice)
    # Try at once; whatever fails stays queued for `manage.py send_notifications`.
    report = send_due(limit=50)
    if report.retrying or report.failed:
        logger.warning("notifications: %s sent, %s to retry", report.sent, report.retrying)
