"""Where a download's time goes inside Django: the WSGI application called in-process, as a
gunicorn worker calls it, for one authenticated download through a valid link, audited.

Builds a throwaway installation (SQLite, a temporary directory), seeds one client contact
with a verified TOTP device and an issued invoice (--size-kib, 200) with a link (no download limit),
then calls the WSGI application --requests times with the contact's session cookie over
"HTTPS" (as behind nginx: INVOICEPORTAL_SENDFILE=nginx, so Django's part only). Prints CPU
and wall time per download, the SQL statements of one download, and the functions that
took the most time under cProfile.

Run::

    .venv/bin/python -m benchmarks.download_profile                  # 2,000 downloads
    .venv/bin/python -m benchmarks.download_profile --sendfile django --top 40

docs/performance.md ("Download path") quotes its output. Starts no process; removes its
temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

# The steps of a download, as (file, function) in the profile; they nest (see the code).
PARTS = {
    "whole request (WSGI handler)": ("wsgi.py", "__call__"),
    "session load (SessionStore.load)": ("db.py", "load"),
    "user load (ContactAwareBackend.get_user)": ("backends.py", "get_user"),
    "OTP device from the session": ("middleware.py", "_device_from_persistent_id"),
    "link lookup and count (link_redeem)": ("tokens.py", "link_redeem"),
    "file check (content_matches)": ("storage.py", "content_matches"),
    "reading and hashing the file (digest_of)": ("storage.py", "digest_of"),
    "audit row (audit_record)": ("services.py", "audit_record"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.download_profile",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--requests", type=int, default=2000, help="downloads to time (2000)")
    parser.add_argument("--sendfile", choices=("nginx", "django"), default="nginx")
    parser.add_argument("--top", type=int, default=25, help="functions to list (25)")
    parser.add_argument("--size-kib", type=int, default=200, help="the PDF's size (200)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-download-profile-"))
    try:
        return _profile(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _profile(args: argparse.Namespace, tmp: Path) -> int:
    """Set Django up on a fresh installation in ``tmp``, seed it, time and profile."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "invoiceportal.settings",
            "INVOICEPORTAL_DATA_DIR": str(tmp / "data"),
            "INVOICEPORTAL_STATIC_ROOT": str(tmp / "static"),
            "INVOICEPORTAL_SENDFILE": args.sendfile,
            "INVOICEPORTAL_BEHIND_PROXY": "1",
            "INVOICEPORTAL_BASE_URL": "https://localhost",
            "DATABASE_URL": "",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    from benchmarks.download import make_pdf
    from benchmarks.seed import download_links

    call_command("migrate", "--noinput", verbosity=0)
    pdf = tmp / "invoice.pdf"
    pdf.write_bytes(make_pdf(args.size_kib * 1024, seed=0))
    with contextlib.redirect_stdout(io.StringIO()):  # the console email backend's notice
        seeded = download_links({"200KB": pdf})
    # The check remembers only files older than a few seconds (invoices.storage.RACY_NS).
    from invoices import storage

    storage._now_ns = lambda: time.time_ns() + 3600 * 10**9

    application = get_wsgi_application()
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"/d/{seeded['links']['200KB']}/",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "HTTP_COOKIE": f"__Host-sessionid={seeded['session']}",
        "HTTP_USER_AGENT": "download_profile/1.0",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_FOR": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def download() -> None:
        response = application(dict(environ, **{"wsgi.input": io.BytesIO(b"")}), start_response)
        for _chunk in response:
            pass
        response.close()

    for _ in range(50):  # warm up: imports, the session's idle clock, the file check
        download()
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        download()
    statuses.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.requests):
        download()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if set(statuses) != {"200 OK"}:
        print(f"not every download succeeded: {sorted(set(statuses))}", file=sys.stderr)
        return 1

    print(f"sendfile={args.sendfile}: {args.requests} downloads of {pdf.stat().st_size:,} bytes")
    print(
        f"  per download: {cpu / args.requests * 1000:.2f} ms CPU, "
        f"{wall / args.requests * 1000:.2f} ms wall"
    )
    print(f"  statements per download: {len(statements)}")
    for sql in statements:
        print(f"    {sql[:110]}")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(min(args.requests, 1000)):
        download()
    profile.disable()
    stats = pstats.Stats(profile, stream=sys.stdout)
    stats.strip_dirs()
    total = stats.total_tt
    print(
        f"\nShares of the profiled time ({total:.2f} s for {min(args.requests, 1000)} downloads):"
    )
    for label, (file, function) in PARTS.items():
        found = [
            (cum, key)
            for key, (_cc, _nc, _tt, cum, _callers) in stats.stats.items()
            if key[0] == file and key[2] == function
        ]
        cumulative = max((cum for cum, _ in found), default=0.0)
        print(f"  {cumulative / total:6.1%}  {label} ({file}:{function})")
    for order in ("cumulative", "tottime"):
        print(f"\ncProfile, by {order} (first {args.top}):")
        stats.sort_stats(order).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
