"""Every token the portal accepts, attacked: download links (/d/), notice page links (/v/),
invitations (/invite/) and password reset links (/accounts/reset/<uidb64>/<token>/).

The attacks are generated (hypothesis) from a real token: random strings, truncations and
extensions, one flipped bit of one base64 character or of the decoded bytes, re-encodings
(standard base64, padding, case, double percent-encoding, whitespace, NUL, unicode
look-alikes and full-width forms that NFKC would fold back, absurd lengths), another
object's token, and the real token after its object changed. None may yield data (a PDF,
the invoice page, a password form, a session) and none may cause a server error (the
clients return a 500 as a response, and every assertion pins the status below it). The
last tests walk a whole journey and look for its tokens and session keys in the log: as
settings.LOGGING ships, and with every logger at DEBUG (tracebacks are redacted too).

The requests go through a verified session of the owner for the links, so that a refusal
can only come from the token: the same session gets the PDF with the real token.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import string
import unicodedata
from urllib.parse import quote

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from clients.models import User
from clients.services import invitation_accept, invitation_create, invitation_revoke
from core.logfilters import RedactTokens
from invoices.models import Invoice, InvoiceStatus
from invoices.services import invoice_void, link_create, link_revoke
from notifications.models import Notification
from tests.conftest import HttpsClient, logged_in_staff
from tests.factories import make_client, make_invoice, make_staff, pdf_bytes
from tests.security.actors import (
    OTHER,
    OWNER,
    World,
    body_of,
    browser,
    build_world,
    module_data,
    random_token,
)

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,  # nothing written into the working tree
    # The world is module-scoped and only ever read by the examples; the function-scoped
    # fixtures are pytest-django's transaction and the settings override.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NEW_PASSWORD = "a brand new passphrase 93"

# ---------------------------------------------------------------------------------------
# The attacks
# ---------------------------------------------------------------------------------------

B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
LOOKALIKES = {
    "A": "\u0391\u0410",  # Greek Alpha, Cyrillic A
    "B": "\u0392\u0412",
    "C": "\u0421\u216d",  # Cyrillic Es, Roman numeral one hundred
    "E": "\u0395\u0415",
    "H": "\u0397\u041d",
    "I": "\u0399\u0406\u2160",
    "K": "\u039a\u041a",
    "M": "\u039c\u041c",
    "O": "\u039f\u041e",
    "P": "\u03a1\u0420",
    "T": "\u03a4\u0422",
    "X": "\u03a7\u0425",
    "a": "\u0430",
    "c": "\u0441",
    "e": "\u0435",
    "i": "\u0456",
    "j": "\u0458",
    "o": "\u03bf\u043e",
    "p": "\u0440",
    "s": "\u0455",
    "x": "\u0445",
    "y": "\u0443",
    "0": "\u041e\u2070",
    "1": "\u0406\u00b9",
    "-": "\u2010\u2011\u2212\u00ad",  # hyphen, non-breaking hyphen, minus, soft hyphen
    "_": "\uff3f",
}


def _fullwidth(text: str) -> str:
    """The full-width forms (U+FF01..): NFKC folds them back to ASCII."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _flip_char_bit(real: str, index: int, bit: int) -> str:
    """One bit of one base64 digit: the 6-bit value ``bit`` of character ``index``."""
    char = real[index]
    if char not in B64URL:
        return real
    flipped = B64URL[B64URL.index(char) ^ (1 << bit)]
    return real[:index] + flipped + real[index + 1 :]


