"""Measure what one password hash costs with the real settings' hasher.

    .venv/bin/python -m benchmarks.argon2_cost [--rounds 20]

Prints the Argon2id parameters, the median and p90 time of make_password and
check_password, and the peak memory one hash adds to a fresh process. The figures in
docs/security.md come from this script.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import tempfile
import time


def _timed(func, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.argon2_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-argon2-") as data_dir:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invoiceportal.settings")
        os.environ.setdefault("INVOICEPORTAL_DATA_DIR", data_dir)
        import django

        django.setup()
        _measure(args.rounds)


def _measure(rounds: int) -> None:
    """Print the hasher's parameters, its times and the memory of the first hash."""
    from django.contrib.auth.hashers import check_password, get_hasher, make_password

    hasher = get_hasher("default")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    encoded = make_password("correct horse battery staple 42")
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hash_ms = _timed(lambda: make_password("correct horse battery staple 42"), rounds)
    check_ms = _timed(lambda: check_password("correct horse battery staple 42", encoded), rounds)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"hasher: {hasher.algorithm} (argon2id) memory={hasher.memory_cost} KiB "
        f"time_cost={hasher.time_cost} parallelism={hasher.parallelism}"
    )
    for label, samples in (("make_password", hash_ms), ("check_password", check_ms)):
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"{label}: median {statistics.median(samples):.1f} ms, p90 {p90:.1f} ms")
    print(f"peak RSS added by the first hash: {(rss_after - rss_before) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
