"""The benchmarks' seed data: clients, contacts, verified sessions and invoices written
through the product's own services, in an installation's Django process.

Each seed is a function that needs Django set up (it imports the models when called) and
returns what the benchmark needs next as JSON-ready data. A benchmark runs one in its
installation's environment as ``python -m benchmarks.seed <what> ...`` (``run_seed`` does
that and reads the JSON line the command prints last), or calls it in-process when Django
is already set up there (``benchmarks.download_profile``)::

    python -m benchmarks.seed download --pdf 200KB=/tmp/200KB.pdf --pdf 2MB=/tmp/2MB.pdf
    python -m benchmarks.seed memory --pdf /tmp/large.pdf
    python -m benchmarks.seed login --password '...' --accounts 40
    python -m benchmarks.seed month-end-clients --clients 100
    python -m benchmarks.seed month-end-invoices
    python -m benchmarks.seed load --contacts 50 --clients 5 --invoices 30

Only for throwaway installations: the seeds add clients, contacts and invoices, and the
sessions they create pass the second factor without a code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "download_links",
    "load_contacts",
    "login_accounts",
    "memory_sessions",
    "month_end_clients",
    "month_end_invoices",
    "run_seed",
]

ROOT = Path(__file__).resolve().parent.parent


def run_seed(env: Mapping[str, str], what: str, *args: str, timeout: float = 300) -> Any:
    """``python -m benchmarks.seed what args`` from the repository with ``env`` (an
    installation's environment); the JSON of its last output line. Refuses (RuntimeError)
    a seed that fails, with its output."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.seed", what, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"seed {what} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _verified_session(user: Any, device_name: str) -> str:
    """The key of a new session in which ``user`` is logged in and has passed the second
    factor (a confirmed TOTP device), as django_otp.login and the 2FA gate leave it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from clients.middleware import AUTH_AT, SEEN_AT

    device = TOTPDevice.objects.create(user=user, name=device_name, confirmed=True)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "clients.backends.ContactAwareBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[AUTH_AT] = session[SEEN_AT] = time.time()
    session.create()
    return session.session_key


def download_links(paths: Mapping[str, Path]) -> dict[str, Any]:
    """One contact with a verified session; per label of ``paths`` an issued invoice of that
    PDF with a link (no download limit, 30 days). Returns the session key, the links'
    tokens and the stored files' names and sizes, by label."""
    from clients.models import Client, User
    from invoices.services import invoice_create, link_create

    client = Client.objects.create(name="Benchmark GmbH")
    user = User.objects.create_user("bench@example.test", client=client)
    out: dict[str, Any] = {"session": _verified_session(user, "bench"), "links": {}, "files": {}}
    for label, path in paths.items():
        with open(path, "rb") as handle:
            invoice = invoice_create(
                client=client,
                number=f"BENCH-{label}",
                issue_date=dt.date(2026, 11, 1),
                due_date=dt.date(2026, 12, 1),
                total=Decimal("1000.00"),
                currency="EUR",
                pdf=handle,
                original_filename=f"{label}.pdf",
                issue=True,
            )
        _link, token = link_create(invoice=invoice, ttl=dt.timedelta(days=30), max_downloads=None)
        out["links"][label] = token
        out["files"][label] = {"name": invoice.pdf_name, "size": invoice.pdf_size}
    return out


def memory_sessions(pdf: Path) -> dict[str, Any]:
    """An owner and a staff superuser with verified sessions, and an issued invoice of
    ``pdf`` with a link (1 day); needs the installation's upload cap to admit ``pdf``."""
    from clients.models import Client, User
    from invoices.services import invoice_create, link_create

    client = Client.objects.create(name="Memory GmbH")
    owner = User.objects.create_user("memory-owner@example.test", client=client)
    staff = User.objects.create_user("memory-staff@example.test", is_staff=True, is_superuser=True)
    out: dict[str, Any] = {
        "client": client.pk,
        "owner_session": _verified_session(owner, "memory"),
        "staff_session": _verified_session(staff, "memory"),
    }
    with open(pdf, "rb") as handle:
        invoice = invoice_create(
            client=client,
            number="MEM-DOWNLOAD",
            issue_date=dt.date(2026, 11, 1),
            due_date=dt.date(2026, 12, 1),
            total=Decimal("1.00"),
            currency="EUR",
            pdf=handle,
            original_filename="large.pdf",
            issue=True,
        )
    _link, out["token"] = link_create(invoice=invoice, ttl=dt.timedelta(days=1))
    out["sha256"], out["size"] = invoice.pdf_sha256, invoice.pdf_size
    return out


def _median_ms(func: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def login_accounts(password: str, accounts: int) -> dict[str, Any]:
    """Time the configured hasher (median ms of check_password and make_password), then add
    ``accounts`` contacts ``login<n>@bench.example`` plus ``locked@`` and ``wrong0..39@``,
    without 2FA, all with one hash of ``password``. Returns the hasher's parameters and
    times."""
    from django.contrib.auth.hashers import check_password, get_hasher, make_password

    from clients.models import Client, User

    hasher = get_hasher("default")
    encoded = make_password(password)
    check_ms = _median_ms(lambda: check_password(password, encoded), 15)
    make_ms = _median_ms(lambda: make_password(password), 10)
    client = Client.objects.create(name="Login bench GmbH")
    for n in range(accounts):
        User.objects.create_user(email=f"login{n}@bench.example", client=client, password=None)
    for name in ["locked"] + [f"wrong{n}" for n in range(40)]:
        User.objects.create_user(email=f"{name}@bench.example", client=client, password=None)
    User.objects.filter(client=client).update(password=encoded)
    return {
        "algorithm": hasher.algorithm,
        "memory_cost": hasher.memory_cost,
        "time_cost": hasher.time_cost,
        "parallelism": hasher.parallelism,
        "check_ms": check_ms,
        "make_ms": make_ms,
    }


def month_end_clients(clients: int) -> int:
    """``clients`` clients with two contacts each (``ap@`` and ``cfo@client<nnn>.example``);
    returns how many clients it added."""
    from clients.models import Client, User

    for n in range(clients):
        client = Client.objects.create(name=f"Month-end client {n:03} GmbH")
        for who in ("ap", "cfo"):
            User.objects.create_user(email=f"{who}@client{n:03}.example", client=client)
    return clients


def month_end_invoices() -> list[tuple[str, str]]:
    """Every invoice's number and status, in the order they were created."""
    from invoices.models import Invoice

    return list(Invoice.objects.order_by("id").values_list("number", "status"))


def _load_pdf(text: str) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer)
    for page in range(2):
        for line in range(30):
            drawing.drawString(72, 760 - 20 * line, f"{text} page {page + 1} line {line + 1}")
        drawing.showPage()
    drawing.save()
    return buffer.getvalue()


def load_contacts(contacts: int = 50, clients: int = 5, invoices: int = 30) -> list[dict[str, str]]:
    """``clients`` new clients with ``invoices`` issued invoices each (unique PDFs of a few
    KB) and ``contacts`` contacts spread over them, without a second factor, sharing one
    random password. Returns the credentials (a list of {"email", "password"})."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from clients.models import Client, User
    from invoices.services import invoice_create

    run = secrets.token_hex(4)
    password = secrets.token_urlsafe(18)
    hashed = make_password(password)
    credentials = []
    with transaction.atomic():
        made = []
        for c in range(clients):
            client = Client.objects.create(name=f"Load test {run} client {c + 1}")
            made.append(client)
            for i in range(invoices):
                number = f"LOAD-{run}-{c + 1}-{i + 1:03d}"
                issued = dt.date(2025 + i % 2, 1 + i % 12, 1 + i % 28)
                invoice_create(
                    client=client,
                    number=number,
                    issue_date=issued,
                    due_date=issued + dt.timedelta(days=30),
                    total=Decimal(100 + i),
                    currency="EUR",
                    pdf=io.BytesIO(_load_pdf(number)),
                    original_filename=number + ".pdf",
                    issue=True,
                )
        for n in range(contacts):
            email = f"load-{run}-{n + 1}@example.test"
            user = User.objects.create_user(email, client=made[n % len(made)])
            user.password = hashed
            user.save(update_fields=["password"])
            credentials.append({"email": email, "password": password})
    return credentials


def _label_and_path(value: str) -> tuple[str, Path]:
    label, sep, path = value.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH, got {value!r}")
    return label, Path(path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.seed",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    seeds = parser.add_subparsers(dest="what", required=True)
    download = seeds.add_parser("download", help=download_links.__doc__)
    download.add_argument("--pdf", type=_label_and_path, action="append", required=True)
    memory = seeds.add_parser("memory", help=memory_sessions.__doc__)
    memory.add_argument("--pdf", type=Path, required=True)
    login = seeds.add_parser("login", help=login_accounts.__doc__)
    login.add_argument("--password", required=True)
    login.add_argument("--accounts", type=int, default=40)
    month_end = seeds.add_parser("month-end-clients", help=month_end_clients.__doc__)
    month_end.add_argument("--clients", type=int, default=100)
    seeds.add_parser("month-end-invoices", help=month_end_invoices.__doc__)
    load = seeds.add_parser("load", help=load_contacts.__doc__)
    load.add_argument("--contacts", type=int, default=50)
    load.add_argument("--clients", type=int, default=5)
    load.add_argument("--invoices", type=int, default=30)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invoiceportal.settings")  # as manage.py
    import django

    django.setup()
    seeds: dict[str, Callable[[], Any]] = {
        "download": lambda: download_links(dict(args.pdf)),
        "memory": lambda: memory_sessions(args.pdf),
        "login": lambda: login_accounts(args.password, args.accounts),
        "month-end-clients": lambda: month_end_clients(args.clients),
        "month-end-invoices": month_end_invoices,
        "load": lambda: load_contacts(args.contacts, args.clients, args.invoices),
    }
    print(json.dumps(seeds[args.what]()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
