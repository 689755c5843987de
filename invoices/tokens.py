"""
Download links: the one place they are minted and checked.

Threats and answers:
- Guessing: tokens carry 256 bits from the OS CSPRNG (invoiceportal.tokens).
- A stolen database or backup: only namespaced SHA-256 digests are stored.
- A forwarded or intercepted link: it works only for a logged-in contact of the owning
  client, so the link alone is worth nothing.
- Probing which tokens or invoices exist: every failure (malformed, unknown, another
  client's, expired, revoked, used up, voided invoice) returns the same ``None``, logs one
  generic line and so becomes the same 404 in the view.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from invoiceportal import tokens
from invoices.models import DOWNLOADABLE_STATUSES, DownloadLink, Invoice

__all__ = ["NAMESPACE", "link_mint", "link_redeem"]

NAMESPACE = "invoiceportal.invoices.download"
logger = logging.getLogger(__name__)


def _now() -> datetime:
    """Seam for tests; time-machine also works."""
    return timezone.now()


def link_mint(
    *,
    invoice: Invoice,
    ttl: timedelta,
    created_by: object | None = None,
    max_downloads: int | None = None,
    note: str = "",
) -> tuple[DownloadLink, str]:
    """Create a link for ``invoice``; returns the row and the token (shown once, never stored)."""
    minted = tokens.mint(NAMESPACE)
    link = DownloadLink.objects.create(
        invoice=invoice,
        token_digest=minted.digest,
        created_at=_now(),
        expires_at=_now() + ttl,
        max_downloads=max_downloads,
        created_by=created_by,
        note=note,
    )
    return link, minted.token


def link_redeem(*, token: str, client_id: int | None) -> DownloadLink | None:
    """Count one download against the link for ``token`` if it is usable by ``client_id``.

    Checks, in this order, all inside one query: well-formed token, known digest, invoice of
    this client, invoice downloadable (issued or paid), link not revoked, not expired, not
    used up. Returns the link (with its invoice) or ``None`` for every failure alike.
    """
    if client_id is None or not tokens.is_well_formed(token):
        logger.info("download link refused")
        return None
    digest = tokens.token_digest(NAMESPACE, token)
    now = _now()
    usable = (
        Q(token_digest=digest, invoice__client_id=client_id)
        & Q(invoice__status__in=DOWNLOADABLE_STATUSES, invoice__client__is_active=True)
        & Q(revoked_at__isnull=True, expires_at__gt=now)
        & (Q(max_downloads__isnull=True) | Q(download_count__lt=F("max_downloads")))
    )
    with transaction.atomic():
        # The conditional UPDATE is the check: two racing requests cannot both take
        # the last download of a limited link.
        updated = DownloadLink.objects.filter(usable).update(download_count=F("download_count") + 1)
        if updated != 1:
            logger.info("download link refused")
            return None
        link = DownloadLink.objects.select_related("invoice", "invoice__client").get(
            token_digest=digest
        )
    if not tokens.digests_match(link.token_digest, NAMESPACE, token):  # belt and braces
        return None
    return link
