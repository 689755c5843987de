"""Wait for a condition, never for a number of seconds.

A test that sleeps "long enough" passes on a quiet machine and fails on a busy one (other
work on both cores stretches every step). ``wait_until`` polls a predicate instead and
fails, after a generous but bounded deadline, with a message that names what was awaited
and what was last seen, so that a stall reads as a diagnosis, not as a hang.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["SERVER_START_TIMEOUT", "Deadline", "wait_until"]

# Starting gunicorn, nginx or Caddy takes about a second on a quiet machine; a loaded
# 2-core machine has been seen to need twenty times that.
SERVER_START_TIMEOUT = 90.0


def wait_until[T](
    predicate: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    describe: Callable[[], object] | None = None,
) -> T:
    """Call ``predicate`` until it returns a true value and return that value.

    Fails with an ``AssertionError`` naming ``what`` once ``timeout`` seconds have passed
    (plus ``describe()``'s account of the state, if given). An exception raised by the
    predicate is not swallowed: catch what is expected inside the predicate. The predicate
    is always tried once more after the deadline, so a slow last poll cannot fail a
    condition that holds.
    """
    deadline = time.monotonic() + timeout
    while True:
        expired = time.monotonic() > deadline
        value = predicate()
        if value:
            return value
        if expired:
            detail = f"; last seen: {describe()}" if describe is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)


class Deadline:
    """One deadline shared by several bounded waits (joining threads, stopping processes):
    ``left()`` is what remains of it, never negative."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())