def _flip_byte_bit(real: str, bit: int) -> str:
    """One bit of the decoded bytes, encoded again the way the portal encodes."""
    raw = bytearray(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)))
    raw[bit // 8] ^= 1 << (bit % 8)
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def _reencodings(real: str) -> list[str]:
    standard = real.replace("-", "+").replace("_", "/")
    half = len(real) // 2
    return [
        standard,
        standard + "=",
        real + "=",
        real + "==",
        real.upper(),
        real.lower(),
        real.swapcase(),
        "".join(f"%{ord(c):02X}" for c in real),  # arrives still encoded: double encoding
        real[:half] + f"%{ord(real[half]):02x}" + real[half + 1 :],
        quote(quote(real, safe=""), safe=""),
        _fullwidth(real),
        base64.b64encode(real.encode()).decode(),
        " " + real,
        real + " ",
        real + "\n",
        real + "\r\n",
        "\t" + real,
        "\u00a0" + real,  # no-break space
        real + "\u200b",  # zero-width space
        "\ufeff" + real,  # byte order mark
        real + "\x00",
        "\x00" + real,
        real.encode("utf-16-le").decode("latin-1"),
        real[::-1],
        real + "/" + real,
        "../" + real,
        real + "?x=1",
        real + "#",
        real + ";",
        real + ".pdf",
        real * 2,
    ]


def attacks(real: str) -> st.SearchStrategy[str]:
    """Everything an attacker might send instead of ``real``; never ``real`` itself."""
    n = len(real)
    index = st.integers(0, n - 1)
    strategies = [
        st.text(max_size=100),
        st.text(alphabet=B64URL, min_size=n, max_size=n),  # well-formed: reaches the database
        index.map(lambda k: real[:k]),
        index.filter(bool).map(lambda k: real[k:]),
        st.text(min_size=1, max_size=8).map(lambda tail: real + tail),
        st.tuples(index, st.integers(0, 5)).map(lambda kb: _flip_char_bit(real, *kb)),
        st.sampled_from(_reencodings(real)),
        index.map(lambda k: real[:k] + "\x00" + real[k:]),
        index.flatmap(
            lambda k: st.sampled_from(LOOKALIKES.get(real[k], _fullwidth(real[k]))).map(
                lambda twin: real[:k] + twin + real[k + 1 :]
            )
        ),
        st.integers(3, 300).map(lambda k: real * k),
        st.integers(1, 8000).map(lambda k: real + "A" * k),
    ]
    if n == 43:  # 32 bytes in URL-safe base64: flip a bit of the bytes themselves
        strategies.append(st.integers(0, 255).map(lambda bit: _flip_byte_bit(real, bit)))
    return st.one_of(strategies).filter(lambda candidate: candidate != real)


def _path(prefix: str, token: str) -> str:
    # Percent-encode everything: the server decodes once and sees exactly ``token``.
    return f"{prefix}{quote(token, safe='')}/"


def test_the_attacks_include_what_they_promise():
    real = random_token()
    candidates = _reencodings(real)
    assert _fullwidth(real) in candidates
    assert unicodedata.normalize("NFKC", _fullwidth(real)) == real  # a real folding risk
    flips = {_flip_char_bit(real, k, b) for k in range(43) for b in range(6)}
    assert len(flips) == 43 * 6 and real not in flips
    same_bytes = real[:-1] + B64URL[B64URL.index(real[-1]) ^ 1]
    # The last character carries 4 bits: a decoder would read both spellings as the same
    # 32 bytes. The portal compares strings, so this one must be refused as well.
    assert base64.urlsafe_b64decode(same_bytes + "=") == base64.urlsafe_b64decode(real + "=")
    assert same_bytes in flips


# ---------------------------------------------------------------------------------------
# The world: Acme (owner, verified session) with a live link, an open invitation and a
# pending password reset; Rival with its own link. Built once per module.
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_dir(tmp_path_factory):
    """This module's PDFs live as long as its world (overrides tests/conftest.py's)."""
    return tmp_path_factory.mktemp("fuzz-private") / "invoices"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, private_dir) -> World:
    with module_data(django_db_blocker, private_dir):
        yield build_world()


@pytest.fixture(autouse=True)
def _fresh(world) -> None:
    world.refresh()


@pytest.fixture(scope="module")
def not_found(world) -> bytes:
    """The owner's 404 for a well-formed token nobody minted: every refusal must equal it."""
    response = browser(world, OWNER).get(_path("/d/", random_token()))
    assert response.status_code == 404
    return response.content


def _no_file(response) -> bool:
    body = body_of(response)
    return (
        response.get("Content-Type", "").split(";")[0] != "application/pdf"
        and not response.has_header("Content-Disposition")
        and not response.has_header("X-Accel-Redirect")
        and b"%PDF" not in body
    )


def _assert_refused_link(response, not_found: bytes) -> None:
    assert response.status_code == 404, (response.status_code, response.get("Location"))
    assert response.content == not_found
    assert _no_file(response)


def test_the_real_tokens_work(world):
    """The baseline that makes every refusal below meaningful."""
    owner = browser(world, OWNER)
    download = owner.get(_path("/d/", world.link_token))
    assert download.status_code == 200 and body_of(download) == world.pdf
    page = owner.get(_path("/v/", world.link_token))
    assert page["Location"] == reverse("invoice-detail", args=[world.invoice.public_id])
    invitation = browser(None, "anonymous").get(_path("/invite/", world.invitation_token))
    assert invitation.status_code == 200 and b'name="password1"' in invitation.content
    reset = browser(None, "anonymous").get(_reset_path(world.reset_uidb64, world.reset_token))
    assert reset["Location"].endswith("/set-password/")


