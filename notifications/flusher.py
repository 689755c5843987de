"""Sending the mail queue off the request thread, for answers that must not tell what they
queued (the password reset form: clients.account_views.RedirectThenSendMail).

Under gunicorn the connection closes only after the response's ``close()`` returns; an SMTP
exchange there would delay the close for a known address only. So ``close()`` only wakes
this process's one daemon thread (the same call for every request, known address or not),
which sends what is due with its own database connection. A message the thread misses (the
process ends first) stays pending and the queue's timer sends it.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connections

__all__ = ["flush_in_background"]

logger = logging.getLogger(__name__)

_wake = threading.Event()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    from notifications.services import send_due

    while True:
        _wake.wait()
        _wake.clear()
        try:
            close_old_connections()
            send_due(limit=50)
        except Exception:  # the queue retries; never let the thread die
            logger.exception("sending the mail queue in the background failed")
        finally:
            connections.close_all()  # the thread holds no connection while it waits


def flush_in_background() -> None:
    """Wake the sender thread (started on first use, once per process). Returns at once."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="mail-queue-flush", daemon=True)
            _thread.start()
    _wake.set()
