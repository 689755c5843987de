from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.test import Client as HttpClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests import factories

# Hypothesis fails an example slower than 200 ms and a data generation it finds slow: both
# are speed, not correctness, and a loaded 2-core machine trips them. The properties and
# the number of examples stay; only those two clocks are off (speed is for `make bench`).
hypothesis_settings.register_profile(
    "invoiceportal", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("invoiceportal")


@pytest.fixture(autouse=True)
def private_dir(settings, tmp_path: Path) -> Path:
    """Each test gets its own private file store, so file-count assertions are exact."""
    settings.PRIVATE_FILES_DIR = tmp_path / "private" / "invoices"
    yield settings.PRIVATE_FILES_DIR
    shutil.rmtree(tmp_path / "private", ignore_errors=True)


class HttpsClient(HttpClient):
    """The test client over HTTPS, as every real request to the portal is.
    For a plain-HTTP request, use Django's own ``Client``."""

    def generic(
        self, method, path, data="", content_type="application/octet-stream", secure=False, **kw
    ):
        return super().generic(method, path, data, content_type, secure=True, **kw)


@pytest.fixture
def web() -> HttpsClient:
    return HttpsClient()


@pytest.fixture
def owner_setup(db):
    """A client with one invoice and a logged-in contact; plus a second, foreign client."""
    acme = factories.make_client("Acme GmbH")
    owner = factories.make_contact(acme, email="ap@acme.example")
    invoice = factories.make_invoice(acme, number="INV-2026-001")
    rival = factories.make_client("Rival Ltd")
    stranger = factories.make_contact(rival, email="ap@rival.example")
    rival_invoice = factories.make_invoice(rival, number="RIV-2026-001")
    return {
        "client": acme,
        "owner": owner,
        "invoice": invoice,
        "rival": rival,
        "stranger": stranger,
        "rival_invoice": rival_invoice,
    }


def logged_in(user) -> HttpsClient:
    web = HttpsClient()
    web.force_login(user)
    return web


def verify_second_factor(web: HttpsClient, user) -> None:
    """Mark ``web``'s session as having passed 2FA with a confirmed TOTP device, as
    django_otp.login does after a good code (tests/clients/test_twofactor.py enters real codes)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test device", confirmed=True)
    session = web.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def logged_in_staff(user=None) -> HttpsClient:
    """A staff session that has passed the second factor, as the admin requires."""
    from tests.factories import make_staff

    user = user or make_staff()
    web = logged_in(user)
    verify_second_factor(web, user)
    return web