# ---------------------------------------------------------------------------------------
# Download links and notice page links
# ---------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_no_mangled_download_token_serves_a_file(world, not_found, data):
    token = data.draw(attacks(world.link_token), label="token")
    response = browser(world, OWNER).get(_path("/d/", token))
    _assert_refused_link(response, not_found)


@FUZZ
@given(data=st.data())
def test_no_mangled_page_link_opens_the_invoice(world, not_found, data):
    token = data.draw(attacks(world.link_token), label="token")
    response = browser(world, OWNER).get(_path("/v/", token))
    _assert_refused_link(response, not_found)


def test_a_token_opens_its_own_invoice_and_nothing_else(world, not_found):
    """Another invoice's link serves that invoice; another client's link and the tokens
    of other kinds (an invitation, a reset token) are unknown links."""
    owner = browser(world, OWNER)
    second_pdf = pdf_bytes("Acme second")
    second = make_invoice(world.owner_client, number="ACME-SECOND-0002", content=second_pdf)
    _link, second_token = link_create(invoice=second, ttl=dt.timedelta(hours=1))
    served = owner.get(_path("/d/", second_token))
    assert body_of(served) == second_pdf != world.pdf
    for foreign in (world.rival_link_token, world.invitation_token, world.reset_token):
        _assert_refused_link(owner.get(_path("/d/", foreign)), not_found)
        _assert_refused_link(owner.get(_path("/v/", foreign)), not_found)
    # Rival's own contact holding Acme's token: the same 404 as anybody's unknown token.
    rival = browser(world, OTHER)
    refused = rival.get(_path("/d/", world.link_token))
    assert refused.status_code == 404 and _no_file(refused)
    assert refused.content == rival.get(_path("/d/", random_token())).content


def _void(world):
    invoice_void(invoice=world.invoice)


def _void_behind_the_services_back(world):
    """invoice_void also revokes the links; this checks the status test on its own."""
    Invoice.objects.filter(pk=world.invoice.pk).update(
        status=InvoiceStatus.VOID, voided_at=timezone.now()
    )


def _revoke(world):
    link_revoke(link=world.link)


def _use_up(world):
    world.link.max_downloads = world.link.download_count
    world.link.save(update_fields=["max_downloads"])


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_void, id="invoice-voided"),
        pytest.param(_void_behind_the_services_back, id="invoice-status-void-links-untouched"),
        pytest.param(_revoke, id="link-revoked"),
        pytest.param(_use_up, id="link-used-up"),
    ],
)
def test_a_link_is_refused_once_its_object_changed(world, not_found, change):
    change(world)
    owner = browser(world, OWNER)
    _assert_refused_link(owner.get(_path("/d/", world.link_token)), not_found)
    if change is not _use_up:  # the page link downloads nothing, so it is not used up
        _assert_refused_link(owner.get(_path("/v/", world.link_token)), not_found)


def test_a_link_is_refused_once_it_expired(world, not_found):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _link, token = link_create(invoice=world.invoice, ttl=dt.timedelta(seconds=60))
        assert browser(world, OWNER).get(_path("/d/", token)).status_code == 200
    with time_machine.travel(start + dt.timedelta(seconds=60), tick=False):
        owner = browser(world, OWNER)
        _assert_refused_link(owner.get(_path("/d/", token)), not_found)
        _assert_refused_link(owner.get(_path("/v/", token)), not_found)


def test_a_notice_link_opens_the_page_but_never_downloads(world, not_found):
    """Links in emails carry max_downloads=0 (notifications/services.py)."""
    _link, token = link_create(invoice=world.invoice, ttl=dt.timedelta(days=1), max_downloads=0)
    owner = browser(world, OWNER)
    assert owner.get(_path("/v/", token)).status_code == 302
    _assert_refused_link(owner.get(_path("/d/", token)), not_found)


def test_a_deactivated_clients_link_serves_nothing(world):
    world.owner_client.is_active = False
    world.owner_client.save(update_fields=["is_active"])
    for prefix in ("/d/", "/v/"):
        response = browser(world, OWNER).get(_path(prefix, world.link_token))
        assert response.status_code in (302, 404) and _no_file(response)
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("login"))


# ---------------------------------------------------------------------------------------
# Invitations: a bearer token, so the holder needs no session
# ---------------------------------------------------------------------------------------


