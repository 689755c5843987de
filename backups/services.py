"""Backup and restore of one installation: database, stored invoice PDFs, secret key, and
the key file that seals TOTP secrets (settings.OTP_KEY_FILE: without it a restored database
holds 2FA secrets nobody can open).

``backup_create`` writes one sealed tar, optionally encrypted (backups/crypto.py):
a consistent database copy (SQLite's online backup API, or ``pg_dump --format=custom``),
every stored PDF, the embedded run's secret key file, and ``manifest.json`` with each
member's SHA-256 and size. Every invoice's PDF must be in the store and match its recorded
SHA-256, so a damaged store fails tonight's backup rather than next year's restore.

``backup_restore`` loads such an archive into an empty installation. Everything is checked
before anything changes: the seal (or the authenticated encryption), member names and types,
the manifest, and the copy's invoice rows against the PDFs. Then the PDFs and the secret key
are put in place and the database is loaded last, in one transaction; if that fails, the
files just written are removed again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import django
from django.conf import settings
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor

from backups import otpkey
from backups.archive import ArchiveWriter, extract_members, verify_manifest, write_private
from backups.crypto import MAGIC, EncryptingWriter, decrypt_stream, is_encrypted
from backups.dbcopy import (
    DB_MEMBER,
    MODELS,
    BackupError,
    Report,
    Snapshot,
    db_dump,
    db_load,
    db_snapshot,
    db_vendor,
    sqlite_path,
)
from invoices.models import Invoice
from invoices.storage import digest_of, file_modes, open_pdf

__all__ = ["BackupError", "backup_create", "backup_restore"]

_PDF = re.compile(r"^[0-9a-f]{32}\.pdf$")

FORMAT, VERSION = "invoiceportal-backup", 1
MANIFEST, SECRET = "manifest.json", "secret_key"
# ------------------------------------------------------------------------------ helpers


@contextlib.contextmanager
def _staging() -> Iterator[Path]:
    """A 0700 scratch directory inside the data directory (never /tmp: it holds plaintext)."""
    data_dir = Path(settings.DATA_DIR)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = Path(tempfile.mkdtemp(prefix=".backup-", dir=data_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _key_file() -> Path:
    return Path(settings.DATA_DIR) / "secret_key"


def _key_in_use(path: Path) -> bool:
    return path.is_file() and path.read_text(encoding="utf-8").strip() == settings.SECRET_KEY


def _stored_pdfs() -> list[Path]:
    root = Path(settings.PRIVATE_FILES_DIR)
    return sorted(p for p in root.iterdir() if _PDF.fullmatch(p.name)) if root.is_dir() else []


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {value:,}" for key, value in counts.items())


# ------------------------------------------------------------------------------- backup


def backup_create(out: Path, *, passphrase: str | None, force: bool, report: Report) -> None:
    """Write the archive to ``out``: 0600, through a temporary file next to it, renamed last.

    Refuses an existing ``out`` unless ``force``; a store that lacks an invoice's PDF or
    holds one that fails its recorded SHA-256; a missing or failing ``pg_dump``.
    """
    vendor, out = db_vendor(), out.absolute()
    if out.exists() and not force:
        raise BackupError(f"{out} already exists; pass --force to replace it.")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} is not a directory.")
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with _staging() as staging:
        dump = db_dump(vendor, staging)
        snap = db_snapshot(vendor, dump)
        report(f"Database ({vendor}, {dump.stat().st_size:,} bytes): {_counts_text(snap.counts)}.")
        pdfs = _stored_pdfs()
        if missing := sorted(set(snap.pdfs) - {pdf.name for pdf in pdfs}):
            raise BackupError(
                f"{len(missing)} invoice PDF(s) are missing from the store (first: {missing[0]}); "
                "the installation is damaged, no backup was written."
            )
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
        try:
            with os.fdopen(fd, "wb") as raw:
                sink = EncryptingWriter(raw, passphrase) if passphrase else raw
                writer = ArchiveWriter(sink, mtime=int(created.timestamp()))
                manifest = _write_archive(writer, vendor, dump, pdfs, snap, created)
                if isinstance(sink, EncryptingWriter):
                    sink.close()
                raw.flush()
                os.fsync(raw.fileno())
            if force:
                os.replace(tmp_name, out)
            else:  # a link never replaces an archive that appeared meanwhile
                os.link(tmp_name, out)
                os.unlink(tmp_name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
    directory = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    counts = manifest["counts"]
    report(f"PDFs: {counts['files']:,} files, {counts['file_bytes']:,} bytes.")
    if not (key_out := manifest["secret_key"] == "included"):  # noqa: S105  (a state)
        report(
            "The secret key comes from INVOICEPORTAL_SECRET_KEY(_FILE) and is not in the "
            "archive: keep it safe with the backups, 2FA backup codes depend on it."
        )
    kind = "encrypted (AES-256-GCM, scrypt)" if passphrase else "NOT encrypted"
    parts = f"database, {counts['files']:,} PDFs, {'' if key_out else 'no '}secret key, manifest"
    report(f"Wrote {out} ({parts}): {out.stat().st_size:,} bytes, {kind}.")
    if manifest.get("otp_key") == "included" and not passphrase:
        report(otpkey.PLAIN_WARNING)


def _write_archive(
    writer: ArchiveWriter,
    vendor: str,
    dump: Path,
    pdfs: list[Path],
    snap: Snapshot,
    created: dt.datetime,
) -> dict:
    members: list[dict] = []

    def add(name: str, path: Path) -> None:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            members.append({"name": name, "sha256": writer.add(name, handle, size), "size": size})

    add(DB_MEMBER[vendor], dump)
    for pdf in pdfs:
        try:
            add(f"files/{pdf.name}", pdf)
        except FileNotFoundError:
            if pdf.name in snap.pdfs:
                raise BackupError(f"Invoice PDF {pdf.name} vanished during the backup.") from None
            continue  # an unreferenced file deleted meanwhile: nothing lost
        sha, size = snap.pdfs.get(pdf.name, (members[-1]["sha256"], None))
        if sha != members[-1]["sha256"] or size not in (None, members[-1]["size"]):
            raise BackupError(
                f"The stored PDF {pdf.name} does not match its invoice's SHA-256: the store is "
                "damaged, no backup was written."
            )
    key = "included" if _key_in_use(_key_file()) else "external"
    if key == "included":
        add(SECRET, _key_file())
    otp_key = "included" if otpkey.key_file().is_file() else "absent"
    if otp_key == "included":
        add(otpkey.MEMBER, otpkey.key_file())
    files = [m for m in members[1:] if m["name"].startswith("files/")]
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": created.isoformat(),
        "database": {"vendor": vendor, "member": DB_MEMBER[vendor]},
        "django_version": django.get_version(),
        "secret_key": key,
        "otp_key": otp_key,
        "counts": {**snap.counts, "files": len(files), "file_bytes": sum(m["size"] for m in files)},
        "members": members,
    }
    writer.add_bytes(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    writer.close()
    return manifest


# ------------------------------------------------------------------------------ restore


def backup_restore(
    archive: Path, *, passphrase: Callable[[], str], replace_secret_key: bool, report: Report
) -> None:
    """Restore ``archive`` into this installation, which must hold no users, clients,
    invoices or PDFs. Refuses, changing nothing, a damaged, altered, truncated or foreign
    archive, a wrong passphrase, and a database vendor other than this installation's."""
    vendor = db_vendor()
    if not archive.is_file():
        raise BackupError(f"{archive} is not a file.")
    _refuse_unless_empty(vendor)
    with _staging() as staging:
        with archive.open("rb") as handle:
            encrypted = is_encrypted(handle.read(len(MAGIC)))
        if encrypted:
            plain = staging / "archive.tar"
            with archive.open("rb") as source, plain.open("xb") as sink:
                size = decrypt_stream(source, sink, passphrase())
            report(f"Decrypted and authenticated {size:,} bytes.")
            archive = plain
        root = staging / "archive"
        found = extract_members(archive, root)
        manifest = verify_manifest(root / MANIFEST, found, FORMAT, VERSION)
        if manifest["database"]["vendor"] != vendor or DB_MEMBER[vendor] not in found:
            raise BackupError(f"The archive's database is not {vendor}, this installation's.")
        report(f"Verified {len(found)} members against the seal and the manifest.")
        snap = db_snapshot(vendor, root / DB_MEMBER[vendor])
        _check_snapshot(manifest, snap, found)
        key = _secret_key_plan(root / SECRET if SECRET in found else None, replace_secret_key)
        otp_keys = otpkey.restore_plan(root / otpkey.MEMBER if otpkey.MEMBER in found else None)
        _refuse_unless_empty(vendor)
        files, size = _install(vendor, root, key, otp_keys)
    _verify_installed(manifest)
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        report("This code has migrations the backup predates: run `manage.py migrate` now.")
    report(f"Restored {_counts_text(snap.counts)}; PDFs: {files:,} ({size:,} bytes).")
    if key is not None:
        report(f"Restored the secret key to {_key_file()}: restart the portal so it uses it.")
    if otp_keys is not None:
        report(f"Restored the OTP key file to {otpkey.key_file()} (TOTP secrets open with it).")
    elif SECRET not in found:
        report(
            "The archive holds no secret key: 2FA backup codes work only where the original "
            "key is configured (or listed in INVOICEPORTAL_SECRET_KEY_FALLBACKS)."
        )


