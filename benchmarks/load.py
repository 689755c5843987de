"""A bounded load test of a running portal: simulated client contacts log in, browse the
invoice history, open invoices and download them, for a fixed time, then stop.

Each simulated client has its own session (its own httpx.AsyncClient and cookies). It logs
in once with a contact's email address and password, then repeats until the time is up:

1. GET /invoices/ (the history) and, when there are several pages, one other page of it;
2. GET one invoice's page, reading the PDF's SHA-256 shown there and the CSRF token;
3. POST its Download button (302 to a one-time /d/<token>/ link) and GET the PDF;
4. check the PDF's SHA-256 against the one the invoice page showed.

It records requests by kind, status codes, latencies (p50/p95/p99), downloads served,
bytes, SHA-256 mismatches, server errors (5xx), unexpected answers and exceptions
(connection errors, timeouts). It stops by itself: no iteration starts after --seconds,
and everything is cancelled at a hard limit (--seconds + 2 x --timeout + 60 s).
The exit status is 1 when anything went wrong (see ``Report.problems``).

Usage against a running portal (loopback only unless --allow-remote; use a throwaway
installation, never production: the seed below adds clients, contacts and invoices)::

    # 1. Seed load-test clients, contacts and invoices (benchmarks/seed.py) with the
    #    portal's settings; prints the credentials as JSON. (--print-seed-script prints
    #    the same seed as Python for `manage.py shell -c`.)
    .venv/bin/python -m benchmarks.seed load --contacts 50 | tail -n 1 \\
        > /tmp/load-credentials.json
    # 2. Run 50 simulated clients for 60 s against it (`make run` serves TLS on 8443).
    .venv/bin/python -m benchmarks.load --base-url https://localhost:8443 \\
        --ca-cert data/tls/cert.pem --credentials /tmp/load-credentials.json \\
        --clients 50 --seconds 60 [--json /tmp/load-report.json]

The credentials file is a JSON list of ``{"email": ..., "password": ...}``; with fewer
contacts than --clients, contacts are shared round-robin (one session per simulated
client). Contacts must not need a second factor. Afterwards, the number of audit rows of
kind "download" should have grown by exactly the "downloads served" figure.

tests/reliability/test_load.py imports ``run_load``, ``seed_script`` and
``format_report`` and runs this against gunicorn with deploy/gunicorn.conf.py.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import ipaddress
import json
import logging
import random
import re
import socket
import ssl
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
INVOICE_RE = re.compile(r'href="(/invoices/[0-9a-f-]{36}/)"')
# The history's pager: ?older=<id>, ?newer=<id> and ?page=last (invoices/views.py).
PAGE_RE = re.compile(r'href="(\?(?:older|newer|page)=[^"]+)"')
DIGEST_RE = re.compile(r'<code class="digest">([0-9a-f]{64})</code>')
USER_AGENT = "invoiceportal-load/1.0"
KINDS = ("login_form", "login", "history", "history_page", "invoice", "download_button", "pdf")


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]


@dataclass
class Report:
    clients: int
    seconds: float
    elapsed: float = 0.0
    logins: int = 0
    iterations: int = 0
    downloads: int = 0  # 200 answers with a PDF body
    verified: int = 0  # of which the SHA-256 matched the invoice page's
    bytes: int = 0
    requests: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)  # "kind status" -> count
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sha_mismatches: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def all_latencies(self) -> list[float]:
        return [ms for samples in self.latencies.values() for ms in samples]

    def problems(self) -> list[str]:
        found = []
        for name in ("server_errors", "exceptions", "unexpected", "sha_mismatches"):
            items = getattr(self, name)
            if items:
                found.append(f"{len(items)} {name.replace('_', ' ')}, e.g. {items[:3]}")
        if self.downloads == 0:
            found.append("no download was served")
        if self.verified != self.downloads:
            found.append(f"{self.downloads - self.verified} downloads not verified")
        return found

    def as_dict(self) -> dict:
        def figures(samples: list[float]) -> dict:
            return {
                "count": len(samples),
                "p50_ms": round(percentile(samples, 50), 1),
                "p95_ms": round(percentile(samples, 95), 1),
                "p99_ms": round(percentile(samples, 99), 1),
                "max_ms": round(max(samples, default=0.0), 1),
            }

        return {
            "clients": self.clients,
            "seconds": self.seconds,
            "elapsed_s": round(self.elapsed, 2),
            "requests": self.total_requests,
            "requests_per_s": round(self.total_requests / self.elapsed, 1) if self.elapsed else 0,
            "logins": self.logins,
            "iterations": self.iterations,
            "downloads_served": self.downloads,
            "downloads_verified": self.verified,
            "downloads_per_s": round(self.downloads / self.elapsed, 1) if self.elapsed else 0,
            "bytes": self.bytes,
            "latency": figures(self.all_latencies()),
            "latency_by_kind": {k: figures(v) for k, v in sorted(self.latencies.items())},
            "requests_by_kind": dict(sorted(self.requests.items())),
            "statuses": dict(sorted(self.statuses.items())),
            "server_errors": self.server_errors,
            "exceptions": self.exceptions,
            "unexpected": self.unexpected,
            "sha_mismatches": self.sha_mismatches,
            "problems": self.problems(),
        }


def format_report(report: Report) -> str:
    data = report.as_dict()
    lat = data["latency"]
    lines = [
        f"load: {data['clients']} clients for {data['seconds']:g} s "
        f"(ran {data['elapsed_s']:.1f} s)",
        f"  requests      {data['requests']} ({data['requests_per_s']}/s), "
        f"logins {data['logins']}, iterations {data['iterations']}",
        f"  latency (ms)  p50 {lat['p50_ms']}  p95 {lat['p95_ms']}  p99 {lat['p99_ms']}  "
        f"max {lat['max_ms']}",
        f"  downloads     {data['downloads_served']} served ({data['downloads_per_s']}/s), "
        f"{data['downloads_verified']} SHA-256 verified, {data['bytes']} bytes",
        f"  errors        5xx {len(report.server_errors)}, exceptions "
        f"{len(report.exceptions)}, unexpected {len(report.unexpected)}, "
        f"SHA mismatches {len(report.sha_mismatches)}",
        "  by kind       count   p50    p95    p99    max (ms)",
    ]
    for kind, fig in data["latency_by_kind"].items():
        lines.append(
            f"    {kind:<15} {fig['count']:>5} {fig['p50_ms']:>6} {fig['p95_ms']:>6} "
            f"{fig['p99_ms']:>6} {fig['max_ms']:>6}"
        )
    lines.append("  statuses      " + ", ".join(f"{k}: {v}" for k, v in data["statuses"].items()))
    for problem in data["problems"]:
        lines.append(f"  PROBLEM: {problem}")
    return "\n".join(lines)


class _Session:
    """One simulated client."""

    def __init__(self, http: httpx.AsyncClient, report: Report, rng: random.Random) -> None:
        self.http = http
        self.report = report
        self.rng = rng

    async def request(
        self, kind: str, method: str, url: str, *, expect: int, **kwargs: object
    ) -> httpx.Response | None:
        """The answer if its status is ``expect``; otherwise records why and returns None."""
        shown = "/d/<token>/" if kind == "pdf" else url  # keep tokens out of reports
        start = time.perf_counter()
        try:
            response = await self.http.request(method, url, **kwargs)
        except Exception as exc:  # any failure to get an answer is recorded, then asserted on
            self.report.requests[kind] += 1
            self.report.exceptions.append(f"{kind} {method} {shown}: {type(exc).__name__}: {exc}")
            return None
        self.report.latencies[kind].append((time.perf_counter() - start) * 1000)
        self.report.requests[kind] += 1
        self.report.statuses[f"{kind} {response.status_code}"] += 1
        if response.status_code >= 500:
            self.report.server_errors.append(f"{kind} {method} {shown}: {response.status_code}")
            return None
        if response.status_code != expect:
            self.report.unexpected.append(
                f"{kind} {method} {shown}: {response.status_code} "
                f"(expected {expect}) -> {response.headers.get('location', '')}"
            )
            return None
        return response

    def fail(self, message: str) -> None:
        self.report.unexpected.append(message)

    async def login(self, email: str, password: str) -> bool:
        form = await self.request("login_form", "GET", "/accounts/login/", expect=200)
        if form is None:
            return False
        token = CSRF_RE.search(form.text)
        if not token:
            self.fail("login form without a CSRF token")
            return False
        data = {
            "csrfmiddlewaretoken": token.group(1),
            "username": email,
            "password": password,
            "next": "",
        }
        done = await self.request("login", "POST", "/accounts/login/", expect=302, data=data)
        if done is None:
            return False
        target = httpx.URL(done.headers.get("location", "")).path
        if target.startswith(("/accounts/", "/account/")):
            self.fail(f"login of {email} led to {target} (a second factor or a refusal)")
            return False
        self.report.logins += 1
        return True

    async def iteration(self) -> bool:
        """History, a page of it, an invoice, its download; False stops this client."""
        history = await self.request("history", "GET", "/invoices/", expect=200)
        if history is None:
            return False
        invoices = INVOICE_RE.findall(history.text)
        pages = sorted(set(PAGE_RE.findall(history.text)))
        if pages:
            page = self.rng.choice(pages)
            other = await self.request("history_page", "GET", f"/invoices/{page}", expect=200)
            if other is None:
                return False
            invoices += INVOICE_RE.findall(other.text)
        if not invoices:
            self.fail("the history lists no invoice")
            return False
        detail_path = self.rng.choice(invoices)
        detail = await self.request("invoice", "GET", detail_path, expect=200)
        if detail is None:
            return False
        digest, token = DIGEST_RE.search(detail.text), CSRF_RE.search(detail.text)
        if not (digest and token):
            self.fail(f"invoice page {detail_path} without SHA-256 or CSRF token")
            return False
        button = await self.request(
            "download_button",
            "POST",
            detail_path + "download/",
            expect=302,
            data={"csrfmiddlewaretoken": token.group(1)},
        )
        if button is None:
            return False
        link = httpx.URL(button.headers.get("location", "")).path
        if not link.startswith("/d/"):
            self.fail(f"the Download button of {detail_path} led to {link!r}")
            return False
        pdf = await self.request("pdf", "GET", link, expect=200)
        if pdf is None:
            return False
        body = pdf.content
        if not (pdf.headers.get("content-type", "").startswith("application/pdf")):
            self.fail(f"download of {detail_path}: {pdf.headers.get('content-type')}")
            return False
        self.report.downloads += 1
        self.report.bytes += len(body)
        if body.startswith(b"%PDF-") and hashlib.sha256(body).hexdigest() == digest.group(1):
            self.report.verified += 1
        else:
            self.report.sha_mismatches.append(f"{detail_path}: {len(body)} bytes")
        self.report.iterations += 1
        return True


async def _simulated_client(
    number: int,
    credential: dict,
    *,
    base_url: str,
    verify: ssl.SSLContext,
    deadline: float,
    timeout: float,
    report: Report,
) -> None:
    rng = random.Random(number)  # noqa: S311  (which page to browse; not security)
    async with httpx.AsyncClient(
        base_url=base_url,
        verify=verify,
        headers={"Origin": base_url, "User-Agent": USER_AGENT},
        timeout=timeout,
        follow_redirects=False,
    ) as http:
        session = _Session(http, report, rng)
        if not await session.login(credential["email"], credential["password"]):
            return
        while time.monotonic() < deadline:
            if not await session.iteration():
                return


async def run_load(
    *,
    base_url: str,
    credentials: list[dict],
    clients: int = 50,
    seconds: float = 60.0,
    ca_cert: str | Path | None = None,
    timeout: float = 30.0,
) -> Report:
    """Run ``clients`` simulated clients for ``seconds``; returns the figures. Never runs
    longer than ``seconds + 2 * timeout + 60`` (a hit of that limit is an exception)."""
    if not credentials:
        raise ValueError("no credentials")
    verify = ssl.create_default_context(cafile=str(ca_cert) if ca_cert else None)
    report = Report(clients=clients, seconds=seconds)
    # httpx logs every request at INFO; thousands of lines would bury the figures.
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)
    try:
        await _run(report, base_url, credentials, clients, seconds, verify, timeout)
    finally:
        httpx_logger.setLevel(level)
    return report


async def _run(
    report: Report,
    base_url: str,
    credentials: list[dict],
    clients: int,
    seconds: float,
    verify: ssl.SSLContext,
    timeout: float,
) -> None:
    start = time.monotonic()
    deadline = start + seconds
    tasks = [
        asyncio.create_task(
            _simulated_client(
                n,
                credentials[n % len(credentials)],
                base_url=base_url.rstrip("/"),
                verify=verify,
                deadline=deadline,
                timeout=timeout,
                report=report,
            )
        )
        for n in range(clients)
    ]
    done, pending = await asyncio.wait(tasks, timeout=seconds + 2 * timeout + 60)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
        report.exceptions.append(f"hard time limit: {len(pending)} clients cancelled")
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            report.exceptions.append(f"client crashed: {type(exc).__name__}: {exc}")
    report.elapsed = time.monotonic() - start


def seed_script(contacts: int = 50, clients: int = 5, invoices: int = 30) -> str:
    """Python for ``manage.py shell -c`` that calls ``benchmarks.seed.load_contacts``:
    ``clients`` new clients with ``invoices`` issued invoices each and ``contacts`` contacts
    spread over them, without a second factor, sharing one random password. Prints the
    credentials as one JSON line (a list of {"email", "password"}) last. (The same as
    ``python -m benchmarks.seed load``, for a shell that has the installation's settings.)"""
    call = (
        f"load_contacts(contacts={int(contacts)}, clients={int(clients)}, invoices={int(invoices)})"
    )
    return f"import json\nfrom benchmarks.seed import load_contacts\nprint(json.dumps({call}))\n"


def _check_loopback(base_url: str) -> None:
    host = httpx.URL(base_url).host
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise SystemExit(f"cannot resolve {host}: {exc}") from None
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise SystemExit(f"{host} is not a loopback address; pass --allow-remote to load it")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--base-url", help="the portal, e.g. https://localhost:8443")
    parser.add_argument("--ca-cert", help="CA or self-signed certificate to verify TLS with")
    parser.add_argument("--credentials", help='JSON file: [{"email": ..., "password": ...}]')
    parser.add_argument("--clients", type=int, default=50, help="simulated clients (50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration (60)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, s (30)")
    parser.add_argument("--json", help="also write the figures to this file as JSON")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a base URL that is not loopback"
    )
    parser.add_argument(
        "--print-seed-script",
        action="store_true",
        help="print Python for `manage.py shell -c` that seeds load-test data, and exit",
    )
    parser.add_argument("--contacts", type=int, default=50, help="seed: contacts (50)")
    parser.add_argument("--seed-clients", type=int, default=5, help="seed: clients (5)")
    parser.add_argument("--invoices", type=int, default=30, help="seed: per client (30)")
    args = parser.parse_args(argv)
    if args.print_seed_script:
        print(seed_script(args.contacts, args.seed_clients, args.invoices))
        return 0
    if not (args.base_url and args.credentials):
        parser.error("--base-url and --credentials are needed (or --print-seed-script)")
    if not args.allow_remote:
        _check_loopback(args.base_url)
    credentials = json.loads(Path(args.credentials).read_text())
    report = asyncio.run(
        run_load(
            base_url=args.base_url,
            credentials=credentials,
            clients=args.clients,
            seconds=args.seconds,
            ca_cert=args.ca_cert,
            timeout=args.timeout,
        )
    )
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
