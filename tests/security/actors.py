"""Who attacks, and the world they attack: shared by the authorization matrix and the
token fuzzing.

The world has two clients. Acme ("the owner") requires 2FA and has one issued invoice, a
live download link, an open invitation and a password reset pending; Rival has its own
invoice. The actors are sessions of real users in every 2FA state the gate distinguishes.
Everything is built once per test module inside a transaction that is rolled back at the
end; each test runs in a savepoint of its own, so a test that logs an actor out or voids
an invoice leaves the next test the world as it was.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.http import HttpResponse
from django.test import override_settings
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from business.services import profile_get
from clients.email_change import email_change_create
from clients.models import BackupCodeDevice, Client, User
from clients.services import invitation_create
from invoices.models import DownloadLink, IntegrityAlert, Invoice
from invoices.money import LineInput
from invoices.services import draft_create, link_create
from notifications.services import enqueue_security_notice
from tests.conftest import HttpsClient, verify_second_factor
from tests.factories import make_client, make_contact, make_invoice, make_staff, pdf_bytes

__all__ = [
    "ACTORS",
    "ANONYMOUS",
    "OTHER",
    "OWNER",
    "OWNER_MUST_ENROL",
    "OWNER_NOT_VERIFIED",
    "OWNER_NUMBER",
    "OWNER_SIDE",
    "RIVAL_NUMBER",
    "STAFF",
    "STAFF_NOT_VERIFIED",
    "STAFF_WITHOUT_2FA",
    "World",
    "body_of",
    "browser",
    "build_world",
    "module_data",
    "random_token",
]

ANONYMOUS = "anonymous"
OTHER = "other-clients-contact"  # Rival's contact, 2FA verified
OWNER_MUST_ENROL = "owner-must-enrol"  # Acme requires 2FA; this contact has no device
OWNER_NOT_VERIFIED = "owner-not-verified"  # has a device, no code entered this session
OWNER = "owner"  # Acme's contact, 2FA verified
STAFF_WITHOUT_2FA = "staff-without-2fa"
STAFF_NOT_VERIFIED = "staff-not-verified"
STAFF = "staff"  # 2FA verified
ACTORS = (
    ANONYMOUS,
    OTHER,
    OWNER_MUST_ENROL,
    OWNER_NOT_VERIFIED,
    OWNER,
    STAFF_WITHOUT_2FA,
    STAFF_NOT_VERIFIED,
    STAFF,
)
OWNER_SIDE = (OWNER_MUST_ENROL, OWNER_NOT_VERIFIED, OWNER)

# Distinctive, so that finding them in a response body is proof of a leak.
OWNER_NUMBER = "ACME-CONFIDENTIAL-0001"
RIVAL_NUMBER = "RIVAL-CONFIDENTIAL-0001"


@dataclass
class World:
    owner_client: Client
    rival_client: Client
    invoice: Invoice
    rival_invoice: Invoice
    pdf: bytes
    draft: Invoice
    link: DownloadLink
    link_token: str
    rival_link_token: str
    invitee: User
    invitation_token: str
    reset_uidb64: str
    reset_token: str
    users: dict[str, User]
    email_change_token: str = ""
    rival_email_change_token: str = ""
    sessions: dict[str, str] = field(default_factory=dict)

    def refresh(self) -> None:
        """Reload the rows from the database: a test's changes are rolled back there, but
        not in these shared Python objects."""
        for row in (self.owner_client, self.rival_client, self.invoice, self.rival_invoice):
            row.refresh_from_db()
        for row in (self.draft, self.link, self.invitee, *self.users.values()):
            row.refresh_from_db()

    def secrets_of_acme(self) -> list[str]:
        """What no one outside Acme (and the admin) may ever see in a response."""
        emails = [u.email for k, u in self.users.items() if k in OWNER_SIDE]
        return [OWNER_NUMBER, self.invoice.pdf_sha256, *emails]

    def secrets_of_rival(self) -> list[str]:
        return [RIVAL_NUMBER, self.rival_invoice.pdf_sha256, self.users[OTHER].email]

    def forbidden_for(self, actor: str) -> list[str]:
        """What ``actor`` must never find in a body (the admin aside, for verified staff)."""
        acme_invoice = [OWNER_NUMBER, self.invoice.pdf_sha256]
        if actor == OWNER:
            return self.secrets_of_rival()
        if actor in OWNER_SIDE:  # Acme's own contacts, before the second factor
            return [*self.secrets_of_rival(), *acme_invoice]
        if actor == OTHER:
            return self.secrets_of_acme()
        return [*self.secrets_of_acme(), *self.secrets_of_rival()]


@contextmanager
def module_data(django_db_blocker, files_dir: Path) -> Iterator[None]:
    """Database rows (and PDFs under ``files_dir``) that live for one test module.

    The rows are made inside a transaction that is rolled back when the module is done;
    pytest-django runs each test in a savepoint inside it.
    """
    with (
        django_db_blocker.unblock(),
        override_settings(PRIVATE_FILES_DIR=files_dir),
        transaction.atomic(),
    ):
        try:
            yield
        finally:
            transaction.set_rollback(True)


def _session(user: User, *, verified: bool) -> str:
    web = HttpsClient()
    web.force_login(user)
    if verified:
        verify_second_factor(web, user)
    return web.cookies[settings.SESSION_COOKIE_NAME].value


def _device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def _axes_rows(email: str) -> None:
    """One row in each of django-axes' tables, so that their admin pages are walked with
    real ids (the rows a failed and a successful login would leave)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    common = {
        "user_agent": "matrix",
        "ip_address": "198.51.100.7",
        "username": email,
        "http_accept": "*/*",
        "path_info": "/accounts/login/",
        "attempt_time": timezone.now(),
    }
    AccessAttempt.objects.create(**common, get_data="", post_data="", failures_since_start=1)
    AccessFailureLog.objects.create(**common)
    AccessLog.objects.create(**common)


