"""Memory of large downloads and uploads in a gunicorn worker (issue 7, item 4).

Starts the portal on gunicorn alone over TLS (deploy/gunicorn.conf.py, one worker, so that
the worker is known) for a throwaway installation, and measures how far the worker's peak
resident memory (VmHWM in /proc/<pid>/status, reset before each step with clear_refs "5")
rises above its resident memory before the step, for:

1. downloading a 200 MB PDF through a link (FileResponse; the first download, so the
   SHA-256 check reads the whole file too), the body streamed and checked by SHA-256;
2. uploading a PDF just under the upload cap (INVOICEPORTAL_MAX_UPLOAD_BYTES, 20 MiB)
   through the Django admin's "add invoice" form, as a staff user with a verified 2FA
   session; the invoice must exist afterwards;
3. uploading the 200 MB PDF through the admin with the cap raised to 256 MiB.

Target: every rise below 16 MiB (streaming, no whole-file reads). The PDFs are valid
one-page PDFs padded with no-op operators, uncompressed. tests/e2e/test_memory.py asserts
steps 1 and 2 with the same functions.

Run (about a minute)::

    .venv/bin/python -m benchmarks.memory --out bench-output

Writes DIR/memory.json and DIR/memory.md and prints the latter. gunicorn is stopped at
the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks._results import versions, write_results
from benchmarks.proctree import gunicorn_workers, memory_kib, reset_peak
from benchmarks.seed import run_seed
from tests.support.servers import Installation, Server, gunicorn_over_tls, new_installation

MIB = 1024 * 1024
LIMIT_KIB = 16 * 1024
DEFAULT_CAP = 20 * MIB
RAISED_CAP = 256 * MIB
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def log(message: str) -> None:
    print(f"[memory] {message}", flush=True)


def write_large_pdf(path: Path, size: int) -> Path:
    """A valid one-page PDF of at most ``size`` bytes (within 1 MiB + 1 KiB of it), written
    in 1 MiB pieces: the page's content stream is padded with no-op operators (``q Q``)."""
    piece = b"q Q\n" * (MIB // 4)
    pieces = max(1, (size - 1024) // len(piece))
    offsets: list[int] = []
    with path.open("wb") as out:
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        for body in (
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << >> >>",
        ):
            offsets.append(out.tell())
            out.write(f"{len(offsets)} 0 obj\n".encode() + body + b"\nendobj\n")
        offsets.append(out.tell())
        out.write(f"4 0 obj\n<< /Length {pieces * len(piece)} >>\nstream\n".encode())
        for _ in range(pieces):
            out.write(piece)
        out.write(b"\nendstream\nendobj\n")
        xref = out.tell()
        out.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
        for offset in offsets:
            out.write(f"{offset:010d} 00000 n \n".encode())
        trailer = f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\n"
        out.write(f"{trailer}startxref\n{xref}\n%%EOF\n".encode())
    return path


def seed(installation: Installation, pdf: Path) -> dict:
    """``benchmarks.seed.memory_sessions`` in the installation: an owner and a staff user
    with verified 2FA sessions, and an issued invoice of ``pdf`` with a link; needs the
    installation's cap to admit ``pdf``."""
    return run_seed(installation.env, "memory", "--pdf", str(pdf))


@dataclass
class Step:
    name: str
    bytes: int
    rss_before_kib: int
    peak_kib: int
    seconds: float

    @property
    def rise_kib(self) -> int:
        return self.peak_kib - self.rss_before_kib

    def as_dict(self) -> dict:
        return {**self.__dict__, "rise_kib": self.rise_kib, "within_limit": self.within_limit}

    @property
    def within_limit(self) -> bool:
        return self.rise_kib < LIMIT_KIB


def the_worker() -> int:
    workers = gunicorn_workers()
    if len(workers) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {workers}")
    return workers[0]


def _client(server: Server, session: str) -> httpx.Client:
    http = server.client()
    http.timeout = httpx.Timeout(120)
    http.cookies.set("__Host-sessionid", session)
    return http


def _measured(name: str, size: int, action) -> Step:
    worker = the_worker()
    reset_peak(worker)
    before = memory_kib(worker)["VmRSS"]
    started = time.monotonic()
    action()
    seconds = time.monotonic() - started
    if the_worker() != worker:
        raise RuntimeError("the gunicorn worker was replaced during the step")
    return Step(name, size, before, memory_kib(worker)["VmHWM"], seconds)


def measure_download(server: Server, seeded: dict) -> Step:
    """Download the seeded invoice once, streaming; checks status, size and SHA-256."""

    def download() -> None:
        digest, size = hashlib.sha256(), 0
        with (
            _client(server, seeded["owner_session"]) as http,
            http.stream("GET", f"/d/{seeded['token']}/") as response,
        ):
            if response.status_code != 200:
                raise RuntimeError(f"download answered {response.status_code}")
            for chunk in response.iter_bytes(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
        if (digest.hexdigest(), size) != (seeded["sha256"], seeded["size"]):
            raise RuntimeError("the downloaded bytes differ from the stored invoice")

    return _measured(f"download {seeded['size'] / MIB:.0f} MiB", seeded["size"], download)


def measure_upload(server: Server, seeded: dict, pdf: Path, number: str) -> Step:
    """Upload ``pdf`` through the admin's add-invoice form as the staff user; checks that
    the admin accepted it (a redirect to the invoice list)."""
    add = "/admin/invoices/invoice/add/"

    def upload() -> None:
        with _client(server, seeded["staff_session"]) as http:
            form = http.get(add)
            token = CSRF_RE.search(form.text)
            if form.status_code != 200 or token is None:
                raise RuntimeError(f"the admin's add form answered {form.status_code}")
            with pdf.open("rb") as handle:
                response = http.post(
                    add,
                    data={
                        "csrfmiddlewaretoken": token.group(1),
                        "client": str(seeded["client"]),
                        "number": number,
                        "issue_date": "2026-11-01",
                        "due_date": "2026-12-01",
                        "total": "1.00",
                        "currency": "EUR",
                        "issue_now": "on",
                    },
                    files={"pdf": ("large.pdf", handle, "application/pdf")},
                    headers={"Referer": server.base_url + add},
                )
            location = response.headers.get("location", "")
            if response.status_code != 302 or location != "/admin/invoices/invoice/":
                errors = re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.text, re.S)
                raise RuntimeError(
                    f"the upload answered {response.status_code} ({location}): {errors}"
                )
            listing = http.get(f"/admin/invoices/invoice/?q={number}")
            if number not in listing.text:
                raise RuntimeError(f"invoice {number} is not in the admin after its upload")

    return _measured(f"admin upload {pdf.stat().st_size / MIB:.0f} MiB", pdf.stat().st_size, upload)


def with_cap(installation: Installation, cap: int) -> None:
    installation.env = {**installation.env, "INVOICEPORTAL_MAX_UPLOAD_BYTES": str(cap)}


def markdown(report: dict) -> list[str]:
    """The fragment's body; ``_results.write_results`` puts machine, versions and command
    above it."""
    lines = [
        "One gunicorn worker over TLS, FileResponse.",
        "",
        "| step | cap | bytes | worker RSS before | peak rise (VmHWM - RSS before) | < 16 MiB |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for step in report["steps"]:
        lines.append(
            f"| {step['name']} | {step['cap'] / MIB:.0f} MiB | {step['bytes']:,} "
            f"| {step['rss_before_kib'] / 1024:.1f} MiB | {step['rise_kib'] / 1024:.1f} MiB "
            f"| {'yes' if step['within_limit'] else 'NO'} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.memory",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--out", type=Path, help="write memory.json and memory.md here")
    parser.add_argument("--size-mib", type=int, default=200, help="the large PDF (200)")
    args = parser.parse_args(argv)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    steps: list[dict] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "install").mkdir()
        log(f"installation in {tmp} (SQLite); writing the PDFs ...")
        large = write_large_pdf(tmp / "large.pdf", args.size_mib * MIB)
        at_cap = write_large_pdf(tmp / "at-cap.pdf", DEFAULT_CAP)
        with new_installation(tmp / "install", "") as installation:
            with_cap(installation, RAISED_CAP)
            seeded = seed(installation, large)
            for cap, plan in ((DEFAULT_CAP, ["upload-at-cap"]), (RAISED_CAP, ["down", "up"])):
                with_cap(installation, cap)
                log(f"gunicorn, one worker, upload cap {cap / MIB:.0f} MiB ...")
                with gunicorn_over_tls(
                    installation, workers="1", log_name=f"gunicorn-{cap}.log"
                ) as server:
                    for what in plan:
                        if what == "down":
                            step = measure_download(server, seeded)
                        elif what == "up":
                            step = measure_upload(server, seeded, large, "MEM-UPLOAD-LARGE")
                        else:
                            step = measure_upload(server, seeded, at_cap, "MEM-UPLOAD-CAP")
                        log(
                            f"  {step.name}: RSS before {step.rss_before_kib / 1024:.1f} MiB, "
                            f"peak rise {step.rise_kib / 1024:.1f} MiB, {step.seconds:.1f} s"
                        )
                        steps.append({**step.as_dict(), "cap": cap})

    report = {
        "name": "memory",
        "versions": versions("Django", "gunicorn"),
        "limit_kib": LIMIT_KIB,
        "steps": steps,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    write_results(args.out, "memory", report, markdown(report))
    failed = [s["name"] for s in steps if not s["within_limit"]]
    log(f"done in {report['elapsed_s']:.0f} s" + (f"; over the limit: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
