"""End to end behind Debian's nginx: deploy/nginx/invoiceportal.conf rendered for a
temporary installation, nginx on free loopback ports in front of gunicorn on a unix
socket, and the client journey through it."""

from __future__ import annotations

import os
import pwd
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ROOT, Installation
from tests.e2e.proxy_support import (
    Journey,
    Proxy,
    assert_defaults_documented,
    check_audit,
    check_download,
    check_hsts,
    check_internal_location,
    check_logs,
    check_other_client,
    check_render_line,
    check_static,
    free_port,
    hashed_static_file,
    ipv6_available,
    render,
    run_journey,
    running,
    start_gunicorn,
    tls_context,
    wait_for_text,
    wait_https,
)

pytestmark = pytest.mark.e2e

NGINX = Path("/usr/sbin/nginx")
TEMPLATE = ROOT / "deploy" / "nginx" / "invoiceportal.conf"

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


@pytest.fixture(scope="module")
def nginx(installation: Installation, tmp_path_factory) -> Iterator[Proxy]:
    assert NGINX.is_file(), (
        f"{NGINX} is missing: the nginx end-to-end test needs Debian's nginx "
        "(apt-get install nginx-light, scripts/system-deps)"
    )
    tmp = tmp_path_factory.mktemp("nginx")
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

    template = TEMPLATE.read_text()
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
        start_gunicorn(installation, tmp / "gunicorn.sock", proxy.gunicorn_log),
        running(
            [*command, "-g", "daemon off;"],
            log_path=tmp / "nginx.stderr",
            ready=wait_https(proxy),
            what="nginx",
        ),
    ):
        yield proxy


@pytest.fixture(scope="module")
def journey(installation: Installation, nginx: Proxy, tmp_path_factory) -> Journey:
    return run_journey(installation, nginx, tmp_path_factory.mktemp("journey"), "nginx")


def test_template_documents_every_placeholder_and_how_to_render_it():
    assert_defaults_documented(TEMPLATE.read_text())
    check_render_line(TEMPLATE)


def test_plain_http_only_redirects_to_https(nginx: Proxy):
    for host in ("localhost", "evil.example"):
        response = httpx.get(
            f"http://127.0.0.1:{nginx.http_port}/invoices/?page=2",
            headers={"Host": host},
            timeout=10,
        )
        assert response.status_code == 301
        # The site's name, never the Host header's; :443 is the production port.
        assert response.headers["location"] == "https://localhost/invoices/?page=2"
        assert response.headers.get("strict-transport-security") is None
        assert "csrf" not in response.text.lower()
    before = nginx.gunicorn_log.read_text().count("page=2")
    assert before == 0, "a plain-HTTP request reached gunicorn"


def test_ipv6_listener(nginx: Proxy):
    site = (nginx.access_log.parent / "sites-enabled" / "invoiceportal.conf").read_text()
    if not ipv6_available():
        assert "[::1]" not in site
        return
    assert site.count("listen [::1]:") == 3
    with httpx.Client(verify=tls_context(nginx.cert), timeout=10) as http:
        response = http.get(
            f"https://[::1]:{nginx.https_port}/healthz",
            headers={"Host": f"localhost:{nginx.https_port}"},
            extensions={"sni_hostname": "localhost"},
        )
    assert response.status_code == 200
    wait_for_text(nginx.access_log, "\n::1 [")


def _handshake(port: int, context: ssl.SSLContext, server_name: str = "localhost"):
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        return tls.version(), tls.cipher()[0], tls.session


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_is_mozilla_intermediate(nginx: Proxy):
    version, _, _ = _handshake(nginx.https_port, tls_context(nginx.cert))
    assert version == "TLSv1.3"

    tls12 = tls_context(nginx.cert)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    version, cipher, session = _handshake(nginx.https_port, tls12)
    assert version == "TLSv1.2"
    assert cipher.startswith("ECDHE-")
    assert not session.has_ticket, "session tickets are on"

    # A client offering only what intermediate leaves out is refused by the server.
    for ceiling, ciphers in (
        (ssl.TLSVersion.TLSv1_1, "DEFAULT:@SECLEVEL=0"),
        (ssl.TLSVersion.TLSv1_2, "AES128-SHA:AES256-SHA:AES128-SHA256:AES128-GCM-SHA256"),
        (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"),
    ):
        weak = tls_context(nginx.cert)
        weak.minimum_version = ssl.TLSVersion.TLSv1
        weak.maximum_version = ceiling
        weak.set_ciphers(ciphers)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _handshake(nginx.https_port, weak)

    # Another name (or none) is refused in the handshake.
    context = tls_context(nginx.cert)
    context.check_hostname = False
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(nginx.https_port, context, server_name="other.example")


def test_hsts_on_every_answer(nginx: Proxy):
    check_hsts(nginx, hashed_static_file(nginx.static_root)[0])


def test_static_files_served_by_nginx(nginx: Proxy):
    check_static(nginx)


def test_owner_download_byte_identical_through_x_accel_redirect(nginx: Proxy, journey: Journey):
    check_download(nginx, journey)
    for download in journey.downloads:
        assert download.headers["server"] == "nginx"
        assert download.headers.get_list("strict-transport-security") == [
            "max-age=31536000; includeSubDomains; preload"
        ]
        assert download.headers["x-frame-options"] == "DENY"


def test_internal_location_unreachable_from_outside(nginx: Proxy, journey: Journey):
    check_internal_location(nginx, journey)


def test_another_clients_contact_gets_404(journey: Journey):
    check_other_client(journey)


def test_upload_cap_matches_django(nginx: Proxy):
    """A body over 21 MiB (the 20 MiB upload cap plus form overhead) is refused by nginx
    from its Content-Length alone, before gunicorn is involved."""
    before = nginx.gunicorn_log.read_text().count("POST /accounts/login/")
    request = (
        "POST /accounts/login/ HTTP/1.1\r\n"
        f"Host: localhost:{nginx.https_port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {21 * 1024 * 1024 + 1}\r\n"
        "Connection: close\r\n\r\n"
    )
    context = tls_context(nginx.cert)
    with (
        socket.create_connection(("127.0.0.1", nginx.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(request.encode())
        answer = tls.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413 "), answer[:200]
    assert nginx.gunicorn_log.read_text().count("POST /accounts/login/") == before


def test_audit_records_the_clients_real_address(installation: Installation, journey: Journey):
    check_audit(installation, journey)


def test_logs_hold_no_token(nginx: Proxy, journey: Journey):
    check_logs(nginx, journey, [nginx.access_log, nginx.error_log])
    log = nginx.access_log.read_text()
    assert "GET /d/[redacted]/ " in log
    assert "GET /invite/[redacted]/ " in log
    assert "GET /accounts/reset/[redacted]/ " in log
    assert "next=%2Fd%2F[redacted]%2F" in log
    assert "next=/d/[redacted]/" in log
    assert "GET /invite/[redacted]/?next=%2Fd%2F[redacted]%2F " in log
    assert "invoiceportal-e2e/1.0" in log
