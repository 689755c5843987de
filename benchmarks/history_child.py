"""The history benchmark's child process: one database, seeded and measured inside one
Django process (Django is configured once per process). ``python -m benchmarks.history``
starts it once per database, in its own process group, as::

    python -m benchmarks.history_child --label sqlite --db-url "" --workdir DIR \\
        --result DIR/sqlite.json --samples 300 --warmup 20 --last-page-query page=last

and reads the JSON it writes to --result. Not meant to be run by hand: it seeds 200,000
invoices into the database of --db-url (or a new SQLite database under --workdir).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

from benchmarks.history import BIG, CLIENTS, SMALL, TOTAL, log

__all__ = ["child_main", "main"]


def _django_setup(workdir: Path, db_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "invoiceportal.settings"
    os.environ["INVOICEPORTAL_DATA_DIR"] = str(workdir / "data")
    os.environ["INVOICEPORTAL_STATIC_ROOT"] = str(workdir / "static")
    os.environ["INVOICEPORTAL_ENVIRONMENT"] = "embedded"
    os.environ["INVOICEPORTAL_DEBUG"] = "0"
    if db_url:
        os.environ["DATABASE_URL"] = db_url
    else:
        os.environ.pop("DATABASE_URL", None)
    (workdir / "data").mkdir(mode=0o700, parents=True, exist_ok=True)
    import django

    django.setup()


def _seed(pdf: bytes) -> dict[str, object]:
    """1,000 clients, 200,000 invoices; returns the two contacts' ids and the row counts."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.db.models import OuterRef, Subquery
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from clients.models import Client, User
    from invoices import storage
    from invoices.models import Invoice, InvoiceKind, InvoiceStatus

    stored = storage.store_pdf(iter([pdf]), max_bytes=len(pdf) + 1)
    now = timezone.now()
    start = dt.date(2017, 1, 2)
    span_days = (dt.date(2026, 11, 20) - start).days
    others = CLIENTS - 2
    per_other, extra = divmod(TOTAL - BIG - SMALL, others)
    with transaction.atomic():
        clients = Client.objects.bulk_create(
            [Client(name=f"Bench client {i:04d}") for i in range(CLIENTS)], batch_size=1000
        )
        big, small = clients[0], clients[1]
        counts = {big.pk: BIG, small.pk: SMALL}
        for i, client in enumerate(clients[2:]):
            counts[client.pk] = per_other + (1 if i < extra else 0)
        serial = 0
        batch: list[Invoice] = []
        for client in clients:
            n = counts[client.pk]
            for k in range(n):
                serial += 1
                # Spread over ten years, oldest first; a few invoices share a day.
                issue = start + dt.timedelta(days=(k * span_days) // max(n, 1))
                status = InvoiceStatus.ISSUED
                paid_on = voided_at = None
                if k % 50 == 7:
                    status, voided_at = InvoiceStatus.VOID, now
                elif k < n - 12 or k % 3 == 0:
                    status, paid_on = InvoiceStatus.PAID, issue + dt.timedelta(days=20)
                kind = InvoiceKind.CREDIT_NOTE if k % 97 == 13 else InvoiceKind.INVOICE
                batch.append(
                    Invoice(
                        client=client,
                        number=f"B{client.pk:04d}-{issue.year}-{k + 1:05d}",
                        kind=kind,
                        issue_date=issue,
                        due_date=issue + dt.timedelta(days=30),
                        total=f"{100 + (serial * 37) % 9000}.{serial % 100:02d}",
                        subtotal=None,
                        currency="EUR" if k % 10 else "CHF",
                        status=status,
                        pdf_name=stored.name,
                        pdf_sha256=stored.sha256,
                        pdf_size=stored.size,
                        original_filename="invoice.pdf",
                        issued_at=now,
                        paid_on=paid_on,
                        voided_at=voided_at,
                    )
                )
            # Drafts: the consultant's, never listed.
            batch.append(
                Invoice(
                    client=client,
                    issue_date=start,
                    due_date=start,
                    total="1.00",
                    currency="EUR",
                    status=InvoiceStatus.DRAFT,
                )
            )
            if len(batch) >= 5000:
                Invoice.objects.bulk_create(batch, batch_size=2000)
                batch = []
        Invoice.objects.bulk_create(batch, batch_size=2000)
        # A credit note corrects an invoice, as credit_note_create makes it: the client's
        # invoice issued just before it.
        previous = (
            Invoice.objects.filter(
                client_id=OuterRef("client_id"), id__lt=OuterRef("id"), kind=InvoiceKind.INVOICE
            )
            .exclude(status=InvoiceStatus.DRAFT)
            .order_by("-id")
            .values("id")[:1]
        )
        Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE).update(
            credited_invoice_id=Subquery(previous)
        )
        if Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE, credited_invoice=None).exists():
            raise SystemExit("a seeded credit note corrects no invoice")
        contacts = {}
        for label, client in (("big", big), ("small", small)):
            user = User.objects.create(
                email=f"{label}@bench.example",
                password=make_password(None),
                client=client,
            )
            TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
            contacts[label] = user.pk
    try:
        from invoices.services.totals import year_totals_rebuild
    except ImportError:  # code from before the kept yearly totals (--last-page-query page=400)
        pass
    else:
        # bulk_create bypasses the services that keep the totals; build them as they would.
        year_totals_rebuild()
    with connection.cursor() as cursor:
        # What autovacuum (PostgreSQL) or `PRAGMA optimize` would have done in life.
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
    return {
        "contacts": contacts,
        "invoices": Invoice.objects.count(),
        "clients": Client.objects.count(),
        "big_visible": Invoice.objects.filter(client=big).exclude(status="draft").count(),
        "small_visible": Invoice.objects.filter(client=small).exclude(status="draft").count(),
    }


