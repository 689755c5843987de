"""A proxy in front of gunicorn, as in production: gunicorn on a unix socket (proxy headers
trusted, downloads handed over with X-Accel-Redirect), a shipped template (deploy/nginx,
deploy/Caddyfile) rendered for a temporary installation, and a server process started,
waited for and stopped. Used by the nginx and Caddy end-to-end tests (their client journey
is in tests/e2e/proxy_checks.py) and by ``python -m benchmarks.download``."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import ports
from tests.support.servers import GUNICORN, ROOT, Installation
from tests.support.waiting import SERVER_START_TIMEOUT, wait_until

__all__ = [
    "NGINX",
    "NGINX_TEMPLATE",
    "PLACEHOLDER",
    "Proxy",
    "free_port",
    "ipv6_available",
    "is_comment",
    "nginx_in_front",
    "render",
    "running",
    "start_gunicorn",
    "tls_context",
    "wait_https",
]

PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def free_port() -> int:
    """A port free on 127.0.0.1 and, where there is IPv6, on ::1 too; one the kernel does
    not hand out to other sockets meanwhile (tests/support/ports.py)."""
    return ports.free_port(ipv6=ipv6_available())


def is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace every {{NAME}} outside comments, as the documented sed line does; a
    placeholder without a value, or a value for no placeholder, fails."""
    body = "\n".join(line for line in template.splitlines() if not is_comment(line))
    used = set(PLACEHOLDER.findall(body))
    missing = used - set(values)
    assert not missing, f"no test value for placeholders {sorted(missing)}"
    unused = set(values) - used
    assert not unused, f"placeholders {sorted(unused)} do not occur in the template"
    return (
        "\n".join(
            line if is_comment(line) else PLACEHOLDER.sub(lambda m: values[m.group(1)], line)
            for line in template.splitlines()
        )
        + "\n"
    )


def tls_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@dataclass
class Proxy:
    """A running proxy in front of gunicorn, reached as https://localhost:<https_port>."""

    name: str
    http_port: int
    https_port: int
    cert: Path
    access_log: Path
    error_log: Path
    gunicorn_log: Path
    private_dir: Path
    static_root: Path

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.https_port}"

    def client(self, **headers: str) -> httpx.Client:
        # From 127.0.0.1, so that the address the audit must show is known.
        context = tls_context(self.cert)
        return httpx.Client(
            base_url=self.base_url,
            transport=httpx.HTTPTransport(verify=context, local_address="127.0.0.1"),
            headers={"Origin": self.base_url, "User-Agent": "invoiceportal-e2e/1.0", **headers},
            timeout=60,  # an answer, however slow the machine; never a hang
        )


