"""Login cost: the Argon2 hash, logins per second of one gunicorn worker, and what a refused
(locked-out) attempt costs next to a hash.

    .venv/bin/python -m benchmarks.login [--out bench-output] [--seconds 12]

Builds a throwaway installation in a temporary directory (SQLite: migrate, collectstatic,
a self-signed certificate), adds 40 client contacts without 2FA (one real Argon2 hash of
the portal's parameters, shared) and starts gunicorn with deploy/gunicorn.conf.py, one
worker (GUNICORN_WORKERS=1), over TLS, as `make run` does; only the access log's format is
set on the command line, to get each request's time in microseconds (%(D)s) as the worker
measured it. Then, with real HTTPS requests (a GET of the login form for the CSRF token,
then the POST):

1. Hash: median time of check_password and make_password with the configured hasher
   (core/hashers.py), measured in a separate process before the server starts.
2. Logins: two client threads log in (GET + POST, each login a fresh session) for
   --seconds from 127.0.0.1, rotating over the 40 accounts. Logins/s = successful logins
   / elapsed. gunicorn's sync worker serves one request at a time and closes every
   connection, so each request also pays a TLS handshake in the worker.
3. Wrong passwords: 30 attempts from 127.0.0.3, each on another account and under the
   lockout limits, so each one runs the hasher (Django also hashes for unknown accounts).
4. Refused: from 127.0.0.2, one account is locked out (5 failures), then --refused more
   attempts are sent; every one must get the 429 lockout page. Target (issue 7): a refused
   attempt costs under 5 % of a hash (django-axes' backend refuses before any hasher runs;
   tests/clients/test_lockout.py asserts that no hasher is called).

The machine may be shared, so the ratio of step 4 compares figures taken at the same
moments: after every 5th refused POST, this script times one Argon2id verification itself
(argon2-cffi with the hasher's parameters, which is what Django's hasher calls). The ratio
is the median worker time of a refused POST over the median of those interleaved hashes.

The worker-side time of each POST comes from the access log; the client-side latency is
reported too. Separate addresses and accounts keep the phases from locking each other out
(the per-address tier locks an address after 50 failures). gunicorn is stopped (its whole
process group) at the end, also on Ctrl-C or an error; the directory is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks._results import versions, write_results
from benchmarks.seed import run_seed

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
PASSWORD = "correct horse battery staple 42"  # noqa: S105  (a throwaway installation's)
ACCOUNTS = 40
TARGET_SHARE = 0.05
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
ACCESS_FORMAT = "%(h)s %(m)s %(U)s %(s)s %(D)s"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[tuple[str, Path]]:
    """One gunicorn worker over TLS; yields (base URL, CA file); stops its process group."""
    port = _free_port()
    tls = Path(env["INVOICEPORTAL_DATA_DIR"]) / "tls"
    base_url = f"https://localhost:{port}"
    env = {
        **env,
        "INVOICEPORTAL_BASE_URL": base_url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_CERTFILE": str(tls / "cert.pem"),
        "GUNICORN_KEYFILE": str(tls / "key.pem"),
        "GUNICORN_WORKERS": "1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "deploy/gunicorn.conf.py", "--access-logformat", ACCESS_FORMAT],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit("gunicorn exited:\n" + log.read_text())
            try:
                with _client(base_url, tls / "cert.pem") as http:
                    if http.get("/accounts/login/").status_code == 200:
                        break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not answer in 60 s:\n" + log.read_text())
            time.sleep(0.3)
        yield base_url, tls / "cert.pem"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _client(base_url: str, ca: Path, source: str = "127.0.0.1") -> httpx.Client:
    context = ssl.create_default_context(cafile=str(ca))
    return httpx.Client(
        base_url=base_url,
        transport=httpx.HTTPTransport(verify=context, local_address=source),
        headers={"Origin": base_url, "User-Agent": "invoiceportal-bench/1.0"},
        timeout=30,
    )


def attempt(http: httpx.Client, email: str, password: str) -> tuple[int, str, float]:
    """GET the form, POST the credentials with a fresh session: (status, location, POST s)."""
    http.cookies.clear()
    page = http.get("/accounts/login/")
    token = CSRF_RE.search(page.text)
    if page.status_code != 200 or not token:
        raise SystemExit(f"login form: {page.status_code}")
    start = time.perf_counter()
    answer = http.post(
        "/accounts/login/",
        data={"csrfmiddlewaretoken": token.group(1), "username": email, "password": password},
    )
    return answer.status_code, answer.headers.get("location", ""), time.perf_counter() - start


def logins_for(base_url: str, ca: Path, seconds: float, threads: int = 2) -> dict[str, Any]:
    """Successful logins by ``threads`` clients for ``seconds``; refuses (SystemExit) any
    answer but the redirect of a successful login."""
    done: list[float] = []
    problems: list[str] = []
    stop = time.monotonic() + seconds

    def run(worker: int) -> None:
        n = worker
        with _client(base_url, ca) as http:
            while time.monotonic() < stop and not problems:
                status, location, took = attempt(
                    http, f"login{n % ACCOUNTS}@bench.example", PASSWORD
                )
                if status != 302 or "login" in location:
                    problems.append(f"login{n % ACCOUNTS}: {status} {location}")
                done.append(took)
                n += threads

    started = time.monotonic()
    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    if problems:
        raise SystemExit(f"a login failed: {problems[0]}")
    return {"logins": len(done), "seconds": elapsed, "post_ms": statistics.median(done) * 1000}


def _argon2_verifier(hashing: dict[str, Any]) -> Any:
    """A function timing one Argon2id verification (ms) with the portal's parameters."""
    from argon2 import PasswordHasher, Type

    hasher = PasswordHasher(
        time_cost=hashing["time_cost"],
        memory_cost=hashing["memory_cost"],
        parallelism=hashing["parallelism"],
        type=Type.ID,
    )
    encoded = hasher.hash(PASSWORD)

    def verify() -> float:
        start = time.perf_counter()
        hasher.verify(encoded, PASSWORD)
        return (time.perf_counter() - start) * 1000

    return verify


