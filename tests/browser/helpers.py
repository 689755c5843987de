"""A journey through the portal in one browser context: a screenshot per page visited, and
every console error, uncaught exception or CSP violation collected so the test fails."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django_otp.oath import TOTP
from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Frame, Page

# Reported through a binding rather than the console, so a page cannot hide a violation by
# replacing console.error. Chromium logs each violation as a console error as well.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__reportCspViolation(
    `${e.effectiveDirective} blocked ${e.blockedURI || "(inline)"}`
    + ` in ${e.sourceFile || e.documentURI}:${e.lineNumber}`
    + (e.sample ? ` sample=${JSON.stringify(e.sample)}` : "")
  );
});
"""

_HTTP_ERROR = re.compile(r"^Failed to load resource: the server responded with a status of (\d+)")


def spki_pin(cert_pem: Path) -> str:
    """Base64 SHA-256 of the certificate's public key, for Chromium's
    --ignore-certificate-errors-spki-list: trusts exactly this key, nothing else."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def totp_code(secret: str) -> str:
    """What an authenticator app shows now for ``secret``, the text on the setup page."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key)
    totp.time = time.time()
    return f"{totp.token():06d}"


class Journey:
    """One user in one fresh browser context.

    ``shot(name)`` saves ``NN-name.png`` for the page shown and fails the test if anything
    went wrong in the browser so far; ``finish()`` also fails if a page was visited without
    a screenshot.
    """

    def __init__(self, context: BrowserContext, name: str, out_dir: Path) -> None:
        self.name = name
        self.context = context
        self.dir = out_dir / name
        shutil.rmtree(self.dir, ignore_errors=True)  # no screenshots of an earlier run
        self.shots: list[Path] = []
        self.problems: list[str] = []
        self.expected_statuses: dict[str, int] = {}
        self.unshot: str | None = None  # the page shown now, if not yet photographed
        self.missed: list[str] = []
        context.expose_function("__reportCspViolation", self._csp_violation)
        context.add_init_script(CSP_LISTENER)
        self.page: Page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", self._page_error)
        self.page.on("framenavigated", self._navigated)

    # -- listeners ----------------------------------------------------------------------

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        source = message.location.get("url", "")
        status = _HTTP_ERROR.match(message.text)
        if status and self.expected_statuses.get(source) == int(status.group(1)):
            return  # a status the test asked for, e.g. the 404 for a foreign invoice
        line = message.location.get("lineNumber", 0)
        self.problems.append(f"console error on {self.page.url}: {message.text} [{source}:{line}]")

    def _page_error(self, error: Error) -> None:
        self.problems.append(f"uncaught exception on {self.page.url}: {error.message}")

    def _csp_violation(self, report: str) -> None:
        self.problems.append(f"CSP violation on {self.page.url}: {report}")

    def _navigated(self, frame: Frame) -> None:
        if frame.parent_frame is not None or frame.url.startswith("about:"):
            return
        if self.unshot is not None:
            self.missed.append(self.unshot)
        self.unshot = frame.url

    # -- steps --------------------------------------------------------------------------

    def expect_status(self, url: str, status: int) -> None:
        """The browser may log this one HTTP error for ``url``: the test asserts it."""
        self.expected_statuses[url] = status

    def shot(self, name: str) -> Path:
        self.page.wait_for_load_state("load")
        path = self.shot_unchecked(name)
        self.check()
        return path

    def shot_unchecked(self, name: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        self.shots.append(path)
        self.unshot = None
        return path

    def check(self) -> None:
        assert not self.problems, f"journey {self.name}:\n" + "\n".join(self.problems)

    def finish(self) -> None:
        self.check()
        missed = [*self.missed, *([self.unshot] if self.unshot else [])]
        assert not missed, f"journey {self.name}: pages without a screenshot: {missed}"