def _refuse_unless_empty(vendor: str) -> None:
    store = Path(settings.PRIVATE_FILES_DIR)
    if store.is_dir() and any(p.suffix == ".pdf" for p in store.iterdir()):
        raise BackupError(f"{store} already holds PDFs: restore only into an empty installation.")
    if vendor == "sqlite" and not sqlite_path().exists():
        return  # checking would create the file
    try:
        tables = set(connection.introspection.table_names())
        held = [
            key
            for key, model in MODELS.items()
            if model._meta.db_table in tables and model._base_manager.exists()
        ]
    finally:
        connections.close_all()
    if held:
        raise BackupError(
            f"This installation already holds {', '.join(held)}: restore only into an empty "
            "one (a new data directory or database; running migrate first is fine)."
        )


def _check_snapshot(manifest: dict, snap: Snapshot, found: dict[str, tuple[str, int]]) -> None:
    expected = {key: manifest["counts"].get(key) for key in MODELS}
    if snap.counts != expected:
        raise BackupError(
            f"The database copy holds {_counts_text(snap.counts)}, the manifest says "
            f"{_counts_text(expected)}."
        )
    for name, (sha, size) in sorted(snap.pdfs.items()):
        member = found.get(f"files/{name}")
        if not _PDF.fullmatch(name) or member is None:
            raise BackupError(f"An invoice refers to the PDF {name!r}, which the archive lacks.")
        if member[0] != sha or size not in (None, member[1]):
            raise BackupError(f"The PDF {name} does not match the SHA-256 its invoice records.")


