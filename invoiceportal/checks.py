"""Start-up checks that refuse insecure combinations with a clear message.

They run with every management command, and wsgi.py runs them (deployment checks
included) before gunicorn serves a single request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


@register(Tags.security, deploy=False)
def invoiceportal_security_checks(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors: list[Error] = []
    private = Path(settings.PRIVATE_FILES_DIR)
    static = Path(settings.STATIC_ROOT)
    if _inside(private, static) or _inside(static, private.parent):
        errors.append(
            Error(
                "Invoice files and static files share a directory tree.",
                hint="Keep INVOICEPORTAL_DATA_DIR and INVOICEPORTAL_STATIC_ROOT apart: "
                "a web server serving static files must never reach invoices.",
                id="invoiceportal.E001",
            )
        )
    if not (settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE):
        errors.append(Error("Session and CSRF cookies must be Secure.", id="invoiceportal.E002"))
    if not 30 <= settings.DOWNLOAD_LINK_TTL <= 86_400:
        errors.append(
            Error(
                f"INVOICEPORTAL_DOWNLOAD_LINK_TTL is {settings.DOWNLOAD_LINK_TTL} seconds.",
                hint="Use between 30 seconds and one day; longer links are for email and are "
                "made by the consultant in the admin.",
                id="invoiceportal.E003",
            )
        )
    if settings.MAX_UPLOAD_BYTES < 1024:
        errors.append(
            Error("INVOICEPORTAL_MAX_UPLOAD_BYTES is below 1 KiB.", id="invoiceportal.E004")
        )
    if not settings.SECURE_SSL_REDIRECT and not settings.BEHIND_PROXY:
        errors.append(
            Error(
                "INVOICEPORTAL_SSL_REDIRECT is off and no proxy is configured.",
                hint="Switch the redirect off only behind a proxy that redirects HTTP itself "
                "(set INVOICEPORTAL_BEHIND_PROXY).",
                id="invoiceportal.E005",
            )
        )
    return errors


@register(Tags.security, deploy=True)
def invoiceportal_production_checks(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    backend = settings.MAILERS.get("default", {}).get("BACKEND", "")
    if settings.PRODUCTION and backend == "core.mail.OutboxEmailBackend":
        return [
            Warning(
                "Production keeps email in the outbox directory instead of sending it.",
                hint="Configure SMTP (INVOICEPORTAL_EMAIL_*) or unset INVOICEPORTAL_EMAIL_BACKEND.",
                id="invoiceportal.W001",
            )
        ]
    return []


def refuse_serious_problems() -> None:
    """Raise ImproperlyConfigured if any system check (deployment ones included) reports an
    error; warnings are printed by ``manage.py check --deploy`` and do not stop serving."""
    serious = [m for m in checks.run_checks(include_deployment_checks=True) if m.is_serious()]
    if serious:
        raise ImproperlyConfigured(
            "invoiceportal refuses to start:\n" + "\n".join(str(m) for m in serious)
        )
