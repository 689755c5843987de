"""
Download links: the one place they are minted and checked.

Threats and answers:
- Guessing: tokens carry 256 bits from the OS CSPRNG (core.tokens).
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

from django.db.models import F, Q
from django.utils import timezone

from core import tokens
from invoices.models import DOWNLOADABLE_STATUSES, DownloadLink, Invoice

__all__ = ["NAMESPACE", "link_check", "link_find", "link_mint", "link_redeem", "link_take"]

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
    now = _now()
    link = DownloadLink.objects.create(
        invoice=invoice,
        token_digest=minted.digest,
        created_at=now,
        expires_at=now + ttl,
        max_downloads=max_downloads,
        created_by=created_by,
        note=note,
    )
    return link, minted.token


def _usable(link: DownloadLink | None, now: datetime, *, counting: bool = True) -> bool:
    if link is None:
        return False
    invoice = link.invoice
    within_count = (
        not counting or link.max_downloads is None or link.download_count < link.max_downloads
    )
    return (
        invoice.status in DOWNLOADABLE_STATUSES
        and invoice.client.is_active
        and link.revoked_at is None
        and link.expires_at > now
        and within_count
    )


# What _usable, the download view, its file check and its audit row read.
_REDEEM_FIELDS = (
    "token_digest",
    "expires_at",
    "max_downloads",
    "download_count",
    "revoked_at",
    "invoice__public_id",
    "invoice__number",
    "invoice__status",
    "invoice__pdf_name",
    "invoice__pdf_sha256",
    "invoice__pdf_size",
    "invoice__client__is_active",
)


def link_redeem(*, token: str, client_id: int | None) -> DownloadLink | None:
    """Count one download against the link for ``token`` if it is usable by ``client_id``.

    Checks, in this order: well-formed token; a link with that digest whose invoice belongs
    to this client (both in the query, so another client's link is "unknown"); invoice
    issued or paid; client active; link not revoked, not expired, not used up. Returns the
    link (with its invoice) or ``None`` for every failure alike. ``link_find`` then
    ``link_take``, for callers with work to do in between (the download's file check).
    """
    link = link_find(token=token, client_id=client_id)
    if link is None or not link_take(link=link):
        return None
    return link


def link_find(*, token: str, client_id: int | None) -> DownloadLink | None:
    """The usable link for ``token`` and ``client_id`` (the checks of ``link_redeem``),
    without counting a download yet; ``None`` for every failure alike."""
    if client_id is None or not tokens.is_well_formed(token):
        logger.info("download link refused")
        return None
    digest = tokens.token_digest(NAMESPACE, token)
    # Only the columns a download uses (fewer to fetch and convert on every download);
    # token_digest is unique, so no ORDER BY (the model's default ordering) either.
    found = (
        DownloadLink.objects.select_related("invoice", "invoice__client")
        .only(*_REDEEM_FIELDS)
        .filter(token_digest=digest, invoice__client_id=client_id)
        .order_by()[:1]
    )
    link = next(iter(found), None)
    if not _usable(link, _now()) or not tokens.digests_match(link.token_digest, NAMESPACE, token):
        logger.info("download link refused")
        return None
    return link


def link_take(*, link: DownloadLink) -> bool:
    """Count one download against ``link`` (found by ``link_find``) if it is still usable.

    One UPDATE whose WHERE repeats what a concurrent request can change: two racing
    requests cannot both take the last download of a limited link, and a download cannot
    slip past a concurrent revocation or void (voiding revokes the invoice's links in its
    own transaction). The database settles the race on the link's row (PostgreSQL re-checks
    the WHERE after waiting for the row lock; SQLite runs one writer at a time), so no
    transaction has to hold the write lock across the lookup: with SQLite, that lock is
    shared by every worker (docs/performance.md).
    """
    counted = (
        DownloadLink.objects.filter(pk=link.pk, revoked_at__isnull=True, expires_at__gt=_now())
        .filter(Q(max_downloads__isnull=True) | Q(download_count__lt=F("max_downloads")))
        # Re-checked in the same statement: a client deactivated (which revokes no link) or
        # an invoice voided between the lookup and this count stops this download too. A
        # subquery on the link's own invoice_id column, not a join: with a join, Django
        # moves the whole WHERE into "id IN (SELECT ...)", which PostgreSQL does not
        # re-check after waiting for the row lock, and two racing requests could both
        # take the last download (tests/reliability/test_races.py).
        .filter(
            invoice__in=Invoice.objects.filter(
                pk=link.invoice_id, status__in=DOWNLOADABLE_STATUSES, client__is_active=True
            )
        )
        .update(download_count=F("download_count") + 1)
    )
    if counted != 1:
        logger.info("download link refused")
        return False
    link.download_count += 1
    return True


def link_check(*, token: str, client_id: int | None) -> DownloadLink | None:
    """The link for ``token`` if ``client_id`` may use it now, without counting a download
    (for the email link that opens the invoice's page). Same checks and same ``None`` for
    every failure as ``link_redeem``."""
    if client_id is None or not tokens.is_well_formed(token):
        return None
    link = (
        DownloadLink.objects.select_related("invoice", "invoice__client")
        .filter(token_digest=tokens.token_digest(NAMESPACE, token), invoice__client_id=client_id)
        .first()
    )
    usable = _usable(link, _now(), counting=False)
    if not usable or not tokens.digests_match(link.token_digest, NAMESPACE, token):
        return None
    return link
