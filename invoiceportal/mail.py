"""The embedded run's email backend: every message becomes a file in DATA_DIR/outbox.

A consultant trying the portal on a laptop has no SMTP server; the messages stay on the
machine, readable with any text editor. Production sends through SMTP (settings.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail.backends.filebased import EmailBackend as FileBasedBackend


class OutboxEmailBackend(FileBasedBackend):
    def __init__(self, *args: Any, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, file_path=file_path or str(settings.EMAIL_OUTBOX_DIR), **kwargs)
