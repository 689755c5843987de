"""A gunicorn worker's memory stays bounded for a 200 MB download and a 200 MB admin
upload: the peak resident memory (VmHWM, reset before each step) rises by less than
16 MiB. The same functions as benchmarks/memory.py, which also reports the figures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.memory import (
    LIMIT_KIB,
    MIB,
    RAISED_CAP,
    measure_download,
    measure_upload,
    seed,
    with_cap,
    write_large_pdf,
)
from tests.support.servers import Installation, Server, gunicorn_over_tls

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def large_pdf(tmp_path_factory):
    return write_large_pdf(tmp_path_factory.mktemp("large") / "large.pdf", 200 * MIB)


@pytest.fixture(scope="module")
def seeded(installation: Installation, large_pdf) -> dict:
    with_cap(installation, RAISED_CAP)
    return seed(installation, large_pdf)


@pytest.fixture(scope="module")
def one_worker(installation: Installation, seeded: dict) -> Iterator[Server]:
    with gunicorn_over_tls(installation, workers="1", log_name="gunicorn-memory.log") as srv:
        yield srv


def test_a_200_mb_download_raises_the_workers_peak_memory_by_less_than_16_mib(one_worker, seeded):
    step = measure_download(one_worker, seeded)  # checks status, size and SHA-256 itself
    assert step.bytes > 199 * MIB
    assert 0 <= step.rise_kib < LIMIT_KIB, f"peak rose by {step.rise_kib} KiB"


def test_a_200_mb_admin_upload_raises_the_workers_peak_memory_by_less_than_16_mib(
    one_worker, seeded, large_pdf
):
    step = measure_upload(one_worker, seeded, large_pdf, "MEM-TEST-UPLOAD")  # checks it landed
    assert 0 <= step.rise_kib < LIMIT_KIB, f"peak rose by {step.rise_kib} KiB"
