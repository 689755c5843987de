"""Stored files that no longer match their SHA-256: what happens after a mismatch.

A download that finds the file changed is refused (the client sees the usual 404); this
module records it (log, audit, an open ``IntegrityAlert`` shown on every admin page) and
lets staff close the alert: by checking the file again once the right bytes are back
(restored from a backup), or by acknowledging it (e.g. after voiding and re-issuing).
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from audit.models import EventKind
from audit.services import audit_record
from invoices import storage
from invoices.models import DownloadLink, IntegrityAlert, Invoice

__all__ = [
    "integrity_alert_acknowledge",
    "integrity_alert_recheck",
    "integrity_failure_record",
    "stored_file_matches",
]

logger = logging.getLogger(__name__)


def stored_file_matches(invoice: Invoice) -> bool:
    """True if the stored file exists and has the SHA-256 and size recorded at upload."""
    try:
        with storage.open_pdf(invoice.pdf_name) as handle:
            return storage.digest_of(handle) == (invoice.pdf_sha256, invoice.pdf_size)
    except (OSError, ValueError):
        return False


def integrity_failure_record(
    *, invoice: Invoice, link: DownloadLink | None, request: HttpRequest | None
) -> IntegrityAlert:
    """Log and audit a failed check of ``invoice``'s file and open (or count on) its alert.

    Never says anything to the client: the caller answers with the usual 404.
    """
    logger.error("stored file for invoice %s failed its checksum", invoice.public_id)
    audit_record(
        kind=EventKind.INTEGRITY_FAILURE,
        request=request,
        client=invoice.client,
        invoice=invoice,
        link=link,
    )
    now = timezone.now()
    open_alerts = IntegrityAlert.objects.filter(invoice=invoice, resolved_at__isnull=True)
    if open_alerts.update(failures=F("failures") + 1, last_failed_at=now):
        return open_alerts.get()
    try:
        # A savepoint: a concurrent download may open the same alert first (unique).
        with transaction.atomic():
            return IntegrityAlert.objects.create(
                invoice=invoice, detected_at=now, last_failed_at=now
            )
    except IntegrityError:
        open_alerts.update(failures=F("failures") + 1, last_failed_at=now)
        return open_alerts.get()


def _resolve(
    *, alert: IntegrityAlert, resolution: str, by: object | None, request: HttpRequest | None
) -> bool:
    now = timezone.now()
    closed = IntegrityAlert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=by, resolution=resolution
    )
    if not closed:
        return False
    alert.resolved_at, alert.resolved_by, alert.resolution = now, by, resolution
    audit_record(
        kind=EventKind.INTEGRITY_RESOLVED,
        request=request,
        actor=by,
        client=alert.invoice.client,
        invoice=alert.invoice,
        detail=resolution,
    )
    return True


@transaction.atomic
def integrity_alert_recheck(
    *, alert: IntegrityAlert, by: object | None = None, request: HttpRequest | None = None
) -> bool:
    """Check the alert's file again; close the alert (audited) only if it now matches the
    SHA-256 recorded at upload. Refuses (returns False) while it still does not, and for
    an alert that is already closed."""
    if alert.resolved_at is not None or not stored_file_matches(alert.invoice):
        return False
    return _resolve(
        alert=alert, resolution="file checked again: matches its SHA-256", by=by, request=request
    )


@transaction.atomic
def integrity_alert_acknowledge(
    *, alert: IntegrityAlert, by: object | None = None, request: HttpRequest | None = None
) -> bool:
    """Close the alert without the file being right again (staff have dealt with it, e.g.
    voided the invoice and issued a new one); audited. Downloads stay refused while the
    file does not match. Returns False for an alert that is already closed."""
    return _resolve(alert=alert, resolution="acknowledged by staff", by=by, request=request)