def _assert_invitation_refused(token: str, invitee: User) -> None:
    path = _path("/invite/", token)
    web = browser(None, "anonymous")
    page = web.get(path)
    assert page.status_code == 404, page.status_code
    assert b'name="password1"' not in page.content
    posted = web.post(path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert posted.status_code == 404, posted.status_code
    assert "_auth_user_id" not in web.session
    invitee.refresh_from_db()
    assert not invitee.check_password(NEW_PASSWORD)


@FUZZ
@given(data=st.data())
def test_no_mangled_invitation_token_sets_a_password(world, data):
    token = data.draw(attacks(world.invitation_token), label="token")
    _assert_invitation_refused(token, world.invitee)


def test_tokens_of_other_kinds_are_no_invitation(world):
    for foreign in (world.link_token, world.rival_link_token, world.reset_token):
        _assert_invitation_refused(foreign, world.invitee)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda w: invitation_accept(
                invitation=w.invitee.invitations.get(), password="used 4 real q"
            ),
            id="used",
        ),
        pytest.param(
            lambda w: invitation_revoke(invitation=w.invitee.invitations.get()), id="revoked"
        ),
        pytest.param(lambda w: invitation_create(user=w.invitee), id="superseded"),
        pytest.param(
            lambda w: User.objects.filter(pk=w.invitee.pk).update(is_active=False),
            id="contact-deactivated",
        ),
        pytest.param(
            lambda w: (
                type(w.owner_client).objects.filter(pk=w.owner_client.pk).update(is_active=False)
            ),
            id="client-deactivated",
        ),
    ],
)
def test_an_invitation_is_refused_once_it_changed(world, change):
    change(world)
    _assert_invitation_refused(world.invitation_token, world.invitee)


def test_an_invitation_is_refused_once_it_expired(world):
    later = timezone.now() + dt.timedelta(days=django_settings.INVITATION_TTL_DAYS, seconds=1)
    with time_machine.travel(later, tick=False):
        _assert_invitation_refused(world.invitation_token, world.invitee)


# ---------------------------------------------------------------------------------------
# Password reset links: /accounts/reset/<uidb64>/<token>/
# ---------------------------------------------------------------------------------------


def _reset_path(uidb64: str, token: str) -> str:
    return f"/accounts/reset/{quote(uidb64, safe='')}/{quote(token, safe='')}/"


def _assert_reset_refused(uidb64: str, token: str, user: User) -> None:
    web = browser(None, "anonymous")
    path = _reset_path(uidb64, token)
    page = web.get(path)
    assert page.status_code in (200, 404), page.status_code
    assert not page.get("Location", "").endswith("/set-password/")
    assert b"new_password1" not in page.content
    web.post(path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    # The session-held step of Django's view: nothing was stored for this session.
    step = web.post(
        _reset_path(uidb64, "set-password"),
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert step.status_code in (200, 404) and b"new_password1" not in step.content
    assert "_auth_user_id" not in web.session
    user.refresh_from_db()
    assert not user.check_password(NEW_PASSWORD)


def _decoded_pk(uidb64: str) -> object:
    """What Django's view would look the user up by (None if it cannot decode)."""
    try:
        return int(urlsafe_base64_decode(uidb64).decode())
    except (TypeError, ValueError, OverflowError):
        return None


@FUZZ
@given(data=st.data())
def test_no_mangled_reset_token_opens_the_password_form(world, data):
    token = data.draw(attacks(world.reset_token), label="token")
    _assert_reset_refused(world.reset_uidb64, token, world.users[OWNER])


@FUZZ
@given(data=st.data())
def test_the_reset_token_opens_no_other_account(world, data):
    """The owner's valid token with another uid: another user's, or garbage. Spellings of
    the owner's own uid (``MQ==``, a base64 " 1") are the same credential and left out."""
    others = [urlsafe_base64_encode(force_bytes(u.pk)) for u in world.users.values()]
    uidb64 = data.draw(
        st.one_of(st.sampled_from(others), attacks(world.reset_uidb64)), label="uidb64"
    )
    owner = world.users[OWNER]
    assume(_decoded_pk(uidb64) != owner.pk)
    _assert_reset_refused(uidb64, world.reset_token, owner)


def _changed_password(world):
    owner = world.users[OWNER]
    owner.set_password("changed after the email 55")
    owner.save(update_fields=["password"])


def _logged_in_since(world):
    User.objects.filter(pk=world.users[OWNER].pk).update(
        last_login=timezone.now() + dt.timedelta(seconds=1)
    )


def _email_changed(world):
    User.objects.filter(pk=world.users[OWNER].pk).update(email="moved@acme.example")


def _used(world):
    web = browser(None, "anonymous")
    step = web.get(_reset_path(world.reset_uidb64, world.reset_token))["Location"]
    done = web.post(
        step, {"new_password1": "first reset 77 x", "new_password2": "first reset 77 x"}
    )
    assert done.status_code == 302


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_changed_password, id="password-changed-after-the-email"),
        pytest.param(_logged_in_since, id="logged-in-since"),
        pytest.param(_email_changed, id="email-changed"),
        pytest.param(_used, id="used-once"),
    ],
)
def test_a_reset_link_is_refused_once_the_account_changed(world, change):
    change(world)
    _assert_reset_refused(world.reset_uidb64, world.reset_token, world.users[OWNER])