def worker_times(log: Path, since: int, status: str, method: str = "POST") -> list[float]:
    """Worker-side ms of the requests to the login page with ``method`` and ``status``, after
    line ``since`` of the access log."""
    times = []
    for line in log.read_text(errors="replace").splitlines()[since:]:
        parts = line.split()
        if len(parts) >= 5 and parts[1:4] == [method, "/accounts/login/", status]:
            times.append(int(parts[4]) / 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.login",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, help="write login.json and login.md here")
    parser.add_argument("--seconds", type=float, default=12, help="login phase (default 12)")
    parser.add_argument("--refused", type=int, default=150, help="refused POSTs (default 150)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-login-") as tmp:
        root = Path(tmp)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("INVOICEPORTAL_", "DJANGO_"))
        }
        env.update(
            {
                "INVOICEPORTAL_DATA_DIR": str(root / "data"),
                "INVOICEPORTAL_STATIC_ROOT": str(root / "static"),
                "DATABASE_URL": "",
                "PYTHONUNBUFFERED": "1",
            }
        )
        print("Setting up a throwaway installation ...", flush=True)
        _manage(env, "migrate", "--noinput", "-v0")
        _manage(env, "collectstatic", "--noinput", "-v0")
        _manage(env, "tls_selfsigned")
        print("Measuring the hash and adding the contacts ...", flush=True)
        hashing = run_seed(env, "login", "--password", PASSWORD, "--accounts", str(ACCOUNTS))
        print(f"  check_password {hashing['check_ms']:.1f} ms", flush=True)
        log = root / "gunicorn.log"
        with gunicorn(env, log) as (base_url, ca):
            print(f"Logging in for {args.seconds:.0f} s with 2 clients ...", flush=True)
            mark = len(log.read_text().splitlines())
            logins = logins_for(base_url, ca, args.seconds)
            logins["worker_post_ms"] = statistics.median(worker_times(log, mark, "302"))
            print(f"  {logins['logins'] / logins['seconds']:.1f} logins/s", flush=True)

            print("Wrong passwords (each runs the hasher) ...", flush=True)
            mark = len(log.read_text().splitlines())
            wrong_client = []
            with _client(base_url, ca, "127.0.0.3") as http:
                for n in range(30):
                    status, _loc, took = attempt(http, f"wrong{n}@bench.example", "not it, 42!")
                    if status != 200:
                        raise SystemExit(f"a wrong password got {status}, not the form again")
                    wrong_client.append(took * 1000)
            wrong_worker = worker_times(log, mark, "200")

            print(f"Locking an account out, then {args.refused} refused attempts ...", flush=True)
            verify = _argon2_verifier(hashing)
            with _client(base_url, ca, "127.0.0.2") as http:
                statuses = [attempt(http, "locked@bench.example", "guess")[0] for _ in range(6)]
                if statuses[-1] != 429:
                    raise SystemExit(f"not locked out after 6 failures: {statuses}")
                mark = len(log.read_text().splitlines())
                refused_client, hash_ms = [], []
                for n in range(args.refused):
                    # the right password: still refused, and still no hasher
                    status, _loc, took = attempt(http, "locked@bench.example", PASSWORD)
                    if status != 429:
                        raise SystemExit(f"a locked-out attempt got {status}, not 429")
                    refused_client.append(took * 1000)
                    if n % 5 == 0:
                        hash_ms.append(verify())
            time.sleep(0.5)  # the access log line is written after the response
            refused_worker = worker_times(log, mark, "429")
            form_worker = worker_times(log, mark, "200", method="GET")
            if len(refused_worker) != args.refused or len(wrong_worker) != 30:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:])
                raise SystemExit(
                    f"the access log holds {len(wrong_worker)} of 30 wrong-password and "
                    f"{len(refused_worker)} of {args.refused} refused POSTs:\n{tail}"
                )

    check_ms = hashing["check_ms"]
    interleaved_ms = statistics.median(hash_ms)
    refused_ms = statistics.median(refused_worker)
    share = refused_ms / interleaved_ms
    rate = logins["logins"] / logins["seconds"]
    body = [
        f"Hasher: {hashing['algorithm']} (Argon2id), memory {hashing['memory_cost']} KiB, "
        f"time cost {hashing['time_cost']}, parallelism {hashing['parallelism']}.",
        "",
        "| figure | median |",
        "| --- | ---: |",
        f"| check_password (one login's hash), before the server started | {check_ms:.1f} ms |",
        f"| Argon2id verification, interleaved with the refused POSTs | {interleaved_ms:.1f} ms |",
        f"| make_password | {hashing['make_ms']:.1f} ms |",
        f"| logins/s, one worker (GET form + POST, 2 clients, {logins['seconds']:.0f} s) "
        f"| {rate:.1f} |",
        f"| successful login POST, in the worker / at the client | "
        f"{logins['worker_post_ms']:.1f} ms / {logins['post_ms']:.1f} ms |",
        f"| wrong password POST, in the worker / at the client | "
        f"{statistics.median(wrong_worker):.1f} ms / {statistics.median(wrong_client):.1f} ms |",
        f"| refused (locked-out) POST, in the worker / at the client | "
        f"{refused_ms:.1f} ms / {statistics.median(refused_client):.1f} ms |",
        f"| for comparison: GET of the login form (between the refused POSTs), in the worker "
        f"| {statistics.median(form_worker):.1f} ms |",
        "",
        f"A refused attempt costs {share:.1%} of a hash (worker time of a refused POST ÷ an "
        "Argon2id verification timed between them): target < 5 % "
        f"{'met' if share < TARGET_SHARE else 'NOT met'}.",
    ]
    write_results(
        args.out,
        "login",
        {
            "versions": versions("Django", "argon2-cffi", "django-axes", "gunicorn"),
            "hashing": hashing,
            "logins": logins,
            "logins_per_second": rate,
            "wrong_password_worker_ms": wrong_worker,
            "wrong_password_client_ms": wrong_client,
            "refused_worker_ms": refused_worker,
            "login_form_get_worker_ms": form_worker,
            "refused_client_ms": refused_client,
            "interleaved_hash_ms": hash_ms,
            "refused_share_of_hash": share,
            "target_share": TARGET_SHARE,
            "met": share < TARGET_SHARE,
        },
        body,
    )


if __name__ == "__main__":
    main()
