"""The download path against nginx serving the same file, with wrk on loopback (issue 7, item 1).

For each PDF size (200 KB and 2 MB) and connection count (16 and 64), one wrk run of
--seconds (20) each against:

  (a) nginx serving the PDF as a plain static file: the physical reference. The location
      is a copy of the rendered deploy/nginx/invoiceportal.conf's /_protected/invoices/
      location (same server block, TLS, sendfile and headers) without ``internal``;
  (b) the portal behind that same nginx with INVOICEPORTAL_SENDFILE=nginx: Django
      authorizes (session, 2FA device, owner-scoped link, SHA-256 check) and audits each
      request, nginx sends the bytes (X-Accel-Redirect);
  (c) the portal on gunicorn alone over TLS, as `make run` starts it (FileResponse).

Every (b) and (c) request is a full download through a link minted for the owner (no
download limit, 30 days) with the owner's session cookie, whose session has passed the
second factor with a TOTP device. After each run the script checks that the number of new
"download" audit rows equals wrk's completed requests (plus at most the requests still in
flight when wrk stopped, one per connection), that wrk saw no error and that the access
log shows nothing but 200 for the download URL; a failed check fails the script.

gunicorn runs deploy/gunicorn.conf.py with its default worker count (2 x cores + 1).
Reports requests/s, p50, p99 and the ratios b/a and c/a; targets: b/a >= 0.5 at 2 MB and
>= 0.15 at 200 KB.

Run (about 5 minutes; needs wrk and nginx, `make bench-deps`)::

    .venv/bin/python -m benchmarks.download --out bench-output
    .venv/bin/python -m benchmarks.download --seconds 5 --connections 16   # a quick look

Writes DIR/download.json and DIR/download.md and prints the latter. Every process it
starts (nginx, gunicorn, wrk) is stopped at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from benchmarks._results import versions, write_results
from benchmarks.proctree import descendants, program
from benchmarks.seed import run_seed
from tests.support.proxies import NGINX, nginx_in_front
from tests.support.servers import Installation, gunicorn_over_tls, new_installation

WRK = shutil.which("wrk") or "/usr/bin/wrk"
SIZES = {"200KB": 200 * 1024, "2MB": 2 * 1024 * 1024}
TARGETS = {"200KB": 0.15, "2MB": 0.5}
REFERENCE_PATH = "/bench-static/"
LOG_LINE = re.compile(r'"GET (/\S*) HTTP/[\d.]+" (\d{3}) (\d+)')


def log(message: str) -> None:
    print(f"[download] {message}", flush=True)


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
def make_pdf(size: int, seed: int) -> bytes:
    """A valid, uncompressed PDF of about ``size`` bytes (text of random digits, so that
    nothing along the way could compress it)."""
    import io

    from reportlab.pdfgen import canvas

    rng = random.Random(seed)  # noqa: S311  (filler text)
    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer, pageCompression=0)
    written = 0
    while written < size:
        for line in range(60):
            text = "".join(rng.choice("0123456789") for _ in range(90))
            drawing.drawString(30, 800 - 13 * line, text)
            written += len(text) + 30
        drawing.showPage()
    drawing.save()
    return buffer.getvalue()


def seed(installation: Installation, pdfs: dict[str, Path]) -> dict:
    """``benchmarks.seed.download_links`` in the installation: a verified session and a
    link per PDF."""
    return run_seed(installation.env, "download", *(f"--pdf={k}={v}" for k, v in pdfs.items()))


def download_audit_rows(installation: Installation) -> int:
    database = Path(installation.env["INVOICEPORTAL_DATA_DIR"]) / "db.sqlite3"
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
        return conn.execute(
            "SELECT COUNT(*) FROM audit_auditevent WHERE kind = 'download'"
        ).fetchone()[0]


# ---------------------------------------------------------------------------------------
# nginx: the reference location, a copy of the protected one without "internal"
# ---------------------------------------------------------------------------------------
def add_reference_location(reference_dir: Path):
    def edit(site: str) -> str:
        match = re.search(r"\n    location \^~ /_protected/invoices/ \{\n.*?\n    \}\n", site, re.S)
        if match is None:
            raise RuntimeError("the rendered site has no /_protected/invoices/ location")
        block = match.group(0)
        copy = block.replace("location ^~ /_protected/invoices/", f"location ^~ {REFERENCE_PATH}")
        copy = re.sub(r"\n        internal;", "", copy)
        copy = re.sub(r"alias [^;]+;", f"alias {reference_dir}/;", copy)
        if "internal" in copy or str(reference_dir) not in copy:
            raise RuntimeError(f"could not turn the location into a public one:\n{copy}")
        return site.replace(block, block + copy)

    return edit


# ---------------------------------------------------------------------------------------
# wrk
# ---------------------------------------------------------------------------------------
WRK_SCRIPT = """
wrk.headers["Cookie"] = "__Host-sessionid={session}"
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "bytes": %.0f, "status_errors": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "timeout": %d, '
    .. '"p50_us": %.0f, "p99_us": %.0f, "mean_us": %.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def run_wrk(url: str, *, connections: int, seconds: float, script: Path, threads: int) -> dict:
    command = [
        WRK,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        url,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = process.communicate(timeout=seconds + 90)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{out}")
    result = json.loads(line.removeprefix("WRKJSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(
        result[k] for k in ("status_errors", "connect", "read", "write", "timeout")
    )
    return result


def statuses_in_log(path: Path, offset: int, prefix: str) -> tuple[Counter, int]:
    """Status codes of the GET lines for URLs starting with ``prefix`` written to the
    access log after byte ``offset``; and the new end offset."""
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read().decode(errors="replace")
        end = handle.tell()
    found = Counter(m.group(2) for m in LOG_LINE.finditer(data) if m.group(1).startswith(prefix))
    return found, end


def cpu_seconds_by_program() -> Counter:
    """CPU seconds so far of the live processes this script started, by program: where
    the time goes, whatever else runs on the machine."""
    totals: Counter = Counter()
    for proc in descendants().values():
        totals[program(proc)] += proc.cpu_seconds
    return totals


# ---------------------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------------------
class Bench:
    def __init__(
        self, args: argparse.Namespace, installation: Installation, seeded: dict, tmp: Path
    ):
        self.args = args
        self.installation = installation
        self.seeded = seeded
        self.script = tmp / "download.lua"
        self.script.write_text(WRK_SCRIPT.format(session=seeded["session"]))
        self.runs: list[dict] = []

    def one(
        self, setup: str, url: str, label: str, connections: int, access_log: Path | None
    ) -> dict:
        args = self.args
        audited_before = download_audit_rows(self.installation)
        offset = access_log.stat().st_size if access_log else 0
        log(f"({setup}) {label} with {connections} connections for {args.seconds:g} s ...")
        cpu_before = cpu_seconds_by_program()
        result = run_wrk(
            url,
            connections=connections,
            seconds=args.seconds,
            script=self.script,
            threads=args.threads,
        )
        cpu = cpu_seconds_by_program()
        cpu.subtract(cpu_before)
        run = {"setup": setup, "size": label, "connections": connections, **result}
        # wrk has exited by now: its own time is not in the tree any more.
        run["cpu_ms_per_request"] = {
            program: round(seconds * 1000 / max(result["requests"], 1), 2)
            for program, seconds in sorted(cpu.items())
            if program in ("nginx", "gunicorn") and seconds > 0
        }
        expected_bytes = self.seeded["files"][label]["size"]
        problems = []
        if result["errors"]:
            problems.append(f"wrk counted {result['errors']} errors")
        if result["requests"] == 0:
            problems.append("no request completed")
        if setup != "a":
            time.sleep(0.5)  # the last access-log lines and audit rows of in-flight requests
            audited = download_audit_rows(self.installation) - audited_before
            run["audit_rows"] = audited
            if not result["requests"] <= audited <= result["requests"] + connections:
                problems.append(
                    f"{audited} new download audit rows for {result['requests']} completed requests"
                )
            statuses, _ = statuses_in_log(access_log, offset, "/d/")
            run["log_statuses"] = dict(statuses)
            # 499: nginx's note for a request that wrk abandoned when its time was up.
            if set(statuses) - {"200", "499"} or statuses["499"] > connections:
                problems.append(f"unexpected answers in the access log: {dict(statuses)}")
        mean_bytes = result["bytes"] / max(result["requests"], 1)
        run["mean_body_bytes"] = round(mean_bytes)
        if mean_bytes < expected_bytes:
            problems.append(f"mean response {mean_bytes:.0f} bytes < the file's {expected_bytes}")
        run["problems"] = problems
        log(
            f"    {result['rps']:.1f} req/s, p50 {result['p50_us'] / 1000:.1f} ms, "
            f"p99 {result['p99_us'] / 1000:.1f} ms, CPU ms/request {run['cpu_ms_per_request']}"
            + (f", {run['audit_rows']} audited" if "audit_rows" in run else "")
            + (f"  PROBLEMS: {problems}" if problems else "")
        )
        self.runs.append(run)
        return run

    def warm(self, url: str) -> None:
        run_wrk(url, connections=4, seconds=2, script=self.script, threads=1)


def tool_versions() -> dict[str, str]:
    """The Python packages' versions and those of the two programs that are not one."""

    def first_line(command: list[str]) -> str:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
        return (result.stdout + result.stderr).strip().splitlines()[0]

    return {
        **versions("Django", "gunicorn"),
        "nginx": first_line([str(NGINX), "-v"]).removeprefix("nginx version: nginx/"),
        "wrk": first_line([WRK, "-v"]).split(" Copyright")[0].removeprefix("wrk "),
    }


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    by_key = {(r["setup"], r["size"], r["connections"]): r for r in runs}
    for (setup, size, conns), run in by_key.items():
        if setup != "a":
            continue
        row = {"size": size, "connections": conns, "a": run}
        for other in ("b", "c"):
            if (other, size, conns) in by_key:
                row[other] = by_key[(other, size, conns)]
                row[f"{other}/a"] = by_key[(other, size, conns)]["rps"] / run["rps"]
        row["target"] = TARGETS[size]
        row["met"] = row.get("b/a", 0) >= TARGETS[size]
        rows.append(row)
    return rows


def markdown(report: dict) -> list[str]:
    """The fragment's body; ``_results.write_results`` puts machine, versions and command
    above it."""
    lines = [
        f"{report['seconds']:g} s per run, {report['threads']} wrk threads, gunicorn workers: "
        f"{report['workers']}.",
        "",
        "| PDF | conns | (a) nginx static req/s | (b) portal + nginx req/s "
        "| (c) gunicorn alone req/s | b/a | c/a | target b/a | met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in report["summary"]:
        cells = []
        for key in ("a", "b", "c"):
            run = row.get(key)
            cells.append(
                f"{run['rps']:.0f} (p50 {run['p50_us'] / 1000:.1f} ms, "
                f"p99 {run['p99_us'] / 1000:.1f} ms)"
                if run
                else "-"
            )
        ratios = [f"{row[k]:.2f}" if k in row else "-" for k in ("b/a", "c/a")]
        lines.append(
            f"| {row['size']} | {row['connections']} | {' | '.join(cells)} | {' | '.join(ratios)} "
            f"| >= {row['target']} | {'yes' if row['met'] else 'NO'} |"
        )
    lines += [
        "",
        "CPU per completed request, by program (utime + stime of the processes this script "
        "started, so other load on the machine is not counted; wrk's own is not included):",
        "",
        "| run | PDF | conns | nginx ms | gunicorn ms |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for run in report["runs"]:
        cpu = run["cpu_ms_per_request"]
        lines.append(
            f"| ({run['setup']}) | {run['size']} | {run['connections']} "
            f"| {cpu.get('nginx', 0):.2f} | {cpu.get('gunicorn', 0):.2f} |"
        )
    lines += ["", "Audit check (new `download` audit rows against wrk's completed requests):", ""]
    for run in report["runs"]:
        if run["setup"] == "a":
            continue
        lines.append(
            f"- ({run['setup']}) {run['size']}, {run['connections']} conns: {run['requests']} "
            f"requests, {run['audit_rows']} audit rows, access log {run['log_statuses']}, "
            f"wrk errors {run['errors']}"
            + (f"; PROBLEMS: {run['problems']}" if run["problems"] else "")
        )
    return lines


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """SIGTERM as KeyboardInterrupt, so that the finally blocks stop every server."""

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.download",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--out", type=Path, help="write download.json and download.md here")
    parser.add_argument("--seconds", type=float, default=20.0, help="per wrk run (20)")
    parser.add_argument("--connections", default="16,64", help="comma-separated (16,64)")
    parser.add_argument("--sizes", default="200KB,2MB", help=f"of {', '.join(SIZES)} (both)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument(
        "--workers", help="GUNICORN_WORKERS for (b) and (c) (default: the config's 2 x cores + 1)"
    )
    parser.add_argument("--skip-gunicorn-alone", action="store_true", help="no (c) runs")
    args = parser.parse_args(argv)
    connections = [int(c) for c in args.connections.split(",")]
    sizes = [s.strip() for s in args.sizes.split(",")]
    for tool in (WRK, str(NGINX)):
        if not Path(tool).is_file():
            parser.error(f"{tool} is missing: run `make bench-deps` (wrk, nginx-light)")
    if not set(sizes) <= set(SIZES):
        parser.error(f"--sizes: choose from {', '.join(SIZES)}")

    started = time.monotonic()
    with (
        interrupts_as_exceptions(),
        tempfile.TemporaryDirectory(prefix="bench-download-") as tmp_name,
    ):
        tmp = Path(tmp_name)
        # nginx's workers (another user unless root) must reach the files below it.
        os.chmod(tmp, 0o755)  # noqa: S103  (a throwaway benchmark dir nginx must read)
        log(f"installation in {tmp} (SQLite) ...")
        (tmp / "install").mkdir()
        with new_installation(tmp / "install", "") as installation:
            pdfs = {}
            for n, label in enumerate(sizes):
                pdfs[label] = tmp / f"{label}.pdf"
                pdfs[label].write_bytes(make_pdf(SIZES[label], seed=n))
            seeded = seed(installation, pdfs)
            reference_dir = tmp / "reference"
            reference_dir.mkdir()
            private = Path(installation.env["INVOICEPORTAL_DATA_DIR"]) / "private" / "invoices"
            for label in sizes:
                shutil.copyfile(
                    private / seeded["files"][label]["name"], reference_dir / f"{label}.pdf"
                )
                log(f"{label}: {seeded['files'][label]['size']:,} bytes")
            bench = Bench(args, installation, seeded, tmp)

            log("nginx in front of gunicorn (unix socket, INVOICEPORTAL_SENDFILE=nginx) ...")
            (tmp / "nginx").mkdir()
            with nginx_in_front(
                installation,
                tmp / "nginx",
                edit_site=add_reference_location(reference_dir),
                workers=args.workers,
            ) as proxy:
                for label in sizes:
                    static_url = f"{proxy.base_url}{REFERENCE_PATH}{label}.pdf"
                    portal_url = f"{proxy.base_url}/d/{seeded['links'][label]}/"
                    bench.warm(static_url)
                    bench.warm(portal_url)
                    for conns in connections:
                        bench.one("a", static_url, label, conns, None)
                        bench.one("b", portal_url, label, conns, proxy.access_log)
            if not args.skip_gunicorn_alone:
                log("gunicorn alone over TLS (FileResponse) ...")
                with gunicorn_over_tls(
                    installation, workers=args.workers, log_name="gunicorn-alone.log"
                ) as server:
                    for label in sizes:
                        url = f"{server.base_url}/d/{seeded['links'][label]}/"
                        bench.warm(url)
                        for conns in connections:
                            bench.one("c", url, label, conns, server.log_path)

    report = {
        "name": "download",
        "seconds": args.seconds,
        "threads": args.threads,
        "workers": args.workers or f"config default, {2 * (os.cpu_count() or 1) + 1}",
        "versions": tool_versions(),
        "runs": bench.runs,
        "summary": summarize(bench.runs),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    write_results(args.out, "download", report, markdown(report))
    problems = [p for run in bench.runs for p in run["problems"]]
    log(
        f"done in {report['elapsed_s']:.0f} s" + (f"; {len(problems)} problems" if problems else "")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
