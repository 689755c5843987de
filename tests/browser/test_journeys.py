"""The three journeys of issue 5 in a real browser: the consultant's first start, the
contact's first download, and another client's contact who must not reach that invoice.

They run in this order and hand over through ``shared``: (b) uses the invitation and the
invoice (a) made in the admin, (c) the invoice (b) opened. Each fails on any console error,
uncaught exception or CSP violation, and saves a screenshot of every page it shows under
test-output/browser/<journey>/.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ACTION_TIMEOUT_MS
from tests.browser.helpers import Journey, totp_code
from tests.factories import pdf_bytes
from tests.support.servers import ROOT
from tests.support.waiting import Deadline

pytestmark = pytest.mark.e2e

CONSULTANT = "consultant@browser.example"
CONSULTANT_PASSWORD = "the consultant's browser passphrase 2026"
CLIENT = "Browser Journey GmbH"
CONTACT = "ap@browser-journey.example"
CONTACT_PASSWORD = "a contact's browser passphrase 2026"
NUMBER = "INV-BROWSER-001"


def create_superuser(installation) -> None:
    """``createsuperuser --noinput`` as docs/deploy.md has the consultant run it."""
    result = subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"],
        cwd=ROOT,
        env={
            **installation.env,
            "DJANGO_SUPERUSER_EMAIL": CONSULTANT,
            "DJANGO_SUPERUSER_PASSWORD": CONSULTANT_PASSWORD,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def enrol_totp(j: Journey) -> list[str]:
    """On the setup page: read the secret as a person would, type the app's code; returns
    the backup codes shown."""
    page = j.page
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    qr = page.locator("img.qr")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR code did not render"
    secret = page.locator("code.secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    j.shot("2fa-setup")
    page.get_by_label("Code").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()
    codes = page.locator("ul.codes code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10, codes
    j.shot("backup-codes")
    page.get_by_role("link", name="I have saved them, continue").click()
    return codes


def accept_invitation(j: Journey, url: str, client: str, password: str) -> None:
    page = j.page
    page.goto(url)
    expect(page.get_by_role("heading", name=f"Welcome, {client}")).to_be_visible()
    j.shot("invitation")
    page.get_by_label("New password").fill(password)
    page.get_by_label("Repeat the password").fill(password)
    page.get_by_role("button", name="Set password and log in").click()


def admin_home(page: Page) -> None:
    page.locator(".breadcrumbs a").first.click()
    expect(page.get_by_role("heading", name="Consultant's desk")).to_be_visible()


def admin_add(page: Page, model: str) -> None:
    """Click "Add" next to ``model`` (app/model) on the admin index."""
    page.locator(f'#content-main a.addlink[href="/admin/{model}/add/"]').click()
    page.wait_for_url(f"**/admin/{model}/add/")


def test_guard_reports_csp_violations(journey, server) -> None:
    """The journeys' guard is not blind: a page breaking a strict CSP like the portal's is
    reported both through Chromium's console and through the violation event."""
    j = journey("guard-self-test")
    url = server.base_url + "/__guard_self_test__"
    j.context.route(
        url,
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'self'"},
            body='<!doctype html><p style="color: red">inline</p><script>1</script>',
        ),
    )
    j.page.goto(url)
    # The reports arrive asynchronously; Playwright delivers them while it waits, so this
    # polls with its wait (time.sleep would deliver none), up to a generous deadline.
    deadline = Deadline(ACTION_TIMEOUT_MS / 1000)
    while True:
        console = [p for p in j.problems if p.startswith("console error")]
        reported = [p for p in j.problems if p.startswith("CSP violation")]
        if (len(console) >= 2 and len(reported) >= 2) or not deadline.left():
            break
        j.page.wait_for_timeout(100)
    assert any("Content Security Policy" in p for p in console), j.problems
    assert any("style-src" in p for p in reported) and any("script-src" in p for p in reported)
    with pytest.raises(AssertionError, match="CSP violation"):
        j.check()


