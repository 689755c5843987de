"""The history page at scale (issue 7, item 2), on SQLite and PostgreSQL.

One client with 10,000 invoices among 1,000 clients and 200,000 invoices in total, and one
client with 10 invoices. For each database, the p50 render time of the history's first and
last page for the big client is compared with the same page for the small client (target:
ratio <= 1.5), and the SQL queries each page costs are counted.

The render goes through the real stack: Django's test client (a WSGI call) with the real
settings and full middleware, as a contact who is logged in and has passed the second
factor (a confirmed TOTP device in the session, as django_otp.login leaves it), over
HTTPS. Pages are requested in rounds (every page once per round) after a warm-up, so that
noise from other processes spreads over all pages alike.

Seeding builds the rows the services would (issued, paid and void invoices and credit
notes with numbers, due dates, totals; a few drafts the client never sees) with
bulk_create in one transaction; every invoice points at one small stored PDF. Audit rows
are not seeded: the history page does not read them.

Run it (about 1 to 3 minutes for both databases; `make bench` runs it with --out)::

    .venv/bin/python benchmarks/history.py --out bench-output \\
        --pg-url postgres://postgres@127.0.0.1:5432/invoiceportal

It writes bench-output/history.json and bench-output/history.md (the fragment quoted in
docs/performance.md) and prints the fragment. For PostgreSQL it creates a database of its
own (invoiceportal_bench_history_<pid>_<random>) on the server of --pg-url and drops it
afterwards; it touches no other database. Each database is measured in a child process
(Django is configured once per process), started in its own process group and killed
with it on errors and Ctrl-C; the temporary directory is removed.

To measure code from before the keyset pagination (commit 48a475f, page numbers), pass
``--last-page-query page=400``: the last page is then addressed by its number.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/invoiceportal"
TARGET_RATIO = 1.5
BIG, SMALL = 10_000, 10
CLIENTS, TOTAL = 1_000, 200_000
CHILD_TIMEOUT = 600  # seconds; a child that hangs is killed with its process group


def log(message: str) -> None:
    print(f"[history] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# The child: one database, seeded and measured inside one Django process
# ---------------------------------------------------------------------------------------


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
    sys.path.insert(0, str(ROOT))
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


# ---------------------------------------------------------------------------------------
# The parent: databases, children, report
# ---------------------------------------------------------------------------------------


def _pg_admin(url: str, sql: str) -> None:
    """Run ``sql`` on the server's maintenance database "postgres" (as Django does to create
    a test database): the database named in ``url`` need not exist."""
    import psycopg

    with psycopg.connect(_with_dbname(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


def _with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _run_child(args: argparse.Namespace, label: str, db_url: str, workdir: Path) -> dict:
    result = workdir / f"{label}.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--label",
        label,
        "--db-url",
        db_url,
        "--workdir",
        str(workdir / label),
        "--result",
        str(result),
        "--samples",
        str(args.samples),
        "--warmup",
        str(args.warmup),
        "--last-page-query",
        args.last_page_query,
    ]
    (workdir / label).mkdir(mode=0o700)
    # This very script with arguments built above: no outside input reaches the command.
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    try:
        code = process.wait(timeout=CHILD_TIMEOUT)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if code != 0:
        raise SystemExit(f"the {label} run failed (exit status {code})")
    return json.loads(result.read_text())


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "### History page at scale: results",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores; {m['os']}",
        f"- Versions: Python {m['python']}, Django {m['django']}, "
        + ", ".join(f"{r['database']} {r['version']}" for r in report["results"]),
        f"- Command: `{report['command']}`",
        f"- Data: {CLIENTS:,} clients, {TOTAL:,} invoices (+ one draft per client); the big "
        f"client has {BIG:,}, the small one {SMALL}; 25 invoices per page; "
        f"{report['samples']} samples per page after {report['warmup']} warm-up rounds",
        "",
        "| database | page | p50, 10 invoices | p50, 10,000 invoices | ratio | queries "
        "(10 / 10,000) | target <= 1.5 |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in report["results"]:
        for page in ("first", "last"):
            small, big = r["p50_ms"][f"small/{page}"], r["p50_ms"][f"big/{page}"]
            ratio = r["ratio"][page]
            q = f"{r['queries'][f'small/{page}']} / {r['queries'][f'big/{page}']}"
            met = "met" if ratio <= TARGET_RATIO else "NOT met"
            lines.append(
                f"| {r['database']} | {page} | {small:.2f} ms | {big:.2f} ms | {ratio:.2f} "
                f"| {q} | {met} |"
            )
    for r in report["results"]:
        for page in [p for p in ("first", "last", "middle") if p in r["plans"]]:
            lines += ["", f"Plans, {r['database']}, 10,000 invoices, {page} page:", "", "```"]
            for entry in r["plans"][page]:
                lines += [entry["sql"][:160] + " ...", *entry["plan"].splitlines(), ""]
            lines[-1] = "```"
    lines += [
        "",
        "Seeding: "
        + "; ".join(f"{r['database']} {r['seed_seconds']} s" for r in report["results"])
        + ".",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Render time and queries of the invoice history page for a client with "
        "10,000 invoices versus one with 10, on SQLite and PostgreSQL.",
    )
    parser.add_argument("--out", type=Path, help="directory for history.json and history.md")
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help="PostgreSQL server to use (a database of the benchmark's own is created and "
        f"dropped on it; default {DEFAULT_PG_URL})",
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default both)",
    )
    parser.add_argument("--samples", type=int, default=300, help="samples per page (300)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up rounds (20)")
    parser.add_argument(
        "--last-page-query",
        default="page=last",
        help="query string of the last page (default page=last; page=400 for page numbers)",
    )
    # Internal: the child process that measures one database.
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--label", help=argparse.SUPPRESS)
    parser.add_argument("--db-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.samples < 10 or args.warmup < 0:
        parser.error("--samples must be at least 10 and --warmup not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return 0
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown or not databases:
        raise SystemExit(f"unknown databases: {', '.join(sorted(unknown)) or '(none)'}")
    import django

    # A plain `kill` stops the run like Ctrl-C does: through the finally blocks below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="invoiceportal-bench-history-"))
    pg_name = f"invoiceportal_bench_history_{os.getpid()}_{secrets.token_hex(4)}"
    pg_created = False
    results = []
    started = time.monotonic()
    try:
        for label in databases:
            db_url = ""
            if label == "postgresql":
                log(f"creating database {pg_name}")
                _pg_admin(args.pg_url, f'CREATE DATABASE "{pg_name}"')
                pg_created = True
                db_url = _with_dbname(args.pg_url, pg_name)
            results.append(_run_child(args, label, db_url, workdir))
            if pg_created:
                _pg_admin(args.pg_url, f'DROP DATABASE "{pg_name}" WITH (FORCE)')
                pg_created = False
    finally:
        if pg_created:
            with contextlib.suppress(Exception):
                _pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)
    command = "benchmarks/history.py " + " ".join(
        a for a in (sys.argv[1:] if argv is None else argv)
    )
    report = {
        "benchmark": "history",
        "command": f".venv/bin/python {command}".strip(),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "os": platform.platform(),
            "python": platform.python_version(),
            "django": django.get_version(),
        },
        "samples": args.samples,
        "warmup": args.warmup,
        "target_ratio": TARGET_RATIO,
        "seconds": round(time.monotonic() - started, 1),
        "results": results,
        "target_met": all(r <= TARGET_RATIO for x in results for r in x["ratio"].values()),
    }
    fragment = _markdown(report)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "history.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "history.md").write_text(fragment)
    print(fragment)
    log(f"done in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
