"""Authorization that cannot be forgotten: every URL the portal routes, as every actor.

The URLconf is walked (admin included), so a URL added later is requested here without
anyone remembering to; a URL nobody classified fails ``test_every_url_is_classified``.
Each route is then requested as anonymous, as another client's contact, as the owner's
contacts in each 2FA state, as the owner, and as staff without and with 2FA. Object ids
(invoice public ids, admin primary keys, link, invitation and reset tokens) are Acme's
real ones from the database; the attacker is Rival's contact or whoever else is not
entitled. Only the right actor gets data; everybody else gets the login redirect, the 2FA
redirect, or a 404 that is byte-for-byte the 404 of a random, non-existent id. Never a 500,
and never another client's invoice number in a body.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from clients.models import Client, Contact, Invitation, User
from invoices.models import DownloadLink, GeneratedInvoice, Invoice
from tests.security.actors import (
    ACTORS,
    ANONYMOUS,
    OTHER,
    OWNER,
    OWNER_MUST_ENROL,
    OWNER_NOT_VERIFIED,
    OWNER_NUMBER,
    STAFF,
    STAFF_NOT_VERIFIED,
    STAFF_WITHOUT_2FA,
    World,
    body_of,
    browser,
    build_world,
    module_data,
    random_token,
)

pytestmark = pytest.mark.django_db

# ---------------------------------------------------------------------------------------
# Classification: every route the URLconf knows, by view name (or by route if unnamed).
# ---------------------------------------------------------------------------------------

PUBLIC = "public"  # anyone; serves no client data
TOKEN = "token"  # the URL carries a secret
CLIENT = "client"  # a client's invoices: contacts of that client only
ACCOUNT = "account"  # the logged-in user's own account pages
ADMIN = "admin"  # staff with a verified second factor only


@dataclass(frozen=True)
class Rule:
    kind: str
    method: str = "get"
    # For TOKEN: "bound" tokens work only for a logged-in contact of the owning client;
    # "bearer" tokens (invitation, password reset) work for whoever holds them.
    token: str = ""


CLASSIFICATION: dict[str, Rule] = {
    "healthz": Rule(PUBLIC),
    "favicon": Rule(PUBLIC),
    "portal-home": Rule(PUBLIC),  # redirects to login, the invoice list or the admin
    "login": Rule(PUBLIC),
    "logout": Rule(PUBLIC, method="post"),
    "password_reset": Rule(PUBLIC),
    "password_reset_done": Rule(PUBLIC),
    "password_reset_complete": Rule(PUBLIC),
    "admin:login": Rule(PUBLIC),  # sends everybody to the portal's login
    "download": Rule(TOKEN, token="bound"),
    "invoice-link": Rule(TOKEN, token="bound"),
    "invitation": Rule(TOKEN, token="bearer"),
    # works only for the logged-in account it was made for: anyone else gets the 404
    "email-change-confirm": Rule(TOKEN, token="bound"),
    "password_reset_confirm": Rule(TOKEN, token="bearer"),
    "invoice-list": Rule(CLIENT),
    "invoice-detail": Rule(CLIENT),
    "invoice-download-link": Rule(CLIENT, method="post"),
    "account": Rule(ACCOUNT),
    "otp-verify": Rule(ACCOUNT),
    "otp-setup": Rule(ACCOUNT),
    "otp-backup-codes": Rule(ACCOUNT),
    "otp-disable": Rule(ACCOUNT),
    "password-change": Rule(ACCOUNT),
    "email-change": Rule(ACCOUNT),
    "logout-everywhere": Rule(ACCOUNT, method="post"),
    "admin:logout": Rule(ADMIN, method="post"),
}
# Static files are served by WhiteNoise's middleware, outside the URLconf; a static() or
# media pattern added here later would be walked and would need an entry above.
# Every other route of the admin site is classified ADMIN as a whole: AdminSite wraps its
# views in admin_view, and the matrix below proves that it did for each one of them
# (custom get_urls() views included, which is where a forgotten wrapper would hide).
ADMIN_PREFIX = "admin/"


def classify(key: str, route: str) -> Rule | None:
    if key in CLASSIFICATION:
        return CLASSIFICATION[key]
    if key.startswith("admin:") or route.startswith(ADMIN_PREFIX):
        return Rule(ADMIN)
    return None


# ---------------------------------------------------------------------------------------
# Walking the URLconf
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # the namespaced view name, or the route for an unnamed pattern
    route: str  # as ResolverMatch.route spells it
    params: tuple[str, ...]


def _join(prefix: str, part: str) -> str:
    # As django.urls.resolvers does: an inner regex's leading "^" is dropped.
    return prefix + (part[1:] if part.startswith("^") else part)


def walk_urlconf() -> list[Route]:
    found: list[Route] = []

    def walk(patterns, prefix: str, namespace: str | None) -> None:
        for pattern in patterns:
            route = _join(prefix, str(pattern.pattern))
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern):
                name = pattern.name and (
                    f"{namespace}:{pattern.name}" if namespace else pattern.name
                )
                found.append(Route(name or route, route, _params(route)))

    walk(get_resolver().url_patterns, "", None)
    return found


_ROUTE_PARAM = re.compile(r"<(?:\w+:)?(?P<name>\w+)>")
_REGEX_PARAM = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


def _params(route: str) -> tuple[str, ...]:
    regex_names = [m["name"] for m in _REGEX_PARAM.finditer(route)]
    rest = _REGEX_PARAM.sub("", route)
    return (*regex_names, *(m["name"] for m in _ROUTE_PARAM.finditer(rest)))


def build_path(route: Route, values: dict[str, str]) -> str:
    path = _REGEX_PARAM.sub(lambda m: values[m["name"]], route.route)
    path = _ROUTE_PARAM.sub(lambda m: values[m["name"]], path)
    return "/" + path.replace("^", "").replace("$", "")


ROUTES = walk_urlconf()


# ---------------------------------------------------------------------------------------
# Acme's real ids for every parameter, and a random non-existent one of the same shape
# ---------------------------------------------------------------------------------------

MISSING_PK = "987654321"


def _admin_model(route: str):
    for model in admin.site._registry:
        if route.startswith(f"{ADMIN_PREFIX}{model._meta.app_label}/{model._meta.model_name}/"):
            return model
    return None


def _admin_object(world: World, model):
    """Acme's own row where the model has one, else the first row there is."""
    preferred = {
        Invoice: world.invoice,
        GeneratedInvoice: world.draft,
        Client: world.owner_client,
        Contact: world.users[OWNER],
        User: world.users[STAFF],  # the admin's user page lists staff only
        Invitation: world.invitee.invitations.get(),
        DownloadLink: world.link,
    }
    if model in preferred:
        return preferred[model]
    row = (
        model._default_manager.filter(user=world.users[OWNER]).first()
        if any(f.name == "user" for f in model._meta.fields)
        else None
    )
    row = row or model._default_manager.order_by("pk").first()
    assert row is not None, (
        f"No {model.__name__} row: add one to build_world() so its admin pages are "
        "requested with a real id"
    )
    return row