@contextlib.contextmanager
def running(
    command: list[str],
    *,
    log_path: Path,
    ready: Callable[[], bool],
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = SERVER_START_TIMEOUT,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until ``ready()``, stop it (TERM, then KILL) at the end."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=dict(env) if env is not None else None, stdout=log, stderr=log
        )

    def answered() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"{what} exited with {process.returncode}:\n{log_path.read_text()}"
            )
        with contextlib.suppress(httpx.HTTPError, OSError):
            return ready()
        return False

    try:
        wait_until(
            answered,
            timeout=timeout,
            interval=0.2,
            what=f"{what} to answer /healthz",
            describe=lambda: log_path.read_text()[-3000:],
        )
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def start_gunicorn(
    installation: Installation,
    socket_path: Path,
    log_path: Path,
    *,
    workers: str | None = "2",
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn as in production behind a proxy: a unix socket, no TLS, proxy headers
    trusted, downloads handed over with X-Accel-Redirect. ``workers`` None keeps the
    config's default (2 x cores + 1)."""
    env = {
        **installation.env,
        "INVOICEPORTAL_BEHIND_PROXY": "1",
        "INVOICEPORTAL_SENDFILE": "nginx",
        "GUNICORN_BIND": f"unix:{socket_path}",
        **(extra_env or {}),
    }
    env.pop("GUNICORN_WORKERS", None)
    if workers is not None:
        env["GUNICORN_WORKERS"] = workers
    for key in ("GUNICORN_CERTFILE", "GUNICORN_KEYFILE"):
        env.pop(key, None)

    def ready() -> bool:
        transport = httpx.HTTPTransport(uds=str(socket_path))
        with httpx.Client(transport=transport, base_url="http://localhost", timeout=5) as http:
            return http.get("/healthz").status_code == 200

    with running(
        [str(GUNICORN), "-c", "deploy/gunicorn.conf.py"],
        log_path=log_path,
        ready=ready,
        what="gunicorn",
        env=env,
    ) as process:
        yield process


def wait_https(proxy: Proxy) -> Callable[[], bool]:
    def ready() -> bool:
        with proxy.client() as http:
            return http.get("/healthz").status_code == 200

    return ready


NGINX = Path("/usr/sbin/nginx")
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "invoiceportal.conf"

# The test's stand-in for Debian's /etc/nginx/nginx.conf: everything in the temporary
# directory, the rendered site included in the http block as sites-enabled/ would be.
MAIN_CONF = """\
{user}
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log notice;
events {{
    worker_connections 256;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    access_log {tmp}/other.access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/sites-enabled/invoiceportal.conf;
}}
"""


@contextlib.contextmanager
def nginx_in_front(
    installation: Installation,
    tmp: Path,
    *,
    edit_site: Callable[[str], str] | None = None,
    workers: str | None = "2",
) -> Iterator[Proxy]:
    """deploy/nginx/invoiceportal.conf rendered for ``installation`` (files under ``tmp``),
    nginx on free loopback ports in front of gunicorn on a unix socket; both are stopped
    at the end. ``edit_site`` may change the rendered site (benchmarks/download.py adds a
    static location); ``workers`` is passed to ``start_gunicorn``."""
    assert NGINX.is_file(), (
        f"{NGINX} is missing: the nginx end-to-end test needs Debian's nginx "
        "(apt-get install nginx-light, scripts/system-deps)"
    )
    (tmp / "sites-enabled").mkdir()
    http_port, https_port = free_port(), free_port()
    tls = installation.root / "data" / "tls"
    proxy = Proxy(
        name="nginx",
        http_port=http_port,
        https_port=https_port,
        cert=tls / "cert.pem",
        access_log=tmp / "invoiceportal.access.log",
        error_log=tmp / "error.log",
        gunicorn_log=installation.root / "gunicorn-nginx.log",
        private_dir=installation.root / "data" / "private" / "invoices",
        static_root=installation.root / "static",
    )
    installation.env = {**installation.env, "INVOICEPORTAL_BASE_URL": proxy.base_url}

    template = NGINX_TEMPLATE.read_text()
    if not ipv6_available():
        # As the template's header says for a host without IPv6.
        template = "\n".join(
            line for line in template.splitlines() if not line.rstrip().endswith("# ipv6")
        )
    site = render(
        template,
        {
            "SERVER_NAME": "localhost",
            "LISTEN_V4": "127.0.0.1",
            "LISTEN_V6": "[::1]",
            "HTTP_PORT": str(http_port),
            "HTTPS_PORT": str(https_port),
            "CERT": str(tls / "cert.pem"),
            "KEY": str(tls / "key.pem"),
            "SOCKET": str(tmp / "gunicorn.sock"),
            "STATIC_ROOT": str(proxy.static_root),
            "PRIVATE_DIR": str(proxy.private_dir),
            "ACCESS_LOG": str(proxy.access_log),
        },
    )
    if edit_site is not None:
        site = edit_site(site)
    (tmp / "sites-enabled" / "invoiceportal.conf").write_text(site)
    # As root (CI) nginx's workers would otherwise run as "nobody", who cannot enter
    # pytest's 0700 temporary directories; in production they run as www-data.
    user = f"user {pwd.getpwuid(0).pw_name};" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(MAIN_CONF.format(tmp=tmp, user=user))
    command = [str(NGINX), "-p", str(tmp), "-c", str(conf)]
    checked = subprocess.run(
        [*command, "-t", "-q"], capture_output=True, text=True, check=False, timeout=30
    )
    assert checked.returncode == 0, f"nginx -t refused the rendered config:\n{checked.stderr}"

    with (
        start_gunicorn(installation, tmp / "gunicorn.sock", proxy.gunicorn_log, workers=workers),
        running(
            [*command, "-g", "daemon off;"],
            log_path=tmp / "nginx.stderr",
            ready=wait_https(proxy),
            what="nginx",
        ),
    ):
        yield proxy
