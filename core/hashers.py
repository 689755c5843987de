"""Password hashing: Django's Argon2id hasher with the portal's parameters.

OWASP's Password Storage Cheat Sheet asks for Argon2id with at least 19 MiB of memory,
2 iterations and 1 degree of parallelism (or an equivalent trade: 46 MiB with 1 iteration).
The portal uses 64 MiB, 2 iterations, parallelism 1: above every OWASP row, and cheap
enough for a small server (docs/security.md has the measured time and how many hashes the
default worker count can run at once). Hashes made with other parameters or another hasher
are upgraded at the next successful login (Django's must_update / harden_runtime).
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher

__all__ = ["OWASP_MINIMUM", "PortalArgon2PasswordHasher"]

# (memory KiB, time cost, parallelism) of OWASP's weakest acceptable Argon2id setting.
OWASP_MINIMUM = {"memory_cost": 19 * 1024, "time_cost": 2, "parallelism": 1}


class PortalArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 64 * 1024  # KiB
    parallelism = 1
