"""The per-worker memory of checked files (invoices.storage.content_matches): a file is
hashed once, and any change to it (rewritten in place, replaced, truncated) is hashed
again and refused. docs/security.md, "Integrity of stored files", gives the trade-off."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

from audit.models import AuditEvent, EventKind
from invoices import storage
from invoices.services import link_create
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_memory(monkeypatch):
    """An empty memory, and a clock that makes every stored file look an hour old (the
    files here were written a moment ago; the racy-write guard would not remember them)."""
    storage._VERIFIED.clear()
    monkeypatch.setattr(storage, "_now_ns", lambda: time.time_ns() + 3600 * 10**9)
    yield
    storage._VERIFIED.clear()


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """Records every full read-and-hash of a stored file."""
    calls: list[str] = []
    real = storage.digest_of

    def counting(handle):
        calls.append(handle.name)
        return real(handle)

    monkeypatch.setattr(storage, "digest_of", counting)
    return calls


def _link(owner_setup) -> tuple[object, str]:
    _link, token = link_create(invoice=owner_setup["invoice"], ttl=dt.timedelta(days=1))
    return logged_in(owner_setup["owner"]), token


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _stamps_move_on(path) -> None:
    """Make sure the next write gets a ctime other than the remembered one: writes within
    one tick of the kernel's coarse clock share it (the racy case the real clock guards)."""
    before = os.stat(path).st_ctime_ns
    while os.stat(path).st_ctime_ns == before:
        os.utime(path)


def test_an_unchanged_file_is_hashed_once_per_worker(owner_setup, hashes):
    web, token = _link(owner_setup)
    content = storage.pdf_path(owner_setup["invoice"].pdf_name).read_bytes()
    for _ in range(3):
        response = web.get(f"/d/{token}/")
        assert response.status_code == 200
        assert _body(response) == content
    assert len(hashes) == 1
    assert AuditEvent.objects.filter(kind=EventKind.DOWNLOAD).count() == 3


def test_a_file_rewritten_in_place_after_its_check_is_refused(owner_setup, hashes):
    web, token = _link(owner_setup)
    invoice = owner_setup["invoice"]
    path = storage.pdf_path(invoice.pdf_name)
    assert web.get(f"/d/{token}/").status_code == 200
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, same inode
    _stamps_move_on(path)
    with path.open("r+b") as handle:
        handle.write(bytes(data))
    response = web.get(f"/d/{token}/")
    assert response.status_code == 404
    assert len(hashes) == 2
    assert AuditEvent.objects.filter(kind=EventKind.INTEGRITY_FAILURE, invoice=invoice).count() == 1


def test_a_file_replaced_after_its_check_is_refused(owner_setup):
    web, token = _link(owner_setup)
    invoice = owner_setup["invoice"]
    path = storage.pdf_path(invoice.pdf_name)
    assert web.get(f"/d/{token}/").status_code == 200
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x01
    forged = path.with_name("forged.tmp")
    forged.write_bytes(bytes(data))
    os.replace(forged, path)  # another inode under the same name
    assert web.get(f"/d/{token}/").status_code == 404
    assert AuditEvent.objects.filter(kind=EventKind.INTEGRITY_FAILURE, invoice=invoice).count() == 1


def test_a_restored_file_is_served_again_after_a_fresh_hash(owner_setup, hashes):
    web, token = _link(owner_setup)
    path = storage.pdf_path(owner_setup["invoice"].pdf_name)
    original = path.read_bytes()
    assert web.get(f"/d/{token}/").status_code == 200
    _stamps_move_on(path)
    path.write_bytes(original[:100] + bytes([original[100] ^ 0x01]) + original[101:])
    assert web.get(f"/d/{token}/").status_code == 404
    _stamps_move_on(path)
    path.write_bytes(original)
    assert web.get(f"/d/{token}/").status_code == 200
    assert len(hashes) == 3


def test_a_file_changed_within_the_clock_tick_guard_is_not_remembered(
    owner_setup, hashes, monkeypatch
):
    monkeypatch.setattr(storage, "_now_ns", time.time_ns)  # the real clock: the file is new
    web, token = _link(owner_setup)
    for _ in range(2):
        assert web.get(f"/d/{token}/").status_code == 200
    assert len(hashes) == 2
    assert storage._VERIFIED == {}


def test_a_change_that_keeps_the_stamps_is_caught_once_the_memory_expires(
    owner_setup, hashes, monkeypatch
):
    """A write through a shared mmap to an already dirty page changes bytes without new
    mtime/ctime; such a change is simulated here by restoring the stamps after a same-size
    rewrite. Within a minute the memory trusts the stamps; after it, the file is hashed
    again and refused."""
    web, token = _link(owner_setup)
    invoice = owner_setup["invoice"]
    path = storage.pdf_path(invoice.pdf_name)
    clock = {"now": time.time_ns() + 3600 * 10**9}
    monkeypatch.setattr(storage, "_now_ns", lambda: clock["now"])
    assert web.get(f"/d/{token}/").status_code == 200
    assert len(hashes) == 1
    original = path.read_bytes()
    tampered = original.replace(b"%%EOF", b"%%EOX")
    assert len(tampered) == len(original) and tampered != original
    remembered = storage._VERIFIED[invoice.pdf_name]
    path.write_bytes(tampered)
    # Forge the remembered stamps onto the changed file (what the mmap write leaves).
    stamps = remembered[0]
    monkeypatch.setattr(
        storage.os,
        "fstat",
        lambda fd, real=os.fstat: _with_stamps(real(fd), stamps),
    )
    clock["now"] += storage.REVERIFY_NS - 10**9
    assert web.get(f"/d/{token}/").status_code == 200  # trusted on its stamps, still
    clock["now"] += 2 * 10**9
    assert web.get(f"/d/{token}/").status_code == 404
    assert len(hashes) == 2
    assert AuditEvent.objects.filter(kind=EventKind.INTEGRITY_FAILURE, invoice=invoice).exists()


class _Stat:
    def __init__(self, real: os.stat_result, stamps: tuple[int, int, int, int, int]) -> None:
        self.st_dev, self.st_ino, self.st_size, self.st_mtime_ns, self.st_ctime_ns = stamps
        self.st_mode = real.st_mode


def _with_stamps(real: os.stat_result, stamps: tuple[int, int, int, int, int]) -> _Stat:
    return _Stat(real, stamps)


def test_a_file_that_cannot_be_read_is_refused_and_alerted_not_a_server_error(
    owner_setup, monkeypatch
):
    web, token = _link(owner_setup)
    invoice = owner_setup["invoice"]

    def failing_disk(handle):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(storage, "digest_of", failing_disk)
    response = web.get(f"/d/{token}/")
    assert response.status_code == 404
    assert AuditEvent.objects.filter(kind=EventKind.INTEGRITY_FAILURE, invoice=invoice).exists()
    assert invoice.integrity_alerts.filter(resolved_at__isnull=True).count() == 1
