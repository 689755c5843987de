"""Keep bearer tokens out of logs: they are secrets even when the request failed."""

from __future__ import annotations

import logging
import re

__all__ = ["RedactTokens", "redact"]

# The secret path segments of download links, invitations and email-change confirmations.
_TOKEN_PATH = re.compile(
    r"((?:/|%2F)(?:d|v|invite|confirm)(?:/|%2F))[A-Za-z0-9_\-]{8,}", re.IGNORECASE
)


# Django's password reset links: /accounts/reset/<uidb64>/<token>/
_RESET_PATH = re.compile(r"((?:/|%2F)reset(?:/|%2F))[^/\s?&%]+(?:/|%2F)[^/\s?&%]+", re.IGNORECASE)


def redact(text: str) -> str:
    return _RESET_PATH.sub(r"\1[redacted]", _TOKEN_PATH.sub(r"\1[redacted]", text))


class RedactTokens(logging.Filter):
    """Redacts the message, and the traceback and stack texts too: an exception's text can
    quote the request (``<WSGIRequest: GET '/invite/<token>/'>``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # the formatter uses exc_text; the raw one would bypass it
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        # django.request attaches the request; a formatter could print it.
        if hasattr(record, "request"):
            record.request = None
        return True