def _secret_key_plan(staged: Path | None, replace: bool) -> bytes | None:
    """The key file to write, if any. Refuses an archived key that differs from one this
    installation takes from its environment, unless ``replace``."""
    if staged is None:
        return None
    archived = staged.read_text(encoding="utf-8").strip()
    if len(archived) < 50:  # as core/secret.py demands, or the portal cannot start
        raise BackupError("The archived secret key is unusable (too short).")
    if archived in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        return None
    if not _key_in_use(_key_file()) and not replace:
        raise BackupError(
            "This installation's secret key (INVOICEPORTAL_SECRET_KEY or _FILE) differs from "
            "the archived one, and restored sessions and 2FA backup codes depend on it: "
            f"configure the archived key, or pass --replace-secret-key to write it to "
            f"{_key_file()} and point INVOICEPORTAL_SECRET_KEY_FILE there."
        )
    # Otherwise it is the embedded run's generated key file: this installation is empty
    # (checked), so nothing signed with that key exists and the archived one replaces it.
    return staged.read_bytes()


def _install(
    vendor: str, root: Path, key: bytes | None, otp_keys: bytes | None = None
) -> tuple[int, int]:
    """PDFs, secret key, OTP key file, then the database (atomic); on failure the files are
    taken back."""
    undo: list[Callable[[], object]] = []
    store, pdfs = Path(settings.PRIVATE_FILES_DIR), sorted(root.glob("files/*.pdf"))
    try:
        for missing in reversed([p for p in (store, *store.parents) if not p.exists()]):
            missing.mkdir(mode=0o700)
            undo.append(missing.rmdir)
        for pdf in pdfs:
            write_private(store / pdf.name, pdf)
            undo.append((store / pdf.name).unlink)
        # The same modes the store itself uses (group-readable when the proxy sends files).
        dir_mode, file_mode = file_modes()
        for path in (store.parent, store):
            os.chmod(path, dir_mode)
        for pdf in pdfs:
            os.chmod(store / pdf.name, file_mode)
        if key is not None:
            path = _key_file()
            old = path.read_bytes() if path.is_file() else None
            write_private(path, key)
            undo.append(path.unlink if old is None else lambda: write_private(path, old))
        if otp_keys is not None:
            undo.append(otpkey.install(otp_keys))
        if vendor == "sqlite" and not sqlite_path().exists():
            sqlite_path().parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(sqlite_path(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            undo.append(sqlite_path().unlink)
        db_load(vendor, root / DB_MEMBER[vendor])
    except BaseException:
        for step in reversed(undo):
            with contextlib.suppress(OSError):
                step()
        raise
    return len(pdfs), sum(pdf.stat().st_size for pdf in pdfs)


def _verify_installed(manifest: dict) -> None:
    """After loading: the counts, and every invoice's PDF in the store by its SHA-256."""
    counts = {key: model._base_manager.count() for key, model in MODELS.items()}
    if counts != {key: manifest["counts"][key] for key in MODELS}:
        raise BackupError(f"Restored, but the database now holds {_counts_text(counts)}.")
    rows = Invoice._base_manager.exclude(pdf_name="").values_list("pdf_name", "pdf_sha256")
    for name, sha in rows.iterator():
        try:
            with open_pdf(name) as handle:
                matches = digest_of(handle)[0] == sha
        except FileNotFoundError:
            matches = False
        if not matches:
            raise BackupError(f"Restored, but {name} does not match its invoice's SHA-256.")
