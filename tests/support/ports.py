"""A loopback port for a server the tests start, chosen so that nothing else takes it first.

Asking the kernel for port 0 gives a port from the ephemeral range, and that range is what
every outgoing connection and every other ``bind(0)`` on the machine draws from too: on a
busy machine (several test runs at once, hundreds of client connections) the port can be
taken between the moment it was found free and the moment the server binds it. A port
below the ephemeral range is never handed out by the kernel, so only a server that picks
the same port on purpose can race us; a random pick over thousands of ports makes that
unlikely, and the port is checked free (on IPv6 too, when asked) before it is returned.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["free_port"]

# Above the well-known and registered ports most daemons use, below the ephemeral range.
LOWEST = 20000
_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(family: socket.AddressFamily, host: str, port: int) -> bool:
    try:
        with socket.socket(family) as sock:
            sock.bind((host, port))
    except OSError:
        return False
    return True


def free_port(*, ipv6: bool = False) -> int:
    """A port free on 127.0.0.1 (and on ::1 with ``ipv6``), outside the ephemeral range
    when there is room below it; refuses (AssertionError) after 200 tries."""
    high = _ephemeral_low() - 1
    rng = random.SystemRandom()
    for _ in range(200):
        if high > LOWEST:
            port = rng.randint(LOWEST, high)
        else:  # an unusual range: fall back to the kernel's choice
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        if not _bindable(socket.AF_INET, "127.0.0.1", port):
            continue
        if ipv6 and not _bindable(socket.AF_INET6, "::1", port):
            continue
        return port
    raise AssertionError("no free loopback port")