def _pdf_bytes() -> bytes:
    import io

    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer)
    drawing.drawString(72, 720, "Benchmark invoice")
    drawing.showPage()
    drawing.save()
    return buffer.getvalue()


def _session(user_id: int):
    from django.test import Client as WebClient
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from clients.models import User

    user = User.objects.get(pk=user_id)
    web = WebClient(HTTP_HOST="localhost")
    web.force_login(user)
    session = web.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return web


def _check_page(response, label: str, expect_rows: int) -> None:
    body = response.content.decode()
    if response.status_code != 200:
        raise SystemExit(f"{label}: status {response.status_code}, not the history page")
    rows = len(re.findall(r'href="/invoices/[0-9a-f-]{36}/"', body))
    if rows != expect_rows:
        raise SystemExit(f"{label}: {rows} invoice rows, expected {expect_rows}")


def _plans(connection, captured: list[dict]) -> list[dict[str, str]]:
    """The database's plan of each query of a page that reads invoices or their totals
    (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite)."""
    plans = []
    for query in captured:
        sql = query["sql"]
        if "invoices_invoice" not in sql:
            continue
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("EXPLAIN ANALYZE " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + sql)
                plan = "\n".join(row[-1] for row in cursor.fetchall())
        plans.append({"sql": sql, "plan": plan})
    return plans


def child_main(args: argparse.Namespace) -> None:
    """Migrate, seed and measure one database; write the figures to ``args.result``."""
    workdir = Path(args.workdir)
    _django_setup(workdir, args.db_url)
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    log(f"{args.label}: migrated in {time.monotonic() - started:.1f} s; seeding")
    started = time.monotonic()
    seeded = _seed(_pdf_bytes())
    seed_seconds = time.monotonic() - started
    log(
        f"{args.label}: seeded {seeded['invoices']:,} invoices of {seeded['clients']:,} "
        f"clients in {seed_seconds:.1f} s"
    )
    base = "/invoices/"
    last = f"{base}?{args.last_page_query}"
    big, small = seeded["contacts"]["big"], seeded["contacts"]["small"]
    cases = {
        ("big", "first"): (big, base, 25),
        ("big", "last"): (big, last, 25),
        ("small", "first"): (small, base, SMALL),
        ("small", "last"): (small, last, SMALL),
    }
    webs = {big: _session(big), small: _session(small)}
    queries: dict[str, int] = {}
    plans: dict[str, list[dict[str, str]]] = {}
    for (who, page), (user, url, rows) in cases.items():
        with CaptureQueriesContext(connection) as captured:
            response = webs[user].get(url, secure=True)
        _check_page(response, f"{args.label} {who} {page}", rows)
        queries[f"{who}/{page}"] = len(captured.captured_queries)
        if who == "big":
            plans[page] = _plans(connection, captured.captured_queries)
    if args.last_page_query == "page=last":  # the keyset pages (not code before them)
        # A page from the middle of the history, for its plan (the seek); not timed.
        from invoices.models import VISIBLE_STATUSES, Invoice

        listed = Invoice.objects.filter(client__contacts__pk=big, status__in=VISIBLE_STATUSES)
        anchor = listed.order_by("-issue_date", "-id")[BIG // 2]
        with CaptureQueriesContext(connection) as captured:
            response = webs[big].get(f"{base}?older={anchor.public_id}", secure=True)
        _check_page(response, f"{args.label} big middle", 25)
        queries["big/middle"] = len(captured.captured_queries)
        plans["middle"] = _plans(connection, captured.captured_queries)
    for _ in range(args.warmup):
        for user, url, _rows in cases.values():
            webs[user].get(url, secure=True)
    log(f"{args.label}: {args.samples} rounds of {len(cases)} pages")
    samples: dict[str, list[float]] = {f"{w}/{p}": [] for w, p in cases}
    for round_ in range(args.samples):
        for (who, page), (user, url, _rows) in cases.items():
            t0 = time.perf_counter()
            response = webs[user].get(url, secure=True)
            samples[f"{who}/{page}"].append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{who} {page}: status {response.status_code}")
        if (round_ + 1) % 50 == 0:
            log(f"{args.label}: {round_ + 1}/{args.samples} rounds")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        else:
            cursor.execute("SELECT sqlite_version()")
            version = cursor.fetchone()[0]
    p50 = {k: statistics.median(v) for k, v in samples.items()}
    p90 = {k: statistics.quantiles(v, n=10)[-1] for k, v in samples.items()}
    result = {
        "database": args.label,
        "version": version,
        "seed_seconds": round(seed_seconds, 1),
        "seeded": {k: v for k, v in seeded.items() if k != "contacts"},
        "samples": args.samples,
        "p50_ms": {k: round(v, 2) for k, v in p50.items()},
        "p90_ms": {k: round(v, 2) for k, v in p90.items()},
        "ratio": {
            page: round(p50[f"big/{page}"] / p50[f"small/{page}"], 2) for page in ("first", "last")
        },
        "queries": queries,
        "plans": plans,
    }
    Path(args.result).write_text(json.dumps(result, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.history_child",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--label", required=True, help="sqlite or postgresql")
    parser.add_argument("--db-url", default="", help='the database ("" for SQLite)')
    parser.add_argument("--workdir", required=True, help="data and static files go here")
    parser.add_argument("--result", required=True, help="write the figures here (JSON)")
    parser.add_argument("--samples", type=int, required=True, help="samples per page")
    parser.add_argument("--warmup", type=int, required=True, help="warm-up rounds")
    parser.add_argument("--last-page-query", required=True, help="query of the last page")
    child_main(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
