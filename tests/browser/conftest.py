"""Chromium (Debian's, not Playwright's download) against the e2e fixtures' gunicorn."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.browser.helpers import Journey, spki_pin
from tests.e2e.conftest import installation, server  # noqa: F401  (the fixtures, by import)
from tests.support.servers import ROOT, Server

CHROMIUM = Path(os.environ.get("INVOICEPORTAL_TEST_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = ROOT / "test-output" / "browser"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# How long a click, a navigation or an ``expect`` may wait for the page: Playwright waits
# for the condition (an element, a URL), these only bound it. Chromium on a loaded 2-core
# machine may need more than Playwright's default of 5 s for ``expect``.
ACTION_TIMEOUT_MS = 30_000
expect.set_options(timeout=ACTION_TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:  # noqa: F811
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    # The throwaway certificate is trusted by its key alone; every other certificate error
    # still fails, unlike with ignore_https_errors.
    pin = f"--ignore-certificate-errors-spki-list={spki_pin(server.cert)}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*ARGS, pin], headless=True
        )
        yield browser
        browser.close()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture
def journey(
    browser: Browser,
    server: Server,  # noqa: F811
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[str], Journey]]:
    """``journey(name)``: a fresh browser context (no cookies) for one user. When the test
    fails, the page it stopped on is saved too, with what the browser reported."""
    journeys: list[Journey] = []

    def start(name: str) -> Journey:
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1280, "height": 900}, locale="en-GB"
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
        journeys.append(Journey(context, name, OUTPUT))
        return journeys[-1]

    yield start
    failed = request.node.stash.get(_FAILED, False)
    for j in journeys:
        if failed:
            path = j.shot_unchecked("FAILED")
            print(f"journey {j.name} stopped on {j.page.url}; screenshot {path}")
            print("\n".join(j.problems) or "the browser reported no errors")
        j.context.close()
    if journeys and failed:
        print("gunicorn's log ends:", *server.log_path.read_text().splitlines()[-12:], sep="\n")


@pytest.fixture(scope="module")
def shared() -> dict[str, object]:
    """What one journey leaves for the next (invitation URL, invoice, PDF bytes)."""
    return {}
