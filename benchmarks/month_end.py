"""Month-end: issuing 1,000 invoices with `manage.py issue_invoices`, progress and emails.

    .venv/bin/python -m benchmarks.month_end [--out bench-output] [--invoices 1000]
        [--pg-url postgres://postgres@127.0.0.1:5432/invoiceportal]

Builds a throwaway installation in a temporary directory (SQLite, or with --pg-url a
throwaway PostgreSQL database on that server, dropped afterwards): migrates it, adds 100
clients with two contacts each, and writes one JSON file of --invoices invoices (3 to 8
lines each, 1 page, round-robin over the clients). Then it runs, as a consultant would,

    manage.py issue_invoices batch.json --every 100

with Django's console email backend (the emails go to the command's stdout, kept in a file
here; its progress lines go to stderr, shown here). It reports the wall time of the whole
command, and the two parts the command prints: issuing (check, number, PDF, store, audit,
queue) and sending the emails. Afterwards it checks that every invoice is issued, that the
numbers are consecutive and that every contact got one email per invoice of its client;
it stops with an error otherwise. Target (issue 7): under 60 s for 1,000 invoices on the
2-core machine. Every process it starts is stopped, also on Ctrl-C; the directory and the
database are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._results import versions, write_results
from tests.support.servers import throwaway_database

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 100
TARGET_SECONDS = 60.0


def _run(cmd: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own process group; the group is killed if we are interrupted."""
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, text=True, **kwargs)
    try:
        out, err = process.communicate(timeout=900)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[1:4])} failed ({process.returncode}):\n{out}\n{err}")
    return subprocess.CompletedProcess(cmd, process.returncode, out, err)


def batch(invoices: int, issued: str) -> list[dict[str, Any]]:
    """``invoices`` invoices of 3 to 8 lines, round-robin over the seeded clients."""
    rng = random.Random(7)  # noqa: S311  (test data, the same file every run)
    return [
        {
            "client_email": f"ap@client{n % CLIENTS:03}.example",
            "issued": issued,
            "lines": [
                {
                    "description": f"Consulting for project {n}, work package {i + 1}",
                    "quantity": str(rng.choice([1, 2, 4, 7.5, 12])),
                    "unit": "h",
                    "unit_price": f"{rng.randint(80, 180)}.00",
                    "tax_rate": rng.choice(["19", "7"]),
                }
                for i in range(rng.randint(3, 8))
            ],
        }
        for n in range(invoices)
    ]


def one_run(invoices: int, pg_url: str, workdir: Path) -> dict[str, Any]:
    """Build the installation, issue the batch, verify; the figures of this run."""
    with throwaway_database(pg_url, prefix="bench_month_end") as db_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICEPORTAL_")}
        env.update(
            {
                "INVOICEPORTAL_DATA_DIR": str(workdir / "data"),
                "INVOICEPORTAL_STATIC_ROOT": str(workdir / "static"),
                "INVOICEPORTAL_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
                "DATABASE_URL": db_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        manage = [sys.executable, "manage.py"]
        seed = [sys.executable, "-m", "benchmarks.seed"]
        print(f"  setting up ({'PostgreSQL' if db_url else 'SQLite'}) ...", flush=True)
        _run([*manage, "migrate", "--noinput", "-v0"], env)
        _run([*seed, "month-end-clients", "--clients", str(CLIENTS)], env, stdout=subprocess.PIPE)
        path = workdir / "batch.json"
        path.write_text(json.dumps(batch(invoices, "2026-11-30")))
        print(f"  manage.py issue_invoices batch.json ({invoices} invoices) ...", flush=True)
        emails_path = workdir / "stdout.txt"
        start = time.perf_counter()
        with emails_path.open("w") as stdout:
            # stderr (the progress lines) is not captured: it shows as it happens
            _run([*manage, "issue_invoices", str(path), "--every", "100"], env, stdout=stdout)
        wall = time.perf_counter() - start
        output = emails_path.read_text()
        issued = re.search(r"Issued (\d+) invoice\(s\).* in ([\d.]+) s;", output)
        sent = re.search(
            r"Emails: (\d+) sent, (\d+) to retry, (\d+) given up, in ([\d.]+) s", output
        )
        if not issued or not sent:
            raise SystemExit("issue_invoices printed no summary:\n" + output[-2000:])
        rows = json.loads(
            _run([*seed, "month-end-invoices"], env, stdout=subprocess.PIPE)
            .stdout.strip()
            .splitlines()[-1]
        )
    numbers = [number for number, _status in rows]
    expected = [f"INV-2026-{n:04}" for n in range(1, invoices + 1)]
    if numbers != expected or {status for _n, status in rows} != {"issued"}:
        raise SystemExit(f"the invoices are not all issued with consecutive numbers: {rows[:5]}")
    messages = output.count("\nSubject: ")
    recipients = len(set(re.findall(r"^To: (.+)$", output, re.MULTILINE)))
    if int(sent.group(1)) != 2 * invoices or messages != 2 * invoices:
        raise SystemExit(f"expected {2 * invoices} emails, {messages} printed, {sent.group(0)}")
    return {
        "database": "PostgreSQL" if pg_url else "SQLite",
        "invoices": invoices,
        "wall_seconds": wall,
        "issue_seconds": float(issued.group(2)),
        "send_seconds": float(sent.group(4)),
        "emails": messages,
        "recipients": recipients,
        "met": wall < TARGET_SECONDS * invoices / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.month_end",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, help="write month_end.json and month_end.md here")
    parser.add_argument("--invoices", type=int, default=1000, help="default 1000")
    parser.add_argument(
        "--pg-url", default="", help="also run on PostgreSQL (a throwaway database there)"
    )
    args = parser.parse_args()
    runs = []
    for pg_url in ["", args.pg_url] if args.pg_url else [""]:
        with tempfile.TemporaryDirectory(prefix="bench-month-end-") as tmp:
            print(f"Month-end on {'PostgreSQL' if pg_url else 'SQLite'}:", flush=True)
            runs.append(one_run(args.invoices, pg_url, Path(tmp)))
            r = runs[-1]
            print(f"  {r['wall_seconds']:.1f} s in all", flush=True)
    body = [
        "| database | invoices | whole command | issuing | emails sent (count) "
        "| invoices/s | target < 60 s per 1,000 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        *(
            f"| {r['database']} | {r['invoices']} | {r['wall_seconds']:.1f} s "
            f"| {r['issue_seconds']:.1f} s | {r['send_seconds']:.1f} s ({r['emails']}) "
            f"| {r['invoices'] / r['wall_seconds']:.1f} | {'met' if r['met'] else 'NOT met'} |"
            for r in runs
        ),
        "",
        "Whole command: wall time of `manage.py issue_invoices` including Python's and "
        "Django's start-up and the check of the whole file; issuing and sending as the "
        f"command reports them. {CLIENTS} clients with 2 contacts each, 3 to 8 lines per "
        "invoice, Django's console email backend; numbers, statuses and emails verified.",
    ]
    write_results(
        args.out,
        "month_end",
        {
            "versions": versions("Django", "reportlab", "psycopg"),
            "runs": runs,
            "target_seconds_per_1000": TARGET_SECONDS,
        },
        body,
    )


if __name__ == "__main__":
    main()
