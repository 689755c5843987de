"""End to end behind Debian's nginx: deploy/nginx/invoiceportal.conf rendered for a
temporary installation, nginx on free loopback ports in front of gunicorn on a unix
socket, and the client journey through it."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.proxy_checks import (
    Journey,
    assert_defaults_documented,
    check_audit,
    check_download,
    check_hsts,
    check_internal_location,
    check_logs,
    check_other_client,
    check_render_line,
    check_static,
    hashed_static_file,
    run_journey,
    wait_for_text,
)
from tests.support.proxies import (
    NGINX_TEMPLATE,
    Proxy,
    ipv6_available,
    nginx_in_front,
    tls_context,
)
from tests.support.servers import Installation

pytestmark = pytest.mark.e2e

TEMPLATE = NGINX_TEMPLATE


@pytest.fixture(scope="module")
def nginx(installation: Installation, tmp_path_factory) -> Iterator[Proxy]:
    with nginx_in_front(installation, tmp_path_factory.mktemp("nginx")) as proxy:
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
