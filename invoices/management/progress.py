"""A progress display for long management commands, written to stderr so that stdout stays
what scripts read: on a terminal a bar redrawn in place, otherwise (cron, a log file, a
pipe) a plain count line every ``every`` items and at the end."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["Progress"]

BAR_WIDTH = 30


class Progress:
    """Call ``step()`` once per item and ``done()`` after the last one."""

    def __init__(self, stream: Any, *, total: int, label: str, every: int = 100) -> None:
        self._stream = stream
        self._total = total
        self._label = label
        self._every = max(1, every)
        self._count = 0
        self._start = time.monotonic()
        self._drawn = 0.0
        self._tty = bool(getattr(stream, "isatty", lambda: False)())

    def _write(self, text: str) -> None:
        # Django's OutputWrapper would colour stderr red and add a newline: neither here.
        self._stream.write(text, style_func=lambda x: x, ending="")
        self._stream.flush()

    def step(self) -> None:
        self._count += 1
        now = time.monotonic()
        if self._tty:
            if now - self._drawn >= 0.1 or self._count == self._total:
                self._drawn = now
                self._write("\r" + self._bar(now))
        elif self._count % self._every == 0 and self._count != self._total:
            self._write(f"{self._label}: {self._count}/{self._total}\n")

    def done(self) -> float:
        """Finish the display; returns the seconds since the start."""
        elapsed = time.monotonic() - self._start
        if self._tty:
            self._write("\r" + self._bar(time.monotonic()) + "\n")
        else:
            self._write(f"{self._label}: {self._count}/{self._total} in {elapsed:.1f} s\n")
        return elapsed

    def _bar(self, now: float) -> str:
        share = self._count / self._total if self._total else 1.0
        filled = int(share * BAR_WIDTH)
        rate = self._count / max(now - self._start, 1e-9)
        return (
            f"{self._label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{self._count}/{self._total} {rate:.1f}/s"
        )
