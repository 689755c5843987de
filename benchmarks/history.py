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

    .venv/bin/python -m benchmarks.history --out bench-output \\
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
import json
import os
import platform
import secrets
import shutil
import signal
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
# The parent: databases, children (benchmarks/history_child.py), report
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
        "-m",
        "benchmarks.history_child",
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
    # The child module with arguments built above: no outside input reaches the command.
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
        prog="python -m benchmarks.history",
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
    args = parser.parse_args(argv)
    if args.samples < 10 or args.warmup < 0:
        parser.error("--samples must be at least 10 and --warmup not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
    command = "-m benchmarks.history " + " ".join(
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
