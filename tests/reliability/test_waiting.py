"""The helper every timing-sensitive test waits with (tests/support/waiting.py), on a fake
clock: it returns the predicate's value as soon as it holds, tries once more after the
deadline, and fails naming what it waited for and what it last saw."""

from __future__ import annotations

import pytest

from tests.support import waiting


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """``time.monotonic`` of the helper; its ``time.sleep`` only moves it on."""
    now = [1000.0]
    monkeypatch.setattr(waiting.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(waiting.time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    return now


def test_returns_the_predicates_value_once_it_holds(clock) -> None:
    answers = iter([None, 0, "", {"workers": 3}])
    assert waiting.wait_until(lambda: next(answers), timeout=10, what="x") == {"workers": 3}
    assert clock[0] == pytest.approx(1000.15)


def test_a_condition_that_never_holds_fails_naming_what_was_awaited(clock) -> None:
    calls = []
    with pytest.raises(AssertionError) as failure:
        waiting.wait_until(
            lambda: calls.append(clock[0]),
            timeout=2,
            interval=0.5,
            what="gunicorn's /healthz",
            describe=lambda: "connection refused",
        )
    assert str(failure.value) == (
        "timed out after 2 s waiting for gunicorn's /healthz; last seen: connection refused"
    )
    assert calls[-1] > 1002  # tried once more after the deadline, then stopped
    assert len(calls) == 6


def test_a_condition_that_holds_at_the_last_try_passes(clock) -> None:
    assert waiting.wait_until(lambda: clock[0] > 1005, timeout=5, interval=1, what="x") is True


def test_a_shared_deadline_never_goes_below_zero(clock) -> None:
    deadline = waiting.Deadline(3)
    clock[0] += 2
    assert deadline.left() == pytest.approx(1)
    clock[0] += 5
    assert deadline.left() == 0
