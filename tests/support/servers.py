"""A real installation in a temporary directory, served by gunicorn over TLS as `make run`
does: on SQLite, or in a throwaway PostgreSQL database. The harness of the end-to-end
tests (tests/e2e/conftest.py's fixtures call it), the fault drills and the benchmarks
(``python -m benchmarks.download`` and others import it); it defines no fixture."""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import ports
from tests.support.waiting import SERVER_START_TIMEOUT, wait_until

__all__ = [
    "GUNICORN",
    "ROOT",
    "Installation",
    "Server",
    "build_installation",
    "free_port",
    "gunicorn_over_tls",
    "new_installation",
    "throwaway_database",
]

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    """A free loopback port that the kernel does not hand out (tests/support/ports.py)."""
    return ports.free_port()


@dataclass
class Installation:
    root: Path
    env: dict[str, str]

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,  # migrate on a loaded 2-core machine: generous, still bounded
        )
        assert result.returncode == 0, (
            f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}"
        )
        return result.stdout


@contextlib.contextmanager
def throwaway_database(outer_url: str, *, prefix: str = "test_invoiceportal_e2e") -> Iterator[str]:
    """ "" (SQLite) unless ``outer_url`` is a PostgreSQL URL; then a new database named
    ``<prefix>_<random>`` on that server, dropped at the end. (The benchmarks use it too.)"""
    if not outer_url.startswith("postgres"):
        yield ""
        return
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = outer_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield outer_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_installation(root: Path, db_url: str) -> Installation:
    """Migrate, collect static files and make a TLS certificate for an installation with
    its data directory under ``root`` and its database at ``db_url`` ("" for SQLite)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICEPORTAL_", "DJANGO_"))}
    env.update(
        {
            "INVOICEPORTAL_DATA_DIR": str(root / "data"),
            "INVOICEPORTAL_STATIC_ROOT": str(root / "static"),
            "DATABASE_URL": db_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    install = Installation(root=root, env=env)
    install.manage("migrate", "--noinput", "-v0")
    install.manage("collectstatic", "--noinput", "-v0")
    install.manage("tls_selfsigned")
    return install


@contextlib.contextmanager
def new_installation(root: Path, database_url: str) -> Iterator[Installation]:
    """``build_installation`` on SQLite when ``database_url`` is empty, else in a throwaway
    PostgreSQL database dropped at the end."""
    with throwaway_database(database_url) as db_url:
        yield build_installation(root, db_url)


@dataclass
class Server:
    base_url: str
    port: int
    cert: Path
    log_path: Path
    pid: int = 0  # gunicorn's master process

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            verify=ssl.create_default_context(cafile=str(self.cert)),
            headers={"Origin": self.base_url, "User-Agent": "invoiceportal-e2e/1.0"},
            timeout=60,  # an answer, however slow the machine; never a hang
        )


@contextlib.contextmanager
def gunicorn_over_tls(
    installation: Installation, *, workers: str | None, log_name: str
) -> Iterator[Server]:
    """gunicorn with deploy/gunicorn.conf.py over TLS on a free port, as `make run` starts it;
    ``workers`` None keeps the config's production default (2 x cores + 1)."""
    port = free_port()
    base_url = f"https://localhost:{port}"
    tls = installation.root / "data" / "tls"
    env = {
        **installation.env,
        "INVOICEPORTAL_BASE_URL": base_url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_CERTFILE": str(tls / "cert.pem"),
        "GUNICORN_KEYFILE": str(tls / "key.pem"),
    }
    env.pop("GUNICORN_WORKERS", None)
    if workers is not None:
        env["GUNICORN_WORKERS"] = workers
    installation.env = env
    log_path = installation.root / log_name
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "deploy/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    srv = Server(
        base_url=base_url,
        port=port,
        cert=tls / "cert.pem",
        log_path=log_path,
        pid=process.pid,
    )
    try:

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError("gunicorn exited:\n" + log_path.read_text())
            with contextlib.suppress(httpx.HTTPError), srv.client() as http:
                return http.get("/healthz").status_code == 200
            return False

        wait_until(
            healthy,
            timeout=SERVER_START_TIMEOUT,
            interval=0.2,
            what=f"gunicorn's /healthz on port {port}",
            describe=lambda: log_path.read_text()[-3000:],
        )
        yield srv
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
