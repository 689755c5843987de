"""Password reset: does the answer take as long for an address with an account as for one
without, and for a limited request (issue 12, item 6)?

    .venv/bin/python -m benchmarks.reset_timing [--rounds 300] [--json FILE]

Builds a throwaway installation in a temporary directory (SQLite unless DATABASE_URL is
set: then that server, in a database of the test runner's own name), migrates it, adds one
contact with a password, and posts the reset form through Django's whole stack (middleware,
CSRF, the view, the audit row, the queue) with Django's test client, over HTTPS. Three kinds
of request alternate, each taking each place in the round in turn, so that a busy machine
slows all three alike:

- known: the contact's address (an email is queued, then sent);
- unknown: an address without an account (a dropped row is queued);
- limited: the known address once its per-address limit is reached (a dropped row).

The answer's time is measured from the request to the moment the WSGI server would start
closing the response (``RedirectThenSendMail.close``), which is when the client has the
whole answer; the email is sent after that, inside ``close()``, and is timed separately.
Each kind uses client addresses of its own, so that the per-client-address limit never
mixes them. Prints medians, 95th percentiles and the difference known - unknown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup(data_dir: str) -> None:
    os.environ["INVOICEPORTAL_DATA_DIR"] = data_dir
    os.environ.setdefault("INVOICEPORTAL_STATIC_ROOT", os.path.join(data_dir, "static"))
    os.makedirs(os.environ["INVOICEPORTAL_STATIC_ROOT"], exist_ok=True)
    os.environ["INVOICEPORTAL_RESET_LIMIT_PER_IP"] = "1000000"
    os.environ["DJANGO_SETTINGS_MODULE"] = "invoiceportal.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the locmem mail backend: the timing is about our work
    if os.environ.get("DATABASE_URL"):
        from django.db import connection

        connection.creation.create_test_db(verbosity=0)
    else:
        call_command("migrate", verbosity=0)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reset-timing-") as data_dir:
        _setup(data_dir)
        from django.conf import settings
        from django.db import connection
        from django.test import Client

        from audit.models import AuditEvent
        from business.services import profile_get
        from clients.account_views import RedirectThenSendMail
        from clients.models import Client as Organisation
        from clients.models import User

        settings.RESET_LIMIT_PER_ADDRESS = 10**9
        # Send inline, in close(), so that the email's cost is timed here ("after") and no
        # background sender competes with the measured answers; in production close() only
        # wakes notifications.flusher's thread (docs/security.md).
        settings.MAIL_FLUSH_IN_BACKGROUND = False
        acme = Organisation.objects.create(name="Acme GmbH")
        User.objects.create_user(email="ap@acme.example", password="x" * 20, client=acme)
        limited = User.objects.create_user(
            email="limited@acme.example", password="x" * 20, client=acme
        )
        profile_get()
        marks: dict[str, float] = {}
        original_close = RedirectThenSendMail.close

        def timed_close(self: RedirectThenSendMail) -> None:
            marks["answer"] = time.perf_counter()
            original_close(self)
            marks["closed"] = time.perf_counter()

        RedirectThenSendMail.close = timed_close  # type: ignore[method-assign]
        web = Client()
        times: dict[str, list[float]] = {"known": [], "unknown": [], "limited": []}
        after: dict[str, list[float]] = {"known": [], "unknown": [], "limited": []}
        addresses = {
            "known": "ap@acme.example",
            "unknown": "nobody@acme.example",
            "limited": limited.email,
        }
        for round_ in range(args.rounds + 20):  # the first 20 rounds warm up
            order = list(addresses.items())
            shift = round_ % len(order)  # each kind takes each place in turn
            for kind, address in order[shift:] + order[:shift]:
                n = list(addresses).index(kind)
                if kind == "limited":
                    settings.RESET_LIMIT_PER_ADDRESS = 0 if round_ else 10**9
                ip = f"10.{n}.{round_ // 250}.{round_ % 250 + 1}"
                start = time.perf_counter()
                response = web.post(
                    "/accounts/password-reset/", {"email": address}, secure=True, REMOTE_ADDR=ip
                )
                settings.RESET_LIMIT_PER_ADDRESS = 10**9
                if response.status_code != 302:
                    raise SystemExit(f"unexpected answer {response.status_code}")
                if round_ >= 20:
                    times[kind].append((marks["answer"] - start) * 1000)
                    after[kind].append((marks["closed"] - marks["answer"]) * 1000)
        figures = {
            kind: {
                "median_ms": round(statistics.median(values), 3),
                "p95_ms": round(_percentile(values, 0.95), 3),
                "after_answer_median_ms": round(statistics.median(after[kind]), 3),
            }
            for kind, values in times.items()
        }
        known, unknown = figures["known"]["median_ms"], figures["unknown"]["median_ms"]
        result = {
            "rounds": args.rounds,
            "database": connection.vendor,
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "audit_rows": AuditEvent.objects.count(),
            "figures": figures,
            "known_minus_unknown_ms": round(known - unknown, 3),
        }
        print(f"{'request':<10} {'median':>10} {'p95':>10} {'sent after':>12}")
        for kind, row in figures.items():
            print(
                f"{kind:<10} {row['median_ms']:>8.2f}ms {row['p95_ms']:>8.2f}ms "
                f"{row['after_answer_median_ms']:>10.2f}ms"
            )
        print(f"known - unknown (medians): {known - unknown:+.3f} ms ({connection.vendor})")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        if os.environ.get("DATABASE_URL"):
            connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
