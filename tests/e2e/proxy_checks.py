"""The nginx and Caddy end-to-end tests' checks: the documented render line of a template,
and the client journey through the proxy whose tokens must never reach a log. The proxy
itself is started by tests/support/proxies.py."""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.proxies import PLACEHOLDER, Proxy, is_comment, render, tls_context
from tests.support.servers import ROOT, Installation
from tests.support.waiting import wait_until

PASSWORD = "an end to end passphrase 2026"
SPOOFED_ADDRESS = "6.6.6.6"


def documented_defaults(template: str) -> dict[str, str]:
    """The production values from the template's own sed line (-e 's|{{X}}|value|g')."""
    return dict(re.findall(r"'s\|\{\{([A-Z0-9_]+)\}\}\|([^|]*)\|g'", template))


def assert_defaults_documented(template: str) -> None:
    body = "\n".join(line for line in template.splitlines() if not is_comment(line))
    used = set(PLACEHOLDER.findall(body))
    documented = documented_defaults(template)
    assert used, "the template has no placeholders"
    assert used == set(documented), (
        f"placeholders in use {sorted(used)} but the render line documents {sorted(documented)}"
    )


def check_render_line(template_path: Path) -> None:
    """The sed command in the template's header, run as documented (to stdout instead of
    the system path), gives the same file as ``render`` with the documented values."""
    template = template_path.read_text()
    lines = template.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#   sed -e "))
    command = []
    for line in lines[start:]:
        command.append(line.removeprefix("#").strip())
        if not line.endswith("\\"):
            break
    script = "\n".join(command)
    assert f"{template_path.relative_to(ROOT)} > /etc/" in script, script
    script = script.rsplit(" > ", 1)[0]
    result = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr
    by_sed = [line for line in result.stdout.splitlines() if not is_comment(line)]
    rendered = render(template, documented_defaults(template)).splitlines()
    assert by_sed == [line for line in rendered if not is_comment(line)]
    assert "{{" not in "\n".join(by_sed)


def csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def _path(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


def invite_and_register(
    installation: Installation, http: httpx.Client, name: str, email: str
) -> str:
    """Invite a client's contact with the management command and accept the invitation
    through the proxy; returns the invitation token."""
    invite_url = (
        installation.manage("invite_client", "--name", name, "--email", email)
        .strip()
        .splitlines()[-1]
    )
    path = _path(invite_url)
    assert path.startswith("/invite/"), invite_url
    page = http.get(path)
    assert page.status_code == 200, page.text[:500]
    chosen = http.post(
        path,
        data={"csrfmiddlewaretoken": csrf(page.text), "password1": PASSWORD, "password2": PASSWORD},
    )
    assert chosen.status_code == 302, chosen.text[:500]
    assert "__Host-sessionid" in http.cookies
    return path.strip("/").rsplit("/", 1)[-1]


@dataclass
class Journey:
    """What the owner's journey through the proxy saw."""

    content: bytes
    number: str
    detail_path: str
    pdf_name: str
    downloads: list[httpx.Response] = field(default_factory=list)
    refused_again: int = 0
    other_detail_status: int = 0
    other_link_status: int = 0
    tokens: list[str] = field(default_factory=list)
    owner_cookies: httpx.Cookies = field(default_factory=httpx.Cookies)


def run_journey(installation: Installation, proxy: Proxy, tmp: Path, label: str) -> Journey:
    """The owner accepts the invitation, opens the invoice and downloads it twice (the
    second time with a forged X-Forwarded-For); another client's contact then tries the
    invoice page and a fresh link of the owner's. Every token seen is recorded."""
    number = f"INV-{label.upper()}-001"
    owner_email = f"ap@{label}-owner.example"
    from tests.factories import pdf_bytes  # needs Django set up: not at import time

    content = pdf_bytes(f"Through {label}", pages=2)
    pdf = tmp / f"{label}.pdf"
    pdf.write_bytes(content)
    tokens: list[str] = []

    with proxy.client() as http:
        tokens.append(invite_and_register(installation, http, f"{label} Owner GmbH", owner_email))
        out = installation.manage(
            "add_invoice",
            str(pdf),
            "--client-email",
            owner_email,
            "--number",
            number,
            "--issued",
            "2026-11-01",
            "--due",
            "2026-12-01",
            "--total",
            "1200.00",
            "--currency",
            "EUR",
        )
        detail_path = _path(out.strip().splitlines()[-1])
        assert detail_path.startswith("/invoices/"), out
        history = http.get("/invoices/")
        assert history.status_code == 200
        assert number in history.text

        downloads = []
        for extra in ({}, {"X-Forwarded-For": SPOOFED_ADDRESS, "X-Real-IP": SPOOFED_ADDRESS}):
            detail = http.get(detail_path)
            assert detail.status_code == 200
            assert hashlib.sha256(content).hexdigest() in detail.text
            button = http.post(
                detail_path + "download/",
                data={"csrfmiddlewaretoken": csrf(detail.text)},
                headers=extra,
            )
            assert button.status_code == 302, button.text[:500]
            link = button.headers["location"]
            assert link.startswith("/d/"), link
            tokens.append(link.strip("/").rsplit("/", 1)[-1])
            downloads.append(http.get(link, headers=extra))
        refused_again = http.get(link).status_code

        detail = http.get(detail_path)
        spare_link = http.post(
            detail_path + "download/", data={"csrfmiddlewaretoken": csrf(detail.text)}
        ).headers["location"]
        tokens.append(spare_link.strip("/").rsplit("/", 1)[-1])
        owner_cookies = httpx.Cookies(http.cookies)

    with proxy.client() as other:
        tokens.append(
            invite_and_register(installation, other, f"{label} Other AG", f"ap@{label}-other.ex")
        )
        assert other.get("/invoices/").status_code == 200
        other_detail_status = other.get(detail_path).status_code
        other_link_status = other.get(spare_link).status_code

    pdf_name = installation.manage(
        "shell",
        "--no-imports",
        "-c",
        "from invoices.models import Invoice; "
        f"print(Invoice.objects.get(number={number!r}).pdf_name)",
    ).strip()
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", pdf_name), pdf_name
    return Journey(
        content=content,
        number=number,
        detail_path=detail_path,
        pdf_name=pdf_name,
        downloads=downloads,
        refused_again=refused_again,
        other_detail_status=other_detail_status,
        other_link_status=other_link_status,
        tokens=tokens,
        owner_cookies=owner_cookies,
    )


def audit_addresses(installation: Installation, number: str) -> dict[str, list[str]]:
    """kind -> addresses of the audit events about this invoice, plus "*" for every
    address in the audit trail."""
    out = installation.manage(
        "shell",
        "--no-imports",
        "-c",
        "from audit.models import AuditEvent\n"
        f"for e in AuditEvent.objects.filter(invoice__number={number!r}).order_by('id'):\n"
        "    print(e.kind, e.ip_address)\n"
        "for ip in AuditEvent.objects.exclude(ip_address=None).values_list('ip_address', "
        "flat=True):\n"
        "    print('*', ip)\n",
    )
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        kind, _, address = line.partition(" ")
        found.setdefault(kind, []).append(address)
    return found


def probe_redaction(proxy: Proxy, *, expect_server_errors: bool = False) -> list[str]:
    """Requests whose URLs hold made-up tokens in every place one can appear; returns the
    tokens. None of them may reach a log. With ``expect_server_errors`` gunicorn is down
    and every answer is the proxy's 502."""
    made_up = [f"probe{secrets.token_urlsafe(24)}" for _ in range(9)]
    uid = f"Mz{secrets.token_hex(4)}"
    paths = [
        f"/d/{made_up[0]}/",
        f"/invite/{made_up[1]}/",
        f"/accounts/reset/{uid}/{made_up[2]}/",
        f"/accounts/login/?next=/d/{made_up[3]}/",
        f"/accounts/login/?next=%2Fd%2F{made_up[4]}%2F",
        f"/accounts/login/?next=%2Finvite%2F{made_up[5]}%2F",
        f"/account/email/confirm/{made_up[8]}/",
        f"/invite/{made_up[6]}/?next=%2Fd%2F{made_up[7]}%2F",
    ]
    with proxy.client() as http:
        for path in paths:
            status = http.get(path).status_code
            assert (status >= 500) if expect_server_errors else (status < 500), (path, status)
    return [*made_up, uid]


def assert_no_token(text: str, tokens: list[str], where: str) -> None:
    assert text, f"{where} is empty"
    for token in tokens:
        assert token not in text, f"a token reached {where}: {token[:6]}..."


# ---------------------------------------------------------------------------------------
# Checks that hold for every proxy in front of the portal.
# ---------------------------------------------------------------------------------------
def check_hsts(proxy: Proxy, static_path: str) -> None:
    with proxy.client() as http:
        for path in ("/accounts/login/", static_path, "/no-such-page/"):
            response = http.get(path)
            values = response.headers.get_list("strict-transport-security")
            assert values == ["max-age=31536000; includeSubDomains; preload"], (path, values)


def check_download(proxy: Proxy, journey: Journey) -> None:
    """Both downloads are the stored bytes, sent by the proxy (gunicorn's log shows an
    empty 200 for the link) with the headers Django chose and nothing of the handover."""
    assert len(journey.downloads) == 2
    for download in journey.downloads:
        assert download.status_code == 200, download.text[:300]
        assert download.content == journey.content
        assert hashlib.sha256(download.content).digest() == hashlib.sha256(journey.content).digest()
        headers = download.headers
        assert headers["content-type"] == "application/pdf"
        assert headers["content-disposition"] == f'attachment; filename="{journey.number}.pdf"'
        assert headers.get_list("cache-control") == ["private, no-store"]
        assert headers.get_list("x-content-type-options") == ["nosniff"]
        assert headers["referrer-policy"] == "no-referrer"
        assert int(headers["content-length"]) == len(journey.content)
        assert "x-accel-redirect" not in headers
        assert "_protected" not in str(headers)
    # the link was single-use
    assert journey.refused_again == 404
    log = proxy.gunicorn_log.read_text()
    handed_over = re.findall(r'"GET /d/\[redacted\]/ HTTP/1\.[01]" 200 (\S+) ', log)
    assert len(handed_over) == 2, log[-2000:]
    assert all(size in {"0", "-"} for size in handed_over), handed_over


def raw_get(proxy: Proxy, path: str) -> tuple[int, bytes]:
    """GET a path exactly as written (httpx would normalise "//", "." and "..")."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: localhost:{proxy.https_port}\r\n"
        "User-Agent: invoiceportal-e2e/1.0\r\nConnection: close\r\n\r\n"
    )
    chunks = []
    with (
        socket.create_connection(("127.0.0.1", proxy.https_port), timeout=10) as raw,
        tls_context(proxy.cert).wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(request.encode())
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def check_internal_location(proxy: Proxy, journey: Journey) -> None:
    stored = proxy.private_dir / journey.pdf_name
    assert stored.read_bytes() == journey.content, "the file is not where the proxy looks"
    name = journey.pdf_name
    paths = [
        f"/_protected/invoices/{name}",
        f"/%5Fprotected/invoices/{name}",
        f"/%5fprotected%2Finvoices%2F{name}",
        f"/_protected/invoices/./{name}",
        f"//_protected/invoices/{name}",
        f"/_protected//invoices/{name}",
        f"/static/../_protected/invoices/{name}",
        f"/static/..%2F_protected/invoices/{name}",
        f"/static/%2E%2E/_protected/invoices/{name}",
        f"/static/../../data/private/invoices/{name}",
        f"/_PROTECTED/invoices/{name}",
        "/_protected/invoices/",
        "/_protected/",
    ]
    for path in paths:
        status, answer = raw_get(proxy, path)
        assert status in {400, 404}, (path, status)
        assert journey.content[:200] not in answer, path
    # Also for the logged-in owner: the file goes out only through a download link.
    with proxy.client() as owner:
        owner.cookies = journey.owner_cookies
        assert journey.number in owner.get("/invoices/").text
        response = owner.get(f"/_protected/invoices/{name}")
        assert response.status_code == 404
        assert journey.content[:200] not in response.content


def check_other_client(journey: Journey) -> None:
    assert journey.other_detail_status == 404
    assert journey.other_link_status == 404


def hashed_static_file(static_root: Path) -> tuple[str, bytes]:
    """A content-hashed file from collectstatic's manifest: its URL path and bytes."""
    import json

    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = sorted(v for v in manifest["paths"].values() if v.endswith(".css"))
    assert hashed, "collectstatic left no hashed CSS file"
    return "/static/" + hashed[0], (static_root / hashed[0]).read_bytes()


def check_static(proxy: Proxy) -> None:
    """Served by the proxy from STATIC_ROOT with a long cache: gunicorn never sees it."""
    path, content = hashed_static_file(proxy.static_root)
    before = proxy.gunicorn_log.read_text().count("/static/")
    with proxy.client() as http:
        response = http.get(path, headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200
        assert response.content == content
        assert response.headers["content-type"].startswith("text/css")
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "access-control-allow-origin" not in response.headers
        assert http.get("/static/").status_code in {403, 404}
        assert http.get("/static/no-such-file.css").status_code == 404
    assert proxy.gunicorn_log.read_text().count("/static/") == before


def check_audit(installation: Installation, journey: Journey) -> None:
    """The audit shows the address the proxy saw, never one the client claimed."""
    found = audit_addresses(installation, journey.number)
    assert found.get("download") == ["127.0.0.1", "127.0.0.1"], found
    # The three presses of the download button (links made by commands have no address).
    pressed = [address for address in found.get("link_created", []) if address != "None"]
    assert pressed == ["127.0.0.1"] * 3, found
    everything = found.get("*", [])
    assert everything, found
    assert SPOOFED_ADDRESS not in everything
    assert set(everything) == {"127.0.0.1"}, set(everything)


def wait_for_text(path: Path, needle: str, timeout: float = 60) -> str:
    """The file's text once it holds ``needle``: servers write a request's log line after
    the answer has gone out, so a client can be faster than the log."""

    def text() -> str:
        return path.read_text() if path.exists() else ""

    def logged() -> str | None:
        found = text()
        return found if needle in found else None

    return wait_until(
        logged,
        timeout=timeout,
        interval=0.1,
        what=f"{needle!r} in {path.name}",
        describe=lambda: text()[-3000:],
    )


# How the last of probe_redaction's requests must be logged.
LAST_PROBE_LOGGED = "/invite/[redacted]/?next=%2Fd%2F[redacted]%2F"


def check_logs(proxy: Proxy, journey: Journey, logs: list[Path]) -> None:
    tokens = [*journey.tokens, *probe_redaction(proxy)]
    assert len(tokens) >= 12
    wait_for_text(proxy.access_log, LAST_PROBE_LOGGED)
    wait_for_text(proxy.gunicorn_log, LAST_PROBE_LOGGED)
    for log in logs:
        assert_no_token(log.read_text(), tokens, log.name)
    gunicorn_log = proxy.gunicorn_log.read_text()
    assert_no_token(gunicorn_log, tokens, "gunicorn's log")
    assert "/d/[redacted]/" in gunicorn_log
