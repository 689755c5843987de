"""End to end behind Debian's Caddy: deploy/Caddyfile rendered for a temporary
installation, caddy on free loopback ports in front of gunicorn on a unix socket, and the
client journey through it."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.proxy_checks import (
    LAST_PROBE_LOGGED,
    Journey,
    assert_defaults_documented,
    assert_no_token,
    check_audit,
    check_download,
    check_hsts,
    check_internal_location,
    check_logs,
    check_other_client,
    check_render_line,
    check_static,
    documented_defaults,
    hashed_static_file,
    probe_redaction,
    run_journey,
    wait_for_text,
)
from tests.support.proxies import (
    Proxy,
    free_port,
    render,
    running,
    start_gunicorn,
    tls_context,
    wait_https,
)
from tests.support.servers import ROOT, Installation

pytestmark = pytest.mark.e2e

CADDY = Path("/usr/bin/caddy")
TEMPLATE = ROOT / "deploy" / "Caddyfile"


@pytest.fixture(scope="module")
def planned(installation: Installation, tmp_path_factory) -> Proxy:
    """Where this module's Caddy will listen and write; the installation's base URL."""
    tmp = tmp_path_factory.mktemp("caddy")
    tls = installation.root / "data" / "tls"
    proxy = Proxy(
        name="caddy",
        http_port=free_port(),
        https_port=free_port(),
        cert=tls / "cert.pem",
        access_log=tmp / "invoiceportal.access.log",
        error_log=tmp / "caddy.stderr",
        gunicorn_log=installation.root / "gunicorn-caddy.log",
        private_dir=installation.root / "data" / "private" / "invoices",
        static_root=installation.root / "static",
    )
    installation.env = {**installation.env, "INVOICEPORTAL_BASE_URL": proxy.base_url}
    return proxy


@pytest.fixture(scope="module")
def gunicorn_behind_caddy(installation: Installation, planned: Proxy):
    """gunicorn for this module, stoppable by the last test."""
    socket_path = planned.access_log.parent / "gunicorn.sock"
    with start_gunicorn(installation, socket_path, planned.gunicorn_log) as process:
        yield process


@pytest.fixture(scope="module")
def caddy(planned: Proxy, gunicorn_behind_caddy) -> Iterator[Proxy]:
    assert CADDY.is_file(), (
        f"{CADDY} is missing: the Caddy end-to-end test needs Debian's caddy "
        "(apt-get install caddy, scripts/system-deps)"
    )
    proxy = planned
    tmp = proxy.access_log.parent
    tls = proxy.cert.parent
    site = render(
        TEMPLATE.read_text(),
        {
            "SERVER_NAME": "localhost",
            # The installation's throwaway certificate instead of ACME.
            "TLS": f"{tls / 'cert.pem'} {tls / 'key.pem'}",
            "ADMIN": "off",
            # One address, as in production: with several, Caddy 2.6 puts its
            # HTTP->HTTPS redirect on the last one only.
            "BIND": "127.0.0.1",
            "HTTP_PORT": str(proxy.http_port),
            "HTTPS_PORT": str(proxy.https_port),
            "SOCKET": str(tmp / "gunicorn.sock"),
            "STATIC_ROOT": str(proxy.static_root),
            "PRIVATE_DIR": str(proxy.private_dir),
            "ACCESS_LOG": str(proxy.access_log),
        },
    )
    config = tmp / "Caddyfile"
    config.write_text(site)
    # Caddy's storage (certificates, locks, autosaved config) in the temporary directory.
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp / "home"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
    }
    formatted = subprocess.run(
        [str(CADDY), "fmt", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env=env,
    )
    assert formatted.returncode == 0, formatted.stderr
    assert formatted.stdout == site, "the rendered Caddyfile is not as `caddy fmt` writes it"

    with running(
        [str(CADDY), "run", "--config", str(config), "--adapter", "caddyfile"],
        log_path=proxy.error_log,
        ready=wait_https(proxy),
        what="caddy",
        env=env,
    ):
        yield proxy
    # The throwaway certificate was used: Caddy neither made a CA nor asked an ACME server.
    assert not (tmp / "data" / "caddy" / "pki").exists()
    assert not (tmp / "data" / "caddy" / "acme").exists()


@pytest.fixture(scope="module")
def journey(installation: Installation, caddy: Proxy, tmp_path_factory) -> Journey:
    return run_journey(installation, caddy, tmp_path_factory.mktemp("journey"), "caddy")


def test_template_documents_every_placeholder_and_how_to_render_it(tmp_path):
    template = TEMPLATE.read_text()
    assert_defaults_documented(template)
    check_render_line(TEMPLATE)
    # The production rendering (automatic TLS for the real name) is a valid Caddyfile too.
    assert CADDY.is_file(), f"{CADDY} is missing (apt-get install caddy)"
    production = tmp_path / "Caddyfile"
    production.write_text(render(template, documented_defaults(template)))
    adapted = subprocess.run(
        [str(CADDY), "adapt", "--config", str(production), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert adapted.returncode == 0, adapted.stderr
    config = json.loads(adapted.stdout)
    servers = config["apps"]["http"]["servers"]
    assert [server["listen"] for server in servers.values()] == [["[::]:443"]]
    policies = config["apps"]["tls"]["automation"]["policies"]
    assert policies[0]["subjects"] == ["portal.example.com"]
    assert policies[0]["issuers"][0]["email"] == "ops@example.com"


def test_plain_http_only_redirects_to_https(caddy: Proxy):
    response = httpx.get(
        f"http://127.0.0.1:{caddy.http_port}/invoices/?page=2",
        headers={"Host": "localhost"},
        timeout=10,
    )
    assert response.status_code in {301, 308}
    # Caddy leaves out the port it was told is the HTTPS one: 443 in production.
    assert response.headers["location"] == "https://localhost/invoices/?page=2"
    assert "page=2" not in caddy.gunicorn_log.read_text(), "plain HTTP reached gunicorn"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_refuses_old_protocols(caddy: Proxy):
    with (
        socket.create_connection(("127.0.0.1", caddy.https_port), timeout=10) as raw,
        tls_context(caddy.cert).wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() == "TLSv1.3"
    weak = tls_context(caddy.cert)
    weak.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    weak.maximum_version = ssl.TLSVersion.TLSv1_1
    weak.set_ciphers("DEFAULT:@SECLEVEL=0")
    with (
        pytest.raises((ssl.SSLError, ConnectionError)),
        socket.create_connection(("127.0.0.1", caddy.https_port), timeout=10) as raw,
        weak.wrap_socket(raw, server_hostname="localhost"),
    ):
        pass


def test_hsts_on_every_answer(caddy: Proxy):
    check_hsts(caddy, hashed_static_file(caddy.static_root)[0])


def test_static_files_served_by_caddy(caddy: Proxy):
    check_static(caddy)


def test_owner_download_byte_identical_through_x_accel_redirect(caddy: Proxy, journey: Journey):
    check_download(caddy, journey)
    for download in journey.downloads:
        assert "server" not in download.headers
        assert download.headers.get_list("strict-transport-security") == [
            "max-age=31536000; includeSubDomains; preload"
        ]
        assert download.headers["x-frame-options"] == "DENY"


def test_internal_location_unreachable_from_outside(caddy: Proxy, journey: Journey):
    check_internal_location(caddy, journey)


def test_another_clients_contact_gets_404(journey: Journey):
    check_other_client(journey)


def test_audit_records_the_clients_real_address(installation: Installation, journey: Journey):
    check_audit(installation, journey)


def _access_log_uris(path: Path) -> list[str]:
    return [json.loads(line)["request"]["uri"] for line in path.read_text().splitlines()]


def test_logs_hold_no_token(caddy: Proxy, journey: Journey):
    check_logs(caddy, journey, [caddy.access_log, caddy.error_log])
    uris = _access_log_uris(caddy.access_log)
    for expected in (
        "/d/[redacted]/",
        "/invite/[redacted]/",
        "/accounts/reset/[redacted]/",
        "/accounts/login/?next=%2Fd%2F[redacted]%2F",
        "/accounts/login/?next=/d/[redacted]/",
        "/invite/[redacted]/?next=%2Fd%2F[redacted]%2F",
    ):
        assert expected in uris, (expected, uris)
    # Dropped from the logged request and response headers.
    text = caddy.access_log.read_text()
    for header in ("Referer", "Cookie", "Location", "Set-Cookie"):
        assert f'"{header}":[' not in text, header


def test_caddy_error_log_redacts_tokens_while_gunicorn_is_down(
    caddy: Proxy, journey: Journey, gunicorn_behind_caddy
):
    """Last in this module: stops gunicorn. Caddy then logs failed requests with their
    URI in its own (error) log, which must be redacted too."""
    gunicorn_behind_caddy.terminate()
    gunicorn_behind_caddy.wait(timeout=30)
    tokens = probe_redaction(caddy, expect_server_errors=True)
    errors = wait_for_text(caddy.error_log, f'"uri":"{LAST_PROBE_LOGGED}"')
    assert errors.count("dial unix") >= 7, errors[-3000:]
    assert_no_token(errors, [*tokens, *journey.tokens], "caddy's own log")
    assert_no_token(caddy.access_log.read_text(), tokens, "caddy's access log")
