"""The processes a benchmark started, read from /proc: their programs, CPU time and memory.
Used by benchmarks/download.py, benchmarks/memory.py and tests/e2e/test_memory.py."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    parent: int
    name: str
    cpu_seconds: float  # utime + stime


def descendants(root: int | None = None) -> dict[int, Proc]:
    """Every live process below ``root`` (default: this one), by pid."""
    root = os.getpid() if root is None else root
    table: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        table[int(entry.name)] = Proc(int(entry.name), int(fields[1]), name, cpu)
    mine = {root}
    grown = True
    while grown:
        grown = False
        for proc in table.values():
            if proc.parent in mine and proc.pid not in mine:
                mine.add(proc.pid)
                grown = True
    return {pid: table[pid] for pid in mine - {root} if pid in table}


def program(proc: Proc) -> str:
    """nginx, gunicorn (its master and workers, which may show as python), wrk, ..."""
    if "gunicorn" in proc.name or proc.name.startswith("python"):
        return "gunicorn"
    return proc.name


def gunicorn_workers(root: int | None = None) -> list[int]:
    """The pids of gunicorn workers below ``root``: gunicorn processes whose parent is one."""
    procs = descendants(root)
    return sorted(
        p.pid
        for p in procs.values()
        if program(p) == "gunicorn" and p.parent in procs and program(procs[p.parent]) == "gunicorn"
    )


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of ``pid``, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def reset_peak(pid: int) -> None:
    """Set ``pid``'s VmHWM back to its current RSS (Linux >= 4.0, clear_refs "5")."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
