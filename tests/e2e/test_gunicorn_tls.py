"""End to end: the real gunicorn over TLS, a real HTTP client, the whole client journey."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from tests.e2e.proxy_checks import hashed_static_file
from tests.factories import pdf_bytes

pytestmark = pytest.mark.e2e

PASSWORD = "an end to end passphrase 2026"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_client_journey_over_tls(installation, server, tmp_path):
    content = pdf_bytes("End to end", pages=2)
    pdf = tmp_path / "e2e.pdf"
    pdf.write_bytes(content)
    invite_url = (
        installation.manage("invite_client", "--name", "E2E GmbH", "--email", "ap@e2e.example")
        .strip()
        .splitlines()[-1]
    )
    assert invite_url.startswith(server.base_url + "/invite/")
    out = installation.manage(
        "add_invoice",
        str(pdf),
        "--client-email",
        "ap@e2e.example",
        "--number",
        "INV-E2E-001",
        "--issued",
        "2026-11-01",
        "--due",
        "2026-12-01",
        "--total",
        "1200.00",
        "--currency",
        "EUR",
    )
    detail_url = out.strip().splitlines()[-1]
    assert detail_url.startswith(server.base_url + "/invoices/")
    token_seen = []

    with server.client() as http:
        page = http.get(invite_url)
        assert page.status_code == 200
        token_seen.append(invite_url.rstrip("/").rsplit("/", 1)[-1])
        chosen = http.post(
            invite_url,
            data={
                "csrfmiddlewaretoken": _csrf(page.text),
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
        assert chosen.status_code == 302, chosen.text[:500]
        assert "__Host-sessionid" in http.cookies

        history = http.get("/invoices/")
        assert history.status_code == 200
        assert "INV-E2E-001" in history.text
        assert history.headers["strict-transport-security"].startswith("max-age=31536000")

        detail = http.get(detail_url)
        assert detail.status_code == 200
        assert hashlib.sha256(content).hexdigest() in detail.text
        button = http.post(
            detail_url + "download/", data={"csrfmiddlewaretoken": _csrf(detail.text)}
        )
        assert button.status_code == 302
        link = button.headers["location"]
        assert link.startswith("/d/")
        token_seen.append(link.strip("/").rsplit("/", 1)[-1])

        download = http.get(link)
        assert download.status_code == 200
        assert download.content == content
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["content-disposition"] == 'attachment; filename="INV-E2E-001.pdf"'
        assert download.headers["cache-control"] == "private, no-store"
        assert download.headers["x-content-type-options"] == "nosniff"
        assert int(download.headers["content-length"]) == len(content)

        # the portal's link is single-use
        assert http.get(link).status_code == 404

        # a second link, asked for over plain HTTP on the same port: never served
        detail = http.get(detail_url)
        second = http.post(
            detail_url + "download/", data={"csrfmiddlewaretoken": _csrf(detail.text)}
        ).headers["location"]
    plain_url = f"http://localhost:{server.port}{second}"
    try:
        response = httpx.get(plain_url, timeout=10, cookies={})
    except httpx.HTTPError:
        pass  # the TLS listener drops a plain-text request: refused
    else:
        assert response.status_code != 200
        assert content not in response.content

    # another client's contact, logged in over TLS, gets the 404 for the same invoice
    other_invite = (
        installation.manage("invite_client", "--name", "Other AG", "--email", "ap@other.example")
        .strip()
        .splitlines()[-1]
    )
    with server.client() as other:
        page = other.get(other_invite)
        other.post(
            other_invite,
            data={
                "csrfmiddlewaretoken": _csrf(page.text),
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
        assert other.get("/invoices/").status_code == 200
        assert other.get(detail_url).status_code == 404
        assert other.get(second).status_code == 404

    log = server.log_path.read_text()
    assert "/d/[redacted]/" in log
    for token in token_seen:
        assert token not in log, "a token reached gunicorn's log"


def test_static_files_from_whitenoise_carry_no_cors_header(installation, server):
    """gunicorn alone (`make run`): whitenoise serves static files, without whitenoise's
    default "Access-Control-Allow-Origin: *" (no other site needs to read them)."""
    path, content = hashed_static_file(installation.root / "static")
    with server.client() as http:
        response = http.get(path, headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert response.content == content
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["cache-control"].startswith("max-age=")
