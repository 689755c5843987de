"""Machinery for the fault drills (tests/reliability/test_faults.py): a private, throwaway
PostgreSQL cluster that can be stopped and started without touching the shared server;
gunicorn's processes and which worker holds a given connection (/proc, no psutil); a tmpfs
mounted over the private file store that can be made read-only or full; a logged-in
portal client over real HTTPS; and a large PDF that a slow reader cannot swallow at once.

Every helper that starts something stops it in a ``finally``; a missing tool (initdb,
mount) is a loud failure, never a skip.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.waiting import wait_until

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
INVOICE_RE = re.compile(r'href="(/invoices/[0-9a-f-]{36}/)"')
DIGEST_RE = re.compile(r'<code class="digest">([0-9a-f]{64})</code>')


# --- A private PostgreSQL cluster ----------------------------------------------------------


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of our own in a temporary directory, on a free loopback port,
    trust authentication; run as the ``postgres`` OS user when the tests run as root
    (PostgreSQL refuses to run as root)."""

    bindir: Path
    base: Path
    port: int
    as_postgres: list[str]

    @property
    def data(self) -> Path:
        return self.base / "data"

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str, timeout: float = 90) -> None:
        result = subprocess.run(
            [*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"pg_ctl {args}: {result.stdout}\n{result.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        self._pg_ctl("-l", str(self.base / "server.log"), "-w", "-t", "60", "-o", options, "start")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` is a crash as far as clients can tell: every connection is cut and
        the next start runs crash recovery."""
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivateCluster]:
    """initdb, start; always stopped and removed afterwards, whatever happened."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("initdb not found under /usr/lib/postgresql/*/bin: install postgresql")
    bindir = Path(found[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="invoiceportal-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    cluster = PrivateCluster(bindir=bindir, base=base, port=free_port(), as_postgres=as_postgres)
    try:
        init = subprocess.run(
            [
                *as_postgres,
                str(bindir / "initdb"),
                "-D",
                str(cluster.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert init.returncode == 0, f"initdb failed:\n{init.stdout}\n{init.stderr}"
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


# --- gunicorn's processes ------------------------------------------------------------------


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (gunicorn's master: its workers)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def wait_for_workers(
    master: int, count: int, *, without: frozenset[int] = frozenset(), timeout: float = 90
) -> set[int]:
    """gunicorn's workers once there are ``count`` of them and none of ``without`` (a
    killed worker until it is reaped)."""

    def settled() -> set[int] | None:
        workers = children(master)
        return workers if len(workers) == count and not workers & without else None

    return wait_until(
        settled,
        timeout=timeout,
        interval=0.1,
        what=f"gunicorn {master} to run {count} workers, none of {sorted(without)}",
        describe=lambda: sorted(children(master)),
    )


def _tcp_row(local_port: int, remote_port: int) -> list[str] | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local, remote, inode = fields[1], fields[2], int(fields[9])
                if (
                    int(local.rsplit(":", 1)[1], 16) == local_port
                    and int(remote.rsplit(":", 1)[1], 16) == remote_port
                    and inode
                ):
                    return fields
    return None


def _tcp_inode(local_port: int, remote_port: int) -> int | None:
    fields = _tcp_row(local_port, remote_port)
    return int(fields[9]) if fields else None


def send_queue(local_port: int, remote_port: int) -> int:
    """Bytes the socket from ``local_port`` to ``remote_port`` holds unsent or unacknowledged
    (/proc/net/tcp's tx_queue): above 0 while a reader that reads no more keeps the
    sender blocked."""
    fields = _tcp_row(local_port, remote_port)
    return int(fields[4].split(":")[0], 16) if fields else 0


def worker_serving(master: int, *, server_port: int, client_port: int) -> int:
    """The worker process holding the server end of the connection from ``client_port``."""
    inode = _tcp_inode(server_port, client_port)
    assert inode, f"no server-side socket for the connection from port {client_port}"
    wanted = f"socket:[{inode}]"
    for pid in children(master):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == wanted:
                        return pid
    raise AssertionError(f"no worker of {master} holds the connection from port {client_port}")


# --- A small file system over the private store ------------------------------------------


@contextlib.contextmanager
def tmpfs_at(path: Path, *, size: str = "4m") -> Iterator[Path]:
    """Mount a small tmpfs over ``path`` (which must exist); always unmounted afterwards.
    Needs root with CAP_SYS_ADMIN: a failure says so instead of skipping, because the
    drill's point is the real EROFS/ENOSPC from the kernel."""
    if shutil.which("mount") is None:
        pytest.fail("the storage drills need mount(8)")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            "the storage drills mount a tmpfs over the private file store and need root "
            f"with CAP_SYS_ADMIN; mount failed: {result.stderr.strip()}"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def remount(path: Path, mode: str) -> None:
    """``mode`` "ro" or "rw": the mounted store becomes read-only or writable again."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)


def fill(path: Path) -> Path:
    """Write a filler file into ``path`` until the file system is full; returns it."""
    filler = path / "filler-of-the-drill"
    block = b"\0" * 65536
    with filler.open("wb", buffering=0) as handle:
        while True:
            try:
                handle.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    # Any last partial page as well: the file system has no free block left.
    with filler.open("ab", buffering=0) as handle:
        for size in (4096, 512, 1):
            with contextlib.suppress(OSError):
                while handle.write(b"\0" * size):
                    pass
    return filler


# --- Portal clients over real HTTPS --------------------------------------------------------


def login(http: httpx.Client, email: str, password: str) -> None:
    form = http.get("/accounts/login/")
    assert form.status_code == 200, form.status_code
    token = CSRF_RE.search(form.text)
    assert token, "login form without a CSRF token"
    done = http.post(
        "/accounts/login/",
        data={"csrfmiddlewaretoken": token.group(1), "username": email, "password": password},
    )
    assert done.status_code == 302, (done.status_code, done.text[:500])
    target = httpx.URL(done.headers["location"]).path
    assert not target.startswith(("/accounts/", "/account/")), f"login led to {target}"


@dataclass
class Ticket:
    """What the invoice page says about a file, and a fresh single-use link to it."""

    digest: str
    link: str


def download_ticket(http: httpx.Client, detail_path: str) -> Ticket | httpx.Response:
    """The invoice page's SHA-256 and a link from its Download button; the failing
    response instead if either request did not succeed."""
    detail = http.get(detail_path)
    if detail.status_code != 200:
        return detail
    digest, token = DIGEST_RE.search(detail.text), CSRF_RE.search(detail.text)
    assert digest and token, f"invoice page {detail_path} without SHA-256 or CSRF token"
    button = http.post(detail_path + "download/", data={"csrfmiddlewaretoken": token.group(1)})
    if button.status_code != 302:
        return button
    link = httpx.URL(button.headers["location"]).path
    assert link.startswith("/d/"), link
    return Ticket(digest=digest.group(1), link=link)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- A large PDF ---------------------------------------------------------------------------


def large_pdf(megabytes: int) -> bytes:
    """A valid one-page PDF of about ``megabytes`` MB: its content stream is mostly
    comment lines of random hex (never "%%EOF"), so it neither compresses nor renders."""
    line_count = megabytes * 1024 * 1024 // 65
    lines = [b"% " + os.urandom(31).hex().encode() + b"\n" for _ in range(line_count)]
    content = b"".join(lines) + b"BT /F1 12 Tf 72 720 Td (Large test invoice) Tj ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