def build_world() -> World:
    acme = make_client("Acme GmbH", requires_2fa=True)
    rival = make_client("Rival Ltd")
    users = {
        OWNER: make_contact(acme, email="ap@acme.example"),
        OWNER_NOT_VERIFIED: make_contact(acme, email="cfo@acme.example"),
        OWNER_MUST_ENROL: make_contact(acme, email="new@acme.example"),
        OTHER: make_contact(rival, email="ap@rival.example"),
        STAFF_WITHOUT_2FA: make_staff(email="intern@consultant.example"),
        STAFF_NOT_VERIFIED: make_staff(email="partner@consultant.example"),
        STAFF: make_staff(email="me@consultant.example"),
    }
    for actor in (OWNER, OWNER_NOT_VERIFIED, OTHER, STAFF_NOT_VERIFIED, STAFF):
        _device(users[actor])
    BackupCodeDevice.objects.create(user=users[OWNER], name="backup codes", confirmed=True)
    pdf = pdf_bytes("Acme confidential")
    invoice = make_invoice(acme, number=OWNER_NUMBER, content=pdf)
    rival_invoice = make_invoice(rival, number=RIVAL_NUMBER)
    draft = draft_create(
        client=acme,
        lines=[LineInput("Consulting", Decimal("2"), Decimal("500"), Decimal("19"))],
        issue_date=dt.date(2026, 11, 1),
    )
    hour = dt.timedelta(hours=1)
    link, link_token = link_create(invoice=invoice, ttl=hour, note="matrix")
    _rival_link, rival_link_token = link_create(invoice=rival_invoice, ttl=hour)
    # An open checksum alert, so that its admin pages are walked with a real id.
    IntegrityAlert.objects.create(invoice=rival_invoice)
    invitee = User.objects.create_user(email="invitee@acme.example", client=acme)
    _invitation, invitation_token = invitation_create(user=invitee)
    Group.objects.create(name="bookkeepers")
    profile_get()
    _axes_rows(users[OWNER].email)
    enqueue_security_notice(user=users[OWNER], what="password changed", email="ap@acme.example")
    world = World(
        owner_client=acme,
        rival_client=rival,
        invoice=invoice,
        rival_invoice=rival_invoice,
        pdf=pdf,
        draft=draft,
        link=link,
        link_token=link_token,
        rival_link_token=rival_link_token,
        invitee=invitee,
        invitation_token=invitation_token,
        reset_uidb64="",
        reset_token="",
        users=users,
    )
    verified = {OWNER, OTHER, STAFF}
    for actor, user in users.items():
        world.sessions[actor] = _session(user, verified=actor in verified)
    # After the logins: a reset token covers last_login, so an earlier one would be stale.
    owner = User.objects.get(pk=users[OWNER].pk)
    world.reset_uidb64 = urlsafe_base64_encode(force_bytes(owner.pk))
    world.reset_token = default_token_generator.make_token(owner)
    _change, world.email_change_token = email_change_create(
        user=owner, new_email="moving@acme.example"
    )
    _change, world.rival_email_change_token = email_change_create(
        user=users[OTHER], new_email="moving@rival.example"
    )
    return world


def browser(world: World | None, actor: str) -> HttpsClient:
    """A fresh HTTPS test client in ``actor``'s session. Server errors come back as 500
    responses (not exceptions), because "never a 500" is one of the things asserted."""
    web = HttpsClient(raise_request_exception=False)
    if actor != ANONYMOUS:
        assert world is not None
        web.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[actor]
    return web


def body_of(response: HttpResponse) -> bytes:
    """The body, streamed or not; a streamed one is read once and kept."""
    if not getattr(response, "streaming", False):
        return response.content
    if not hasattr(response, "_read_body"):
        response._read_body = b"".join(response.streaming_content)
    return response._read_body


def random_token() -> str:
    """Well-formed (43 URL-safe characters) and unknown: the lookup reaches the database."""
    return secrets.token_urlsafe(32)
