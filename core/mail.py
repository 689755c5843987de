"""The embedded run's email backend: every message is printed on the console (the terminal
running `make run`) and kept as a file in DATA_DIR/outbox.

A consultant trying the portal on a laptop has no SMTP server; nothing leaves the machine.
Django 6.1's `check --deploy` refuses its own console backend (mail.E001), which `make run`
must pass; this backend is the same idea under the portal's name. Production sends
through SMTP (settings.py, INVOICEPORTAL_EMAIL_*).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail.backends.filebased import EmailBackend as FileBasedBackend
from django.core.mail.message import EmailMessage

__all__ = ["OutboxEmailBackend"]


class OutboxEmailBackend(FileBasedBackend):
    def __init__(self, *args: Any, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, file_path=file_path or str(settings.EMAIL_OUTBOX_DIR), **kwargs)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        count = super().send_messages(email_messages)
        for message in email_messages:
            sys.stdout.write(f"--- email to {', '.join(message.recipients())}: {message.subject}\n")
            sys.stdout.write(message.body + "\n")
        sys.stdout.flush()
        return count
