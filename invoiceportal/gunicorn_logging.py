"""gunicorn's logger with download and invitation tokens redacted from the access log."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from invoiceportal.logfilters import redact


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