def test_a_consultant_first_start(installation, server, journey, shared, tmp_path) -> None:
    create_superuser(installation)
    base = server.base_url
    j = journey("a-consultant")
    page = j.page

    # /admin/ sends an anonymous visitor to the portal's one login page
    page.goto(base + "/admin/")
    assert urlsplit(page.url).path == "/accounts/login/"
    assert parse_qs(urlsplit(page.url).query) == {"next": ["/admin/"]}
    j.shot("login")
    page.get_by_label("Email address").fill(CONSULTANT)
    page.get_by_label("Password").fill(CONSULTANT_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # staff must enrol a second factor before the admin opens
    page.wait_for_url("**/account/2fa/setup/**")
    backup_codes = enrol_totp(j)
    page.wait_for_url(base + "/admin/")
    expect(page.get_by_role("heading", name="Consultant's desk")).to_be_visible()
    j.shot("admin-index")

    # Clients -> Add, with 2FA required for its contacts
    admin_add(page, "clients/client")
    page.locator("#id_name").fill(CLIENT)
    page.locator("#id_billing_email").fill(CONTACT)
    page.locator("#id_requires_2fa").check()
    j.shot("client-add")
    page.locator('input[name="_save"]').click()
    page.wait_for_url("**/admin/clients/client/")
    expect(page.locator(".messagelist .success")).to_contain_text(CLIENT)
    j.shot("clients")

    # Contacts -> Add: the invitation URL is shown once
    admin_home(page)
    j.shot("admin-index")
    admin_add(page, "clients/contact")
    page.locator("#id_client").select_option(label=CLIENT)
    page.locator("#id_email").fill(CONTACT)
    page.locator("#id_first_name").fill("Ada")
    page.locator("#id_last_name").fill("Payable")
    j.shot("contact-add")
    page.locator('input[name="_save"]').click()
    # (the page shows this heading twice: admin/one_time_links.html repeats the title)
    expect(page.get_by_role("heading", name="Invitations").first).to_be_visible()
    link = page.get_by_label(f"Link for {CONTACT}")
    invitation = link.input_value()
    assert link.get_attribute("readonly") is not None
    assert invitation.startswith(base + "/invite/"), invitation
    j.shot("invitation-link")
    page.get_by_role("link", name="Done").click()
    page.wait_for_url("**/admin/clients/contact/")
    expect(page.locator("#result_list")).to_contain_text(CONTACT)
    j.shot("contacts")

    # Invoices -> Add: upload the PDF, issued at once
    content = pdf_bytes("Browser journey", pages=2)
    pdf = tmp_path / "browser-journey.pdf"
    pdf.write_bytes(content)
    issued = date.today() - timedelta(days=1)
    admin_home(page)
    j.shot("admin-index")
    admin_add(page, "invoices/invoice")
    page.locator("#id_client").select_option(label=CLIENT)
    page.locator("#id_number").fill(NUMBER)
    page.locator("#id_issue_date").fill(issued.isoformat())
    page.locator("#id_due_date").fill((issued + timedelta(days=30)).isoformat())
    page.locator("#id_total").fill("1234.50")
    page.locator("#id_currency").fill("EUR")
    page.locator("#id_pdf").set_input_files(pdf)
    page.locator("#id_issue_now").check()
    j.shot("invoice-add")
    page.locator('input[name="_save"]').click()
    page.wait_for_url("**/admin/invoices/invoice/")
    expect(page.locator(".messagelist .success")).to_contain_text(NUMBER)
    row = page.locator("#result_list tbody tr", has_text=NUMBER)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(CLIENT)
    j.shot("invoices")

    # a later login asks for the second factor; a backup code stands in for the app
    page.locator("#logout-form button").click()
    page.wait_for_url("**/accounts/login/**")
    j.shot("logged-out")
    page.get_by_label("Email address").fill(CONSULTANT)
    page.get_by_label("Password").fill(CONSULTANT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/2fa/**")
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    j.shot("2fa-verify")
    page.get_by_label("Code").fill(backup_codes[0])
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(base + "/admin/")
    expect(page.get_by_role("heading", name="Consultant's desk")).to_be_visible()
    j.shot("admin-index")
    j.finish()

    shared.update(invitation=invitation, pdf=content)


def test_b_contact_downloads_the_invoice(server, journey, shared, tmp_path) -> None:
    if "invitation" not in shared:
        pytest.skip("needs the invitation and invoice of journey (a)")
    base = server.base_url
    content = shared["pdf"]
    j = journey("b-contact")
    page = j.page

    accept_invitation(j, shared["invitation"], CLIENT, CONTACT_PASSWORD)
    # the client requires 2FA: nothing but enrolment until it is done
    page.wait_for_url("**/account/2fa/setup/**")
    expect(page.locator(".notice")).to_contain_text("needs a second factor")
    enrol_totp(j)

    page.wait_for_url(base + "/invoices/")
    expect(page.get_by_role("heading", name="Your invoices")).to_be_visible()
    expect(page.locator("table.history")).to_contain_text(NUMBER)
    j.shot("history")

    page.get_by_role("link", name=NUMBER).click()
    page.wait_for_url(re.compile(re.escape(base) + r"/invoices/[^/]+/$"))
    expect(page.get_by_role("heading", name=f"Invoice {NUMBER}")).to_be_visible()
    expect(page.locator("code.digest")).to_have_text(hashlib.sha256(content).hexdigest())
    detail_url = page.url
    j.shot("invoice")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download PDF").click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename == f"{NUMBER}.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes() == content

    # the download is on the invoice's record, for the contact to see
    page.reload()
    expect(page.locator("section", has_text="Downloads").locator("table")).to_contain_text(CONTACT)
    j.shot("invoice-downloaded")
    j.finish()

    shared["detail_url"] = detail_url


def test_c_other_contact_cannot_reach_the_invoice(installation, server, journey, shared) -> None:
    if "detail_url" not in shared:
        pytest.skip("needs the invoice of journeys (a) and (b)")
    base = server.base_url
    detail_url = shared["detail_url"]
    out = installation.manage(
        "invite_client", "--name", "Other Browser AG", "--email", "ap@other-browser.example"
    )
    invitation = out.strip().splitlines()[-1]
    assert invitation.startswith(base + "/invite/"), out
    j = journey("c-other-contact")  # a fresh context: none of (b)'s cookies
    page = j.page

    accept_invitation(j, invitation, "Other Browser AG", CONTACT_PASSWORD)
    page.wait_for_url(base + "/invoices/")
    expect(page.get_by_text("No invoices yet.")).to_be_visible()
    assert NUMBER not in page.content()
    j.shot("history")

    j.expect_status(detail_url, 404)
    response = page.goto(detail_url)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert NUMBER not in page.content()
    j.shot("foreign-invoice")

    # nor can it ask for a download link to it, with a valid session and CSRF token
    page.go_back()
    page.wait_for_url(base + "/invoices/")
    expect(page.get_by_text("No invoices yet.")).to_be_visible()
    j.shot("history-again")
    token = page.locator('input[name="csrfmiddlewaretoken"]').first.input_value()
    download_link = detail_url + "download/"
    j.expect_status(download_link, 404)
    status = page.evaluate(
        """async ([url, token]) => (await fetch(url, {
            method: "POST", body: new URLSearchParams({csrfmiddlewaretoken: token}),
            redirect: "manual",
        })).status""",
        [download_link, token],
    )
    assert status == 404, status
    j.finish()