def test_a_reset_link_is_refused_once_it_expired(world):
    later = timezone.now() + dt.timedelta(seconds=django_settings.PASSWORD_RESET_TIMEOUT + 1)
    with time_machine.travel(later, tick=False):
        _assert_reset_refused(world.reset_uidb64, world.reset_token, world.users[OWNER])


def test_ones_own_reset_session_does_not_open_anothers_set_password_page(world):
    """Django keeps a valid reset token in the session and continues at .../set-password/.
    An attacker who opens a reset link for their own account must not carry that session
    over to the victim's uid."""
    attacker = world.users[OTHER]
    web = browser(None, "anonymous")
    own = _reset_path(
        urlsafe_base64_encode(force_bytes(attacker.pk)),
        default_token_generator.make_token(attacker),
    )
    assert web.get(own)["Location"].endswith("/set-password/")
    victim = world.users[OWNER]
    step = _reset_path(world.reset_uidb64, "set-password")
    page = web.get(step)
    assert b"new_password1" not in page.content
    web.post(step, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    victim.refresh_from_db()
    assert not victim.check_password(NEW_PASSWORD)


# ---------------------------------------------------------------------------------------
# No token in the log of a whole journey
# ---------------------------------------------------------------------------------------

_URL_TOKEN = {
    "invite": re.compile(r"/invite/([A-Za-z0-9_-]{43})/"),
    "page": re.compile(r"/v/([A-Za-z0-9_-]{43})/"),
    "download": re.compile(r"/d/([A-Za-z0-9_-]{43})/"),
    "reset": re.compile(r"/accounts/reset/([A-Za-z0-9_-]+)/([0-9a-z]+-[0-9a-f]+)/"),
}


PORTAL_PACKAGES = {"invoiceportal", "clients", "invoices", "notifications", "audit", "business"}


class _Raw(logging.Handler):
    """Every message as the code logged it, before any handler's filter redacts it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.name, record.getMessage()))


def _configured_handlers() -> list[logging.Handler]:
    """The handlers settings.LOGGING made (dictConfig names them; pytest's are nameless)."""
    return [logging.getHandlerByName(name) for name in logging.getHandlerNames()]


def _logged_journey(caplog, on_commit, *, debug: bool) -> tuple[list[str], list[str], list]:
    """Run the journey with caplog's handler on every logger (also those that do not
    propagate), given the same redacting filter as the configured handlers. With ``debug``
    every logger is set to DEBUG; else the levels stay as settings.LOGGING made them.

    Returns the secrets used, the loggers whose written lines hold one, and what the
    portal's own loggers were handed with a secret in it before redaction."""
    configured = _configured_handlers()
    assert configured, "settings.LOGGING configured no handler"
    for handler in configured:
        assert any(isinstance(f, RedactTokens) for f in handler.filters), handler
    caplog.handler.addFilter(RedactTokens())
    raw = _Raw()
    every = ["", *logging.Logger.manager.loggerDict]
    silent = [logging.getLogger(n) for n in every if n and not logging.getLogger(n).propagate]
    caplog.handler.setLevel(logging.NOTSET)  # the loggers' levels decide, nothing else
    if debug:
        for name in every:
            caplog.set_level(logging.DEBUG, logger=name or None)
    # First in line: the redacting filter rewrites the very record it is handed.
    for logger in [logging.getLogger(), *silent]:
        logger.handlers.insert(0, raw)
    for logger in silent:
        logger.addHandler(caplog.handler)
    try:
        used = _journey(on_commit)
    finally:
        for logger in [logging.getLogger(), *silent]:
            logger.removeHandler(raw)
        for logger in silent:
            logger.removeHandler(caplog.handler)
    assert "/d/[redacted]/" in caplog.text, "the capture missed django.request's Not Found"
    written = sorted(
        {
            record.name
            for record in caplog.records
            if any(secret in caplog.handler.format(record) for secret in used)
        }
    )
    handed = [
        (name, message)
        for name, message in raw.messages
        if name.split(".")[0] in PORTAL_PACKAGES and any(secret in message for secret in used)
    ]
    return used, written, handed


def test_a_whole_journey_logs_no_token_at_the_configured_levels(
    caplog, django_capture_on_commit_callbacks
):
    """Invitation, password, notice link, download, a used-up link, logout, password reset,
    login, as settings.LOGGING ships: no token and no session key in any written line,
    the portal's own code never hands one to a logger at all, and none is kept in the
    audit trail or the email queue."""
    used, written, handed = _logged_journey(caplog, django_capture_on_commit_callbacks, debug=False)
    assert not written, f"loggers that wrote a token: {written}"
    assert not handed, f"the portal's code logged tokens: {handed}"
    # The audit trail and the email queue are logs too; the queue keeps a placeholder.
    stored = [
        *AuditEvent.objects.values_list("detail", "user_agent", "actor_email"),
        *Notification.objects.values_list("body", "body_html", "subject"),
    ]
    kept = [row for row in stored if any(secret in text for text in row for secret in used)]
    assert not kept, f"tokens stored in the audit trail or the email queue: {kept}"


def test_a_whole_journey_logs_no_token_even_at_debug(caplog, django_capture_on_commit_callbacks):
    """The same journey with every logger, Django's included, at DEBUG."""
    _used, written, handed = _logged_journey(caplog, django_capture_on_commit_callbacks, debug=True)
    assert not handed, f"the portal's code logged tokens: {handed}"
    assert not written, f"loggers that wrote a token: {written}"


def _journey(on_commit) -> list[str]:
    """Walk the journey; return every token and session key it used."""
    seen: list[str] = []
    session = django_settings.SESSION_COOKIE_NAME
    staff = logged_in_staff(make_staff(email="desk@consultant.example"))
    seen.append(staff.cookies[session].value)
    client = make_client("Journey GmbH")
    contact = User.objects.create_user(email="jo@journey.example", client=client)
    changelist = reverse("admin:clients_contact_changelist")
    staff.post(changelist, {"action": "email_invitation", "_selected_action": [contact.pk]})
    (invite,) = _URL_TOKEN["invite"].findall(mail.outbox[-1].body)
    seen.append(invite)

    web = HttpsClient()
    assert web.get(f"/invite/{invite}/").status_code == 200
    chosen = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert web.post(f"/invite/{invite}/", chosen).status_code == 302
    assert web.get(f"/invite/{invite}/").status_code == 404  # used: Not Found is logged
    seen.append(web.cookies[session].value)

    with on_commit(execute=True):
        invoice = make_invoice(client, number="JOURNEY-0001")
    (page,) = _URL_TOKEN["page"].findall(mail.outbox[-1].body)
    seen.append(page)
    assert web.get(f"/v/{page}/").status_code == 302
    button = web.post(reverse("invoice-download-link", args=[invoice.public_id]))
    (download,) = _URL_TOKEN["download"].findall(button["Location"])
    seen.append(download)
    assert web.get(f"/d/{download}/").status_code == 200
    assert web.get(f"/d/{download}/").status_code == 404  # used up: Not Found is logged

    web.post(reverse("logout"))
    assert web.get(f"/d/{download}/").status_code == 302  # to login with ?next=<the link>
    web.post(reverse("password_reset"), {"email": contact.email})
    ((uidb64, reset),) = _URL_TOKEN["reset"].findall(mail.outbox[-1].body)
    seen += [reset, reset.split("-")[1]]
    step = web.get(f"/accounts/reset/{uidb64}/{reset}/")["Location"]
    again = {"new_password1": "after the reset 31 z", "new_password2": "after the reset 31 z"}
    assert web.post(step, again).status_code == 302
    assert b"new_password1" not in web.get(f"/accounts/reset/{uidb64}/{reset}/").content
    login = {"username": contact.email, "password": "after the reset 31 z"}
    assert web.post(f"{reverse('login')}?next=/v/{page}/", login).status_code == 302
    seen.append(web.cookies[session].value)
    return seen
