"""The database side of backups: copy, read and load SQLite or PostgreSQL (the vendor's own
tools: SQLite's online backup API, pg_dump / pg_restore). Used by backups/services.py."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, connections

from clients.models import Client, User
from invoices.models import Invoice

__all__ = [
    "DB_MEMBER",
    "MODELS",
    "BackupError",
    "Report",
    "Snapshot",
    "db_dump",
    "db_load",
    "db_snapshot",
    "db_vendor",
    "sqlite_path",
]

DB_MEMBER = {"sqlite": "database/db.sqlite3", "postgresql": "database/db.pgdump"}
MODELS = {"users": User, "clients": Client, "invoices": Invoice}
# libpq parameters that dj-database-url may leave in OPTIONS (e.g. ?sslmode=require).
_LIBPQ_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}
Report = Callable[[str], None]


class BackupError(Exception):
    """A refusal, in one line for the operator."""


@dataclass
class Snapshot:
    """What a database copy holds: row counts, and each invoice's PDF (sha256, size)."""

    counts: dict[str, int]
    pdfs: dict[str, tuple[str, int | None]]


# ---------------------------------------------------------------------------- database


def db_vendor() -> str:
    if connection.vendor not in DB_MEMBER:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {connection.vendor}.")
    return connection.vendor


def sqlite_path() -> Path:
    return Path(settings.DATABASES["default"]["NAME"])


def _run(args: list[str]) -> str:
    """Run a PostgreSQL client tool with the configured connection; its stdout."""
    if not (tool := shutil.which(args[0])):
        raise BackupError(
            f"{args[0]} was not found: install the PostgreSQL client tools of the server's "
            "major version (Debian: apt install postgresql-client)."
        )
    conf, env = settings.DATABASES["default"], dict(os.environ)
    if conf.get("PASSWORD"):
        env["PGPASSWORD"] = str(conf["PASSWORD"])  # not on the command line, where ps shows it
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER")):
        if conf.get(key):
            env[var] = str(conf[key])
    for key, value in conf.get("OPTIONS", {}).items():
        if key in _LIBPQ_ENV:
            env[_LIBPQ_ENV[key]] = str(value)
    result = subprocess.run(  # noqa: S603  (fixed tool, arguments built here)
        [tool, *args[1:]], env=env, capture_output=True, encoding="utf-8", errors="replace"
    )
    if result.returncode:
        lines = [line for line in result.stderr.splitlines() if line.strip()] or ["no message"]
        raise BackupError(f"{args[0]} failed: {lines[-1].strip()}")
    return result.stdout


def _dbname() -> str:
    """The database as a libpq conninfo, so no name is ever read as options or a URL."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dbname=str(settings.DATABASES["default"]["NAME"]))


def db_dump(vendor: str, staging: Path) -> Path:
    out = staging / Path(DB_MEMBER[vendor]).name
    if vendor == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={out}", f"--dbname={_dbname()}"])
        return out
    if not sqlite_path().is_file():
        raise BackupError(f"There is no database at {sqlite_path()}: nothing to back up.")
    try:
        with (
            contextlib.closing(sqlite3.connect(sqlite_path(), timeout=20)) as source,
            contextlib.closing(sqlite3.connect(out)) as copy,
        ):
            source.backup(copy)  # a consistent snapshot while the portal keeps running
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
    except sqlite3.Error as exc:
        raise BackupError(f"Could not copy the SQLite database: {exc}.") from None
    return out


def db_snapshot(vendor: str, dump: Path) -> Snapshot:
    """Read counts and PDF rows from a database copy, without loading it anywhere."""
    tables = {model._meta.db_table: key for key, model in MODELS.items()}
    counts, pdfs = dict.fromkeys(MODELS, 0), {}
    if vendor == "sqlite":
        try:
            with contextlib.closing(sqlite3.connect(dump.as_uri() + "?mode=ro", uri=True)) as copy:
                if copy.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                    raise BackupError("The database copy fails SQLite's integrity check.")
                # Table names come from the models' _meta (code), never from the archive or a
                # user; identifiers cannot be bound as query parameters.
                for table, key in tables.items():
                    query = f'SELECT COUNT(*) FROM "{table}"'  # noqa: S608  (model table names)
                    counts[key] = copy.execute(query).fetchone()[0]
                rows = copy.execute(
                    f'SELECT pdf_name, pdf_sha256, pdf_size FROM "{Invoice._meta.db_table}" '  # noqa: S608  (model table name)
                    "WHERE pdf_name != ''"
                ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"The database copy is unreadable ({exc}).") from None
        return Snapshot(counts, {name: (sha, size) for name, sha, size in rows})
    # pg_restore prints a custom dump's rows as COPY text: one line per row, tab-separated.
    args = ["pg_restore", "--data-only", "--file=-", *(f"--table={t}" for t in tables), str(dump)]
    key, columns = None, []
    for line in _run(args).split("\n"):
        if key is None and (copy := re.match(r"^COPY (?:\w+\.)?(\w+) \((.*)\) FROM stdin;$", line)):
            key, columns = tables.get(copy[1]), [c.strip('" ') for c in copy[2].split(",")]
        elif line == "\\.":
            key = None
        elif key is not None:
            counts[key] += 1
            row = dict(zip(columns, line.split("\t"), strict=False))
            if key == "invoices" and row.get("pdf_name"):
                size = row.get("pdf_size", "\\N")
                pdfs[row["pdf_name"]] = (row["pdf_sha256"], None if size == "\\N" else int(size))
    return Snapshot(counts, pdfs)


def db_load(vendor: str, dump: Path) -> None:
    """Replace the database's contents with the copy, atomically."""
    connections.close_all()
    if vendor == "postgresql":
        options = "--clean --if-exists --no-owner --no-privileges --single-transaction"
        _run(["pg_restore", *options.split(), f"--dbname={_dbname()}", str(dump)])
        return
    # The backup API rather than a file copy: it takes SQLite's locks and replaces the pages
    # in one transaction, so a -wal file of the old database can never be replayed onto it.
    try:
        with (
            contextlib.closing(sqlite3.connect(dump.as_uri() + "?mode=ro", uri=True)) as source,
            contextlib.closing(sqlite3.connect(sqlite_path(), timeout=20)) as target,
        ):
            source.backup(target)
    except sqlite3.Error as exc:
        raise BackupError(f"Could not load the SQLite database: {exc}.") from None
