"""Shared guards of the load test and the fault drills."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest


@pytest.fixture
def hard_limit(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail (never hang) a test that runs past its module's ``HARD_LIMIT`` seconds: a SIGALRM
    guard, so that CI sees which drill stalled instead of hitting its own time limit."""
    seconds = int(request.module.HARD_LIMIT)

    def expired(signum, frame):
        pytest.fail(f"{request.node.name} ran longer than its hard limit of {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
