"""What every benchmark of issue 7 writes: the machine, the versions, the command, and the
result as ``DIR/<name>.json`` and ``DIR/<name>.md`` (a markdown fragment that
docs/performance.md quotes). Imported by the benchmarks that report (download, memory,
pdf_render, month_end, login)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

__all__ = ["command_line", "machine", "versions", "write_results"]


def machine() -> dict[str, Any]:
    """CPU model and core count (from /proc/cpuinfo on Linux), OS and architecture."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
    }


def versions(*packages: str) -> dict[str, str]:
    """Python and the installed versions of ``packages`` ("not installed" when missing)."""
    found = {"Python": platform.python_version()}
    for name in packages:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def command_line() -> str:
    """The command that ran this benchmark, as one would type it again from the repository:
    ``.venv/bin/python -m benchmarks.<name> ...`` (or the script's path, if run as one)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is not None and spec.name:
        return shlex.join([".venv/bin/python", "-m", spec.name, *sys.argv[1:]])
    script = Path(sys.argv[0])
    with contextlib.suppress(ValueError):  # run from elsewhere: keep the path as given
        script = script.resolve().relative_to(Path.cwd())
    return shlex.join([".venv/bin/python", str(script), *sys.argv[1:]])


def write_results(
    out: Path | None, name: str, data: dict[str, Any], fragment_body: list[str]
) -> str:
    """Print the markdown fragment (machine, versions, command, then ``fragment_body``) and,
    with ``out``, write it to ``out/<name>.md`` and ``data`` plus the same facts to
    ``out/<name>.json``. Returns the fragment."""
    data = {"machine": machine(), "command": command_line(), **data}
    v = data.get("versions", {})
    m = data["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['os']}, {m['arch']}). "
        + "Versions: "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + ".",
        "",
        f"Command: `{data['command']}`",
        "",
        *fragment_body,
    ]
    fragment = "\n".join(lines).rstrip() + "\n"
    print(fragment, flush=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
        (out / f"{name}.md").write_text(fragment)
    return fragment