def fill(route: Route, world: World, *, real: bool, rival: bool = False) -> dict[str, str]:
    """Values for ``route``'s parameters: Acme's real ones, unknown ones (``real=False``),
    or, for the invoice routes, Rival's real ones (``rival=True``)."""
    values: dict[str, str] = {}
    for name in route.params:
        if name == "public_id" and rival:
            values[name] = str(world.rival_invoice.public_id)
        elif name == "public_id":
            values[name] = str(world.invoice.public_id if real else uuid.uuid4())
        elif name == "token" and route.key in ("download", "invoice-link") and rival:
            values[name] = world.rival_link_token
        elif name == "token" and route.key in ("download", "invoice-link"):
            values[name] = world.link_token if real else random_token()
        elif name == "token" and route.key == "email-change-confirm" and rival:
            values[name] = world.rival_email_change_token
        elif name == "token" and route.key == "email-change-confirm":
            values[name] = world.email_change_token if real else random_token()
        elif name == "token" and route.key == "invitation":
            values[name] = world.invitation_token if real else random_token()
        elif name == "uidb64":
            values[name] = world.reset_uidb64
        elif name == "token" and route.key == "password_reset_confirm":
            values[name] = world.reset_token if real else "cxyz12-" + "0" * 32
        elif name in ("object_id", "pk", "id"):
            # view_on_site's object is of the content type given below: an invoice.
            model = Invoice if "content_type_id" in route.params else _admin_model(route.route)
            assert model is not None, f"{route.key}: no registered model for {route.route}"
            values[name] = str(_admin_object(world, model).pk) if real else MISSING_PK
        elif name == "content_type_id":
            values[name] = str(ContentType.objects.get_for_model(Invoice).pk)
        elif name == "app_label":
            values[name] = "invoices"
        elif name == "url":
            values[name] = "no-such-page/"
        else:
            raise AssertionError(f"{route.key}: no value for <{name}>; teach fill() about it")
    return values


