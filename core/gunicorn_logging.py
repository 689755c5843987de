"""gunicorn's logger with download and invitation tokens redacted from the access log."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from core.logfilters import RedactTokens, redact

__all__ = ["RedactingLogger"]


class RedactingLogger(Logger):
    """Redacts the access log's atoms and, through a filter on every handler, the error
    log too (gunicorn logs "Error handling request GET /invite/<token>/")."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(RedactTokens())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