# ---------------------------------------------------------------------------------------
# What each actor must get
# ---------------------------------------------------------------------------------------

LOGIN = "login redirect"
ENROL = "2FA enrolment redirect"
VERIFY = "2FA verification redirect"
NOT_FOUND = "the unknown-id 404"
OWN = "own page"
DATA = "data"
ANY = "no data, no error"

_GATE = {
    OWNER_MUST_ENROL: ENROL,
    STAFF_WITHOUT_2FA: ENROL,
    OWNER_NOT_VERIFIED: VERIFY,
    STAFF_NOT_VERIFIED: VERIFY,
}
_GATE_PAGE = {ENROL: "otp-setup", VERIFY: "otp-verify"}


def expected(rule: Rule, key: str, actor: str) -> str:
    if rule.kind == PUBLIC:
        return ANY
    if rule.kind == TOKEN and rule.token == "bearer":
        return DATA  # whoever holds the token; what a wrong token gets is in the fuzzing
    if actor == ANONYMOUS:
        return LOGIN
    if actor in _GATE:
        gate = _GATE[actor]
        return OWN if _GATE_PAGE[gate] == key else gate
    if rule.kind == ACCOUNT:
        return OWN
    if rule.kind == ADMIN:
        return DATA if actor == STAFF else LOGIN
    # CLIENT and bound TOKEN routes
    if actor == OWNER:
        return DATA
    if actor == OTHER and key == "invoice-list":
        return OWN  # Rival's own list
    return NOT_FOUND


_REDIRECT_TARGETS = {
    LOGIN: ("/accounts/login/?next=", "/admin/login/?next="),
    ENROL: ("/account/2fa/setup/?next=",),
    VERIFY: ("/accounts/2fa/?next=",),
}


def _is_redirect_to(response, outcome: str, key: str = "") -> bool:
    location = response.get("Location", "")
    if response.status_code != 302:
        return False
    if outcome == LOGIN and key == "admin:logout" and location == reverse("admin:index"):
        return True  # AdminSite.admin_view sends a stranger's logout to the index, not login
    return location.startswith(_REDIRECT_TARGETS[outcome])


def _data_problem(route: Route, response, web, world: World) -> str | None:
    """None if ``response`` is the data the right actor should get."""
    body = body_of(response)
    key = route.key
    if key == "download":
        ok = response.status_code == 200 and body == world.pdf
        return None if ok else f"no PDF: {response.status_code}"
    if key == "invoice-link":
        target = reverse("invoice-detail", args=[world.invoice.public_id])
        return None if response.get("Location") == target else "not sent to the invoice page"
    if key == "invoice-download-link":
        location = response.get("Location", "")
        if response.status_code != 302 or not location.startswith("/d/"):
            return f"no download link: {response.status_code} {location!r}"
        download = web.get(location)
        return None if body_of(download) == world.pdf else "the button's link served no PDF"
    if key in ("invoice-list", "invoice-detail"):
        ok = response.status_code == 200 and OWNER_NUMBER.encode() in body
        return None if ok else f"no invoice: {response.status_code}"
    if key == "email-change-confirm":
        ok = response.status_code == 200 and b"moving@acme.example" in body
        return None if ok else f"no confirmation page: {response.status_code}"
    if key == "invitation":
        ok = response.status_code == 200 and b'name="password1"' in body
        return None if ok else f"no password form: {response.status_code}"
    if key == "password_reset_confirm":
        location = response.get("Location", "")
        return None if location.endswith("/set-password/") else f"not let in: {location!r}"
    # The admin, as verified staff: in, never sent back to a login or 2FA page.
    if response.status_code >= 500 or any(
        _is_redirect_to(response, outcome) for outcome in (LOGIN, ENROL, VERIFY)
    ):
        return f"staff not let in: {response.status_code} {response.get('Location', '')!r}"
    if key == "admin:index" and b"Consultant&#x27;s desk" not in body:
        return "no admin index"
    if key == "admin:invoices_invoice_change" and OWNER_NUMBER.encode() not in body:
        return "the invoice's admin page does not show it"
    return None


def _normalise(response, real: dict[str, str], unknown: dict[str, str]) -> tuple:
    """Status, Location and body with the unknown id written as the real one, so that the
    responses to a real and to an unknown id compare equal when they reveal nothing."""
    location, body = response.get("Location", ""), body_of(response)
    for name, value in unknown.items():
        location = location.replace(value, real[name])
        body = body.replace(value.encode(), real[name].encode())
    return response.status_code, location, body


# ---------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_dir(tmp_path_factory):
    """This module's PDFs live as long as its world (overrides tests/conftest.py's)."""
    return tmp_path_factory.mktemp("matrix-private") / "invoices"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, private_dir) -> World:
    with module_data(django_db_blocker, private_dir):
        yield build_world()


def _owner_gets_nothing_of_rivals(route: Route, rule: Rule, world: World) -> list[str]:
    """The other direction: Acme's verified contact with Rival's real id or link."""
    if not route.params:
        return []
    rivals = build_path(route, fill(route, world, real=True, rival=True))
    unknown = build_path(route, fill(route, world, real=False))
    foreign = getattr(browser(world, OWNER), rule.method)(rivals)
    missing = getattr(browser(world, OWNER), rule.method)(unknown)
    if (foreign.status_code, body_of(foreign)) != (404, body_of(missing)):
        return [f"{OWNER}: Rival's id answered {foreign.status_code}, unlike an unknown id"]
    if any(s.encode() in body_of(foreign) for s in world.secrets_of_rival()):
        return [f"{OWNER}: Rival's id showed Rival's data"]
    return []


@pytest.fixture(autouse=True)
def _fresh(world) -> None:
    world.refresh()


def test_every_url_is_classified():
    """A URL added later fails here until somebody says who may reach it."""
    unclassified = [r.key for r in ROUTES if classify(r.key, r.route) is None]
    assert not unclassified, f"classify these routes in CLASSIFICATION: {unclassified}"
    stale = set(CLASSIFICATION) - {r.key for r in ROUTES}
    assert not stale, f"CLASSIFICATION names routes that no longer exist: {stale}"
    assert sum(classify(r.key, r.route).kind == ADMIN for r in ROUTES) > 40


def test_the_walk_builds_urls_that_resolve_to_the_walked_route(world):
    for route in ROUTES:
        path = build_path(route, fill(route, world, real=True))
        assert resolve(urlsplit(path).path).route == route.route, (route.key, path)


@pytest.mark.parametrize("route", ROUTES, ids=[r.key for r in ROUTES])
def test_route_as_every_actor(route: Route, world: World):
    rule = classify(route.key, route.route)
    assert rule is not None
    real = fill(route, world, real=True)
    unknown = fill(route, world, real=False)
    path = build_path(route, real)
    problems: list[str] = []
    for actor in ACTORS:
        outcome = expected(rule, route.key, actor)
        web = browser(world, actor)
        response = getattr(web, rule.method)(path)
        body = body_of(response)
        status = response.status_code
        if status >= 500:
            problems.append(f"{actor}: server error {status}")
            continue
        if status == 405:
            problems.append(f"{actor}: 405, so the route wants method != {rule.method!r}")
            continue
        admin_staff = rule.kind == ADMIN and actor == STAFF
        if not admin_staff:
            leaked = [s for s in world.forbidden_for(actor) if s.encode() in body]
            if leaked:
                problems.append(f"{actor}: body holds {leaked}")
        if outcome == DATA:
            problem = _data_problem(route, response, web, world)
            if problem:
                problems.append(f"{actor}: expected data, {problem}")
            if actor == OWNER and rule.kind in (CLIENT, TOKEN) and rule.token != "bearer":
                problems += _owner_gets_nothing_of_rivals(route, rule, world)
            continue
        if outcome in (OWN, ANY):
            if outcome == OWN and status >= 400:
                problems.append(f"{actor}: own page answered {status}")
            continue
        if outcome == NOT_FOUND and status != 404:
            problems.append(f"{actor}: expected 404, got {status} {response.get('Location')}")
            continue
        if outcome in _REDIRECT_TARGETS and not _is_redirect_to(response, outcome, route.key):
            got = f"{status} {response.get('Location', '')!r}"
            problems.append(f"{actor}: expected {outcome}, got {got}")
            continue
        # A wrong actor learns nothing: Acme's real id answers exactly as an unknown one.
        if route.params:
            other = getattr(browser(world, actor), rule.method)(build_path(route, unknown))
            if _normalise(response, real, {}) != _normalise(other, real, unknown):
                problems.append(f"{actor}: answers Acme's id unlike an unknown id")
        elif outcome == NOT_FOUND:
            nowhere = browser(world, actor).get(f"/no-such-page-{uuid.uuid4().hex}/")
            if (status, body) != (nowhere.status_code, body_of(nowhere)):
                problems.append(f"{actor}: its 404 differs from the 404 of an unknown URL")
    assert not problems, f"{route.key} ({rule.method.upper()} {path}):\n" + "\n".join(problems)
