"""Backups (issue 5, item 4).

The archive format is tested directly (invoiceportal/backup_crypto.py: seal, member checks,
chunked AES-GCM). The commands are tested as an operator runs them: real ``manage.py backup``
and ``manage.py restore`` processes against installations in temporary directories, on
SQLite, or on throwaway PostgreSQL databases when the suite runs with a postgres
DATABASE_URL. A round trip ends with the contact logging in with the old password, passing
2FA with an old backup code (which needs the restored secret key) and downloading every
invoice through the portal's own views, byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backups import archive as archive_format
from backups import crypto
from backups.management import passphrase as passphrase_source
from tests.factories import pdf_bytes

ROOT = Path(__file__).resolve().parents[2]
OUTER_URL = os.environ.get("DATABASE_URL", "")
PASSPHRASE = "a long backup passphrase 2026"
PASSWORD = "a restored login password 2026"
EMAIL = "ap@backup.example"
MiB = crypto.CHUNK_BYTES
SEALED = MiB + crypto.TAG_BYTES

e2e = pytest.mark.e2e  # real manage.py processes: a few seconds each


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ encryption (unit)


def encrypt(plain: bytes, passphrase: str = PASSPHRASE) -> bytes:
    out = io.BytesIO()
    writer = crypto.EncryptingWriter(out, passphrase)
    for start in range(0, len(plain), 300_001):  # writes that straddle chunk boundaries
        writer.write(plain[start : start + 300_001])
    writer.close()
    return out.getvalue()


def decrypt(sealed: bytes, passphrase: str = PASSPHRASE) -> bytes:
    out = io.BytesIO()
    crypto.decrypt_stream(io.BytesIO(sealed), out, passphrase)
    return out.getvalue()


def chunks(sealed: bytes) -> tuple[bytes, list[bytes]]:
    body = sealed[crypto.HEADER_BYTES :]
    return sealed[: crypto.HEADER_BYTES], [
        body[i : i + SEALED] for i in range(0, len(body), SEALED)
    ]


@pytest.mark.parametrize("size", [0, 1, MiB - 1, MiB, MiB + 1, 2 * MiB + 5])
def test_encryption_round_trips_at_chunk_boundaries(size):
    plain = os.urandom(size)
    sealed = encrypt(plain)
    header, parts = chunks(sealed)
    assert header.startswith(b"IPBACKUP1") and len(header) == 9 + 16 + 8
    assert len(parts) == max(1, -(-size // MiB))  # the last chunk is final, even if empty
    assert len(sealed) == crypto.HEADER_BYTES + size + len(parts) * crypto.TAG_BYTES
    assert decrypt(sealed) == plain


def test_every_archive_gets_a_fresh_salt_and_nonce_prefix():
    first, second = encrypt(b"same"), encrypt(b"same")
    assert first[9:33] != second[9:33]
    assert first[33:] != second[33:]


def test_wrong_passphrase_fails_at_the_first_chunk():
    with pytest.raises(crypto.ArchiveError, match="wrong passphrase"):
        decrypt(encrypt(b"invoice data"), "another passphrase 2026")


MULTI = os.urandom(2 * MiB + 10)  # three chunks: full, full, 10 bytes (final)


@pytest.mark.parametrize(
    "attack",
    [
        "reordered chunks",
        "dropped middle chunk",
        "dropped final chunk",
        "repeated chunk",
        "appended chunk",
        "swapped salt",
        "flipped tag byte",
    ],
)
def test_chunk_attacks_fail_authentication(attack):
    header, parts = chunks(encrypt(MULTI))
    other_header, _ = chunks(encrypt(MULTI))
    tampered = {
        "reordered chunks": header + parts[1] + parts[0] + parts[2],
        "dropped middle chunk": header + parts[0] + parts[2],
        # Truncated exactly at a chunk boundary: the previous chunk was sealed as not final.
        "dropped final chunk": header + parts[0] + parts[1],
        "repeated chunk": header + parts[0] + parts[0] + parts[1] + parts[2],
        "appended chunk": header + parts[0] + parts[1] + parts[2] + parts[2],
        "swapped salt": header[:9] + other_header[9:25] + header[25:] + b"".join(parts),
        "flipped tag byte": header
        + parts[0]
        + parts[1]
        + parts[2][:-1]
        + bytes([parts[2][-1] ^ 1]),
    }[attack]
    with pytest.raises(crypto.ArchiveError):
        decrypt(tampered)


@pytest.mark.parametrize("cut", [0, 5, crypto.HEADER_BYTES, crypto.HEADER_BYTES + 15])
def test_truncated_header_or_first_chunk_is_refused(cut):
    with pytest.raises(crypto.ArchiveError):
        decrypt(encrypt(b"x" * 100)[:cut])


def test_passphrase_is_unicode_normalised():
    composed, decomposed = "Pässphrase für Backups", "Pa\u0308ssphrase fu\u0308r Backups"
    assert decrypt(encrypt(b"data", composed), decomposed) == b"data"


# ---------------------------------------------------------------- passphrase sources


def test_passphrase_comes_from_the_first_line_of_the_file(tmp_path):
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\r\nsecond line\n")
    assert passphrase_source.read_passphrase(str(path), new=True) == PASSPHRASE


def test_passphrase_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(passphrase_source.PASSPHRASE_ENV, PASSPHRASE)
    assert passphrase_source.read_passphrase(None, new=True) == PASSPHRASE


def test_no_passphrase_and_no_terminal_is_refused(monkeypatch):
    monkeypatch.delenv(passphrase_source.PASSPHRASE_ENV, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(crypto.ArchiveError, match="needs a passphrase"):
        passphrase_source.read_passphrase(None, new=False)


def test_short_passphrase_is_refused_for_a_new_archive(monkeypatch):
    monkeypatch.setenv(passphrase_source.PASSPHRASE_ENV, "short")
    with pytest.raises(crypto.ArchiveError, match="at least 12"):
        passphrase_source.read_passphrase(None, new=True)
    # an old archive's passphrase is what it is
    assert passphrase_source.read_passphrase(None, new=False) == "short"


# ------------------------------------------------------------------- the seal (unit)

PDF_NAME = f"files/{'a' * 32}.pdf"


def small_archive() -> bytes:
    out = io.BytesIO()
    writer = archive_format.ArchiveWriter(out, mtime=1_790_000_000)
    writer.add_bytes("database/db.sqlite3", os.urandom(3000))
    writer.add_bytes(PDF_NAME, b"%PDF-1.7 invoice")
    writer.add_bytes("manifest.json", b"{}")
    writer.close()
    return out.getvalue()


def test_sealed_archive_is_an_ordinary_tar_and_extracts(tmp_path):
    data = small_archive()
    (tmp_path / "a.tar").write_bytes(data)
    with tarfile.open(tmp_path / "a.tar") as tar:
        assert tar.getnames() == [
            "database/db.sqlite3",
            PDF_NAME,
            "manifest.json",
            "archive.sha256",
        ]
    found = archive_format.extract_members(tmp_path / "a.tar", tmp_path / "out")
    assert found[PDF_NAME] == (sha(b"%PDF-1.7 invoice"), 16)
    assert (tmp_path / "out" / PDF_NAME).read_bytes() == b"%PDF-1.7 invoice"
    assert (tmp_path / "out" / PDF_NAME).stat().st_mode & 0o777 == 0o600


def test_seal_catches_a_flipped_bit_in_every_byte(tmp_path):
    """Headers, data, padding, the tar checksum's slack byte, the end blocks: all of it."""
    data = small_archive()
    target = tmp_path / "b.tar"
    for position in range(len(data)):
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        target.write_bytes(tampered)
        with pytest.raises(crypto.ArchiveError):
            archive_format.extract_members(target, tmp_path / f"out{position}")
    assert not list(tmp_path.glob("out*/**/*.pdf"))


@pytest.mark.parametrize("change", ["cut 1 byte", "cut 1 record", "cut to half", "append 1 record"])
def test_seal_catches_truncation_and_appending(tmp_path, change):
    data = small_archive()
    tampered = {
        "cut 1 byte": data[:-1],
        "cut 1 record": data[: -tarfile.RECORDSIZE],
        "cut to half": data[: len(data) // 2],
        "append 1 record": data + b"\0" * tarfile.RECORDSIZE,
    }[change]
    (tmp_path / "t.tar").write_bytes(tampered)
    with pytest.raises(crypto.ArchiveError):
        archive_format.extract_members(tmp_path / "t.tar", tmp_path / "out")


def sealed_tar(
    members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.GNU_FORMAT
) -> bytes:
    """A hostile archive with a valid seal: anyone can make one, the seal is no signature."""
    out = io.BytesIO()
    for info, data in members:
        info.size = len(data) if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
        out.write(info.tobuf(fmt, "utf-8", "strict"))
        out.write(data + b"\0" * (-len(data) % tarfile.BLOCKSIZE))
    prefix = out.getvalue()
    return prefix + archive_format.seal_tail(len(prefix), sha(prefix))


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o600
    return info


def pax_member(real_name: str, claimed: str) -> tarfile.TarInfo:
    info = member(claimed)
    info.pax_headers = {"path": real_name}
    return info


@pytest.mark.parametrize(
    ("trick", "members", "fmt"),
    [
        ("parent path", [(member("../evil"), b"x")], tarfile.GNU_FORMAT),
        ("nested parent path", [(member("files/../../evil"), b"x")], tarfile.GNU_FORMAT),
        ("absolute path", [(member("/etc/cron.d/evil"), b"x")], tarfile.GNU_FORMAT),
        ("pax path override", [(pax_member("../evil", PDF_NAME), b"x")], tarfile.PAX_FORMAT),
        ("symlink", [(member(PDF_NAME, tarfile.SYMTYPE, "/etc/passwd"), b"")], tarfile.GNU_FORMAT),
        ("hard link", [(member(PDF_NAME, tarfile.LNKTYPE, "secret_key"), b"")], tarfile.GNU_FORMAT),
        ("directory", [(member("files", tarfile.DIRTYPE), b"")], tarfile.GNU_FORMAT),
        ("device", [(member(PDF_NAME, tarfile.CHRTYPE), b"")], tarfile.GNU_FORMAT),
        ("duplicate", [(member(PDF_NAME), b"a"), (member(PDF_NAME), b"b")], tarfile.GNU_FORMAT),
    ],
)
def test_sealed_archive_with_tar_tricks_is_refused(tmp_path, trick, members, fmt):
    (tmp_path / "evil.tar").write_bytes(sealed_tar(members, fmt))
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(crypto.ArchiveError, match="refused"):
        archive_format.extract_members(tmp_path / "evil.tar", dest)
    assert not [p for p in tmp_path.rglob("*") if p.name == "evil" or p.is_symlink()]


def test_unsealed_tar_is_refused(tmp_path):
    with tarfile.open(tmp_path / "plain.tar", "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(crypto.ArchiveError, match="not an invoiceportal backup"):
        archive_format.extract_members(tmp_path / "plain.tar", tmp_path / "out")


# ------------------------------------------------------- installations (subprocesses)


def _pg_admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(OUTER_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(statement)


def _pg_rows(url: str) -> dict[str, int]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url) as conn:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        tables = [row[0] for row in conn.execute(query)]
        count = sql.SQL("SELECT COUNT(*) FROM {}")
        return {t: conn.execute(count.format(sql.Identifier(t))).fetchone()[0] for t in tables}


@dataclass
class Install:
    root: Path
    env: dict[str, str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,  # never a terminal: nothing may wait for a typed passphrase
            capture_output=True,
            text=True,
            check=False,
            timeout=180,
        )

    def manage(self, *args: str, **env: str) -> str:
        result = self.run(*args, **env)
        assert result.returncode == 0, f"manage.py {args[0]}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def refused(self, *args: str, **env: str) -> str:
        """Run a command that must be refused with one clear line, and return that line."""
        result = self.run(*args, **env)
        assert result.returncode == 1, f"not refused:\n{result.stdout}\n{result.stderr}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("CommandError: "), result.stderr
        return lines[0]

    def shell(self, code: str) -> str:
        return self.manage("shell", "--no-imports", "-c", code).strip().splitlines()[-1]

    def state(self) -> dict[str, str]:
        """All a restore could change: every path under the data directory with its mode and
        digest, and on PostgreSQL every table's row count."""
        seen = {}
        for path in sorted(self.data.rglob("*")):
            mode = f"{path.stat().st_mode & 0o777:o}"
            seen[str(path)] = mode if path.is_dir() else f"{mode} {sha(path.read_bytes())}"
        if self.env["DATABASE_URL"]:
            seen.update(
                {f"table {t}": str(n) for t, n in _pg_rows(self.env["DATABASE_URL"]).items()}
            )
        return seen


@pytest.fixture(scope="module")
def make_install(tmp_path_factory) -> Iterator[Callable[..., Install]]:
    databases: list[str] = []

    def make(*, migrate: bool = True) -> Install:
        root = tmp_path_factory.mktemp("install")
        db_url = ""
        if OUTER_URL.startswith("postgres"):
            name = f"test_invoiceportal_backup_{uuid.uuid4().hex[:10]}"
            _pg_admin(f'CREATE DATABASE "{name}"')
            databases.append(name)
            db_url = OUTER_URL.rsplit("/", 1)[0] + "/" + name
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("INVOICEPORTAL_", "DJANGO_"))
        }
        env.update(
            INVOICEPORTAL_DATA_DIR=str(root / "data"),
            INVOICEPORTAL_STATIC_ROOT=str(root / "static"),
            DATABASE_URL=db_url,
            PYTHONUNBUFFERED="1",
        )
        install = Install(root=root, env=env)
        if migrate:
            install.manage("migrate", "--noinput", "-v0")
        return install

    yield make
    for name in databases:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Source:
    install: Install
    pdfs: dict[str, bytes]  # invoice number -> the uploaded bytes
    backup_code: str  # an unused 2FA backup code of the contact
    totp_secret: str  # hex: the contact's authenticator app, sealed in the database
    passphrase_file: Path
    plain: Path
    encrypted: Path


def add_invoices(install: Install, work: Path, count: int) -> dict[str, bytes]:
    pdfs = {}
    for n in range(1, count + 1):
        number, content = f"INV-BK-{n:03d}", pdf_bytes(f"Backup invoice {n}", pages=n)
        path = work / f"{number}.pdf"
        path.write_bytes(content)
        dates = ["--issued", "2026-11-01", "--due", "2026-12-01"]
        money = ["--total", f"{n}00.00", "--currency", "EUR"]
        install.manage(
            "add_invoice", str(path), "--client-email", EMAIL, "--number", number, *dates, *money
        )
        pdfs[number] = content
    return pdfs


@pytest.fixture(scope="module")
def source(make_install, tmp_path_factory) -> Source:
    """An installation in use: a client whose contact has a password, 2FA backup codes and
    three invoices; backed up once plain and once encrypted."""
    install, work = make_install(), tmp_path_factory.mktemp("backups")
    invitation = install.manage("invite_client", "--name", "Backup GmbH", "--email", EMAIL)
    token = invitation.strip().splitlines()[-1].rstrip("/").rsplit("/", 1)[-1]
    pdfs = add_invoices(install, work, 3)
    code, totp_secret = install.shell(
        "from clients.services import invitation_accept, invitation_find\n"
        "from clients.twofactor import backup_codes_regenerate\n"
        "from django_otp.plugins.otp_totp.models import TOTPDevice\n"
        f"invitation = invitation_find(token={token!r})\n"
        f"user = invitation_accept(invitation=invitation, password={PASSWORD!r})\n"
        "device = TOTPDevice.objects.create(user=user, name='phone', confirmed=True)\n"
        "print(backup_codes_regenerate(user=user, request=None)[0], device.bin_key.hex())"
    ).split()
    passphrase_file = work / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    plain, encrypted = work / "portal.tar", work / "portal.tar.enc"
    install.manage("backup", str(plain))
    install.manage("backup", str(encrypted), "--encrypt", "--passphrase-file", str(passphrase_file))
    return Source(install, pdfs, code, totp_secret, passphrase_file, plain, encrypted)


@pytest.fixture(scope="module")
def empty(make_install) -> Install:
    """A migrated installation without data, shared by the tests where restore must refuse
    (each checks that nothing changed)."""
    return make_install()


def assert_unchanged(install: Install, before: dict[str, str]) -> None:
    assert install.state() == before
    assert not list(install.data.glob(".backup-*")), "staging directory left behind"


# The contact's journey through the portal's own views, in the restored installation. Pages
# that fail render templates, which need static files: without collectstatic, plain storage.
JOURNEY = """
import hashlib, json
from django.conf import settings
from django.test import Client, override_settings
from invoices.models import Invoice
plain = {{"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
override_settings(STORAGES={{**settings.STORAGES, "staticfiles": plain}}).enable()
# The app's code first: a backup code entered before it would count as a wrong code for the
# TOTP device and throttle it for a second.
from django_otp.oath import TOTP
app = Client(HTTP_HOST="localhost")
app.post("/accounts/login/", {{"username": {email!r}, "password": {password!r}}}, secure=True)
totp = app.post("/accounts/2fa/", {{"otp_token": "%06d" % TOTP(bytes.fromhex({totp!r})).token()}},
                secure=True)
web = Client(HTTP_HOST="localhost")
login = web.post("/accounts/login/", {{"username": {email!r}, "password": {password!r}}},
                 secure=True)
second = web.post("/accounts/2fa/", {{"otp_token": {code!r}}}, secure=True)
downloads = {{}}
for invoice in Invoice.objects.order_by("number"):
    link = web.post(f"/invoices/{{invoice.public_id}}/download/", secure=True)["Location"]
    response = web.get(link, secure=True)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    downloads[invoice.number] = [response.status_code, hashlib.sha256(body).hexdigest(),
                                 invoice.pdf_sha256]
print(json.dumps({{"login": login.status_code, "2fa": second.status_code,
                  "totp": totp.status_code,
                  "downloads": downloads}}))
"""


def assert_restored(target: Install, source: Source) -> None:
    journey = JOURNEY.format(
        email=EMAIL, password=PASSWORD, code=source.backup_code, totp=source.totp_secret
    )
    result = json.loads(target.shell(journey))
    assert result["login"] == 302, "the old password no longer logs in"
    assert result["2fa"] == 302, "the old backup code was refused: secret key not restored?"
    assert result["totp"] == 302, "the authenticator app's code was refused: OTP key lost?"
    assert result["downloads"] == {
        number: [200, sha(content), sha(content)] for number, content in source.pdfs.items()
    }
    store = target.data / "private" / "invoices"
    assert sorted(p.read_bytes() for p in store.iterdir()) == sorted(source.pdfs.values())
    assert {p.stat().st_mode & 0o777 for p in store.iterdir()} == {0o600}
    assert {d.stat().st_mode & 0o777 for d in (store, store.parent)} == {0o700}
    for name in ("secret_key", "otp.key"):
        key = target.data / name
        assert key.read_bytes() == (source.install.data / name).read_bytes()
        assert key.stat().st_mode & 0o777 == 0o600
    assert not list(target.data.glob(".backup-*")), "staging directory left behind"


@e2e
def test_help_explains_both_commands(empty):
    backup = empty.manage("backup", "--help")
    assert "--encrypt" in backup and "SENSITIVE" in backup and "--passphrase-file" in backup
    restore = empty.manage("restore", "--help")
    assert "EMPTY" in restore and "--replace-secret-key" in restore


@e2e
def test_passphrase_file_without_encrypt_is_refused(empty, tmp_path):
    line = empty.refused("backup", str(tmp_path / "out.tar"), "--passphrase-file", "/dev/null")
    assert "--passphrase-file needs --encrypt" in line
    assert not list(tmp_path.iterdir())


@e2e
def test_backup_is_private_complete_and_never_overwritten(source, tmp_path):
    out = tmp_path / "again.tar"
    report = source.install.manage("backup", str(out))
    assert "PDFs: 3" in report and f"{out.stat().st_size:,} bytes" in report
    assert out.stat().st_mode & 0o777 == 0o600
    found = archive_format.extract_members(out, tmp_path / "x")
    manifest = json.loads((tmp_path / "x" / "manifest.json").read_text())
    vendor = "postgresql" if OUTER_URL.startswith("postgres") else "sqlite"
    assert manifest["database"]["vendor"] == vendor
    file_bytes = sum(map(len, source.pdfs.values()))
    assert manifest["counts"] == {
        "users": 1,
        "clients": 1,
        "invoices": 3,
        "files": 3,
        "file_bytes": file_bytes,
    }
    assert manifest["secret_key"] == "included" and manifest["django_version"].startswith("6.")
    assert manifest["otp_key"] == "included" and "NOT encrypted" in report
    assert {m["name"]: (m["sha256"], m["size"]) for m in manifest["members"]} == {
        name: value for name, value in found.items() if name != "manifest.json"
    }
    archived = {value[0] for name, value in found.items() if name.startswith("files/")}
    assert archived == {sha(content) for content in source.pdfs.values()}

    line = source.install.refused("backup", str(out))
    assert "already exists" in line and "--force" in line
    source.install.manage("backup", str(out), "--force")
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["again.tar"]


@e2e
def test_round_trip_into_a_migrated_installation(source, make_install):
    target = make_install()
    report = target.manage("restore", str(source.plain))
    assert "users: 1, clients: 1, invoices: 3; PDFs: 3" in report
    assert_restored(target, source)


@e2e
def test_encrypted_round_trip_into_a_bare_installation(source, make_install):
    target = make_install(migrate=False)  # a new server: not even migrate has run
    report = target.manage(
        "restore", str(source.encrypted), INVOICEPORTAL_BACKUP_PASSPHRASE=PASSPHRASE
    )
    assert "Decrypted and authenticated" in report
    assert_restored(target, source)
    assert "No migrations to apply." in target.manage("migrate", "--noinput")


@e2e
def test_encrypted_archive_reveals_nothing(source):
    data = source.encrypted.read_bytes()
    assert data.startswith(b"IPBACKUP1")
    for needle in [EMAIL.encode(), b"INV-BK-001", b"%PDF", b"manifest.json", b"SQLite"]:
        assert needle not in data


@e2e
def test_wrong_passphrase_is_refused_and_changes_nothing(source, empty, tmp_path):
    before = empty.state()
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all\n")
    line = empty.refused("restore", str(source.encrypted), "--passphrase-file", str(wrong))
    assert "wrong passphrase" in line
    assert_unchanged(empty, before)


@e2e
def test_encrypted_archive_without_a_passphrase_or_terminal_is_refused(source, empty):
    before = empty.state()
    assert "needs a passphrase" in empty.refused("restore", str(source.encrypted))
    assert_unchanged(empty, before)


def plain_regions(path: Path) -> dict[str, int]:
    """A position inside each part of a plain archive."""
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    pdf = next(m for name, m in members.items() if name.startswith("files/"))
    seal = members["archive.sha256"]
    return {
        "tar checksum slack byte": 155,
        "database": members[next(n for n in members if n.startswith("database/"))].offset_data
        + 700,
        "pdf": pdf.offset_data + pdf.size // 2,
        "secret key": members["secret_key"].offset_data + 5,
        "manifest": members["manifest.json"].offset_data + 40,
        "seal digest": seal.offset_data + 3,
        "last padding byte": path.stat().st_size - 1,
    }


ENCRYPTED_REGIONS = {"salt": 12, "nonce prefix": 30, "ciphertext": 5000, "last tag byte": -1}


PLAIN_REGIONS = [
    "tar checksum slack byte",
    "database",
    "pdf",
    "secret key",
    "manifest",
    "seal digest",
    "last padding byte",
]


@e2e
@pytest.mark.parametrize(
    "where", [f"plain {r}" for r in PLAIN_REGIONS] + [f"encrypted {r}" for r in ENCRYPTED_REGIONS]
)
def test_flipped_byte_is_refused_and_changes_nothing(source, empty, tmp_path, where):
    kind, region = where.split(" ", 1)
    archive = source.plain if kind == "plain" else source.encrypted
    position = (plain_regions(archive) if kind == "plain" else ENCRYPTED_REGIONS)[region]
    data = bytearray(archive.read_bytes())
    data[position] ^= 0x01
    tampered = tmp_path / "tampered"
    tampered.write_bytes(data)
    before = empty.state()
    line = empty.refused("restore", str(tampered), "--passphrase-file", str(source.passphrase_file))
    assert any(w in line for w in ("altered", "damaged", "wrong passphrase")), line
    assert_unchanged(empty, before)


@e2e
@pytest.mark.parametrize(
    "cut",
    ["plain to half", "plain minus 1 byte", "encrypted minus 1 byte", "encrypted header only"],
)
def test_truncated_archive_is_refused_and_changes_nothing(source, empty, tmp_path, cut):
    archive = source.plain if cut.startswith("plain") else source.encrypted
    data = archive.read_bytes()
    keep = {"to half": len(data) // 2, "minus 1 byte": len(data) - 1, "header only": 33}
    tampered = tmp_path / "truncated"
    tampered.write_bytes(data[: keep[cut.split(" ", 1)[1]]])
    before = empty.state()
    line = empty.refused("restore", str(tampered), "--passphrase-file", str(source.passphrase_file))
    assert "truncated" in line or "altered" in line, line
    assert_unchanged(empty, before)


def reseal(
    archive: Path, out: Path, change: Callable[[dict[str, bytes]], None], *, manifest: bool
) -> Path:
    """Rewrite ``archive`` with ``change`` applied and a valid seal, as an attacker can; with
    ``manifest``, also make the manifest agree with the new members."""
    work = out.with_suffix(".d")
    members = {n: (work / n).read_bytes() for n in archive_format.extract_members(archive, work)}
    change(members)
    if manifest:
        listing = json.loads(members.pop("manifest.json"))
        listing["members"] = [
            {"name": n, "sha256": sha(b), "size": len(b)} for n, b in members.items()
        ]
        members["manifest.json"] = json.dumps(listing).encode()
    with out.open("wb") as sink:
        writer = archive_format.ArchiveWriter(sink, mtime=0)
        for name, data in members.items():
            writer.add_bytes(name, data)
        writer.close()
    return out


def _swap_first_pdf(members: dict[str, bytes]) -> None:
    name = next(n for n in members if n.startswith("files/"))
    members[name] = pdf_bytes("A forged invoice")


def _other_vendor(members: dict[str, bytes]) -> None:
    mine = next(n for n in members if n.startswith("database/"))
    other = "database/db.pgdump" if mine.endswith("sqlite3") else "database/db.sqlite3"
    members[other] = members.pop(mine)
    listing = json.loads(members["manifest.json"])
    listing["database"]["vendor"] = "postgresql" if other.endswith("pgdump") else "sqlite"
    members["manifest.json"] = json.dumps(listing).encode()


def _drop_first_pdf(members: dict[str, bytes]) -> None:
    members.pop(next(n for n in members if n.startswith("files/")))


RESEALED = {
    "swapped pdf, stale manifest": (_swap_first_pdf, False, "does not match the SHA-256 and size"),
    "swapped pdf, forged manifest": (_swap_first_pdf, True, "SHA-256 its invoice records"),
    "dropped pdf": (_drop_first_pdf, True, "which the archive lacks"),
    "extra member": (lambda m: m.update({f"files/{'b' * 32}.pdf": b"x"}), False, "not list"),
    "parent path member": (lambda m: m.update({"../evil": b"x"}), True, "member '../evil'"),
    "other database vendor": (_other_vendor, True, "database is not"),
}


@e2e
@pytest.mark.parametrize("attack", RESEALED)
def test_resealed_archive_is_refused_and_changes_nothing(source, empty, tmp_path, attack):
    change, manifest, expected = RESEALED[attack]
    forged = reseal(source.plain, tmp_path / "forged.tar", change, manifest=manifest)
    before = empty.state()
    line = empty.refused("restore", str(forged))
    assert expected in line, line
    assert_unchanged(empty, before)
    assert not list(empty.root.parent.rglob("evil"))


@e2e
def test_plain_tar_with_a_parent_path_member_is_refused(empty, tmp_path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    before = empty.state()
    assert "not an invoiceportal backup" in empty.refused("restore", str(evil))
    assert_unchanged(empty, before)
    assert not list(empty.root.parent.rglob("evil"))


@e2e
def test_restore_into_an_installation_with_data_is_refused(source):
    before = source.install.state()
    line = source.install.refused("restore", str(source.plain))
    assert "already holds PDFs" in line or "already holds users" in line
    assert_unchanged(source.install, before)


@e2e
def test_restore_into_a_store_that_holds_pdfs_is_refused(source, make_install):
    target = make_install(migrate=False)
    target.manage("check")  # the settings make the data directory and its secret key
    store = target.data / "private" / "invoices"
    store.mkdir(parents=True)
    (store / f"{'c' * 32}.pdf").write_bytes(b"%PDF-1.4 left over")
    before = target.state()
    assert "already holds PDFs" in target.refused("restore", str(source.plain))
    assert_unchanged(target, before)


@e2e
def test_restore_into_a_database_with_users_is_refused(source, make_install):
    target = make_install()
    target.shell(
        "from clients.models import User\n"
        "User.objects.create_superuser(email='staff@other.example', password='x' * 20)\n"
        "print('ok')"
    )
    before = target.state()
    assert "already holds users" in target.refused("restore", str(source.plain))
    assert_unchanged(target, before)


@e2e
def test_differing_configured_secret_key_is_refused_unless_replaced(source, empty, make_install):
    other_key = {"INVOICEPORTAL_SECRET_KEY": "k" * 64}
    before = empty.state()
    line = empty.refused("restore", str(source.plain), **other_key)
    assert "secret key" in line and "--replace-secret-key" in line
    assert_unchanged(empty, before)

    target = make_install(migrate=False)
    target.manage("restore", str(source.plain), "--replace-secret-key", **other_key)
    restored = (target.data / "secret_key").read_bytes()
    assert restored == (source.install.data / "secret_key").read_bytes()


@e2e
@pytest.mark.parametrize("tool", ["missing", "failing"])
def test_postgresql_backup_reports_pg_dump_problems(empty, tmp_path, tool):
    """Without a PostgreSQL server: a missing pg_dump is found before any connection, and a
    failing one is a fake that fails the way pg_dump does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if tool == "failing":
        fake = bin_dir / "pg_dump"
        fake.write_text(
            "#!/bin/sh\necho 'pg_dump: error: connection to server failed' >&2\nexit 1\n"
        )
        fake.chmod(0o700)
    out = tmp_path / "out.tar"
    line = empty.refused(
        "backup",
        str(out),
        PATH=str(bin_dir),
        DATABASE_URL="postgres://postgres@127.0.0.1:9/nowhere",
    )
    assert (
        "pg_dump was not found" in line
        if tool == "missing"
        else "pg_dump failed: pg_dump: error: connection to server failed" in line
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]
    assert not list(empty.data.glob(".backup-*"))


@e2e
@pytest.mark.parametrize("damage", ["corrupted", "deleted"])
def test_backup_refuses_a_damaged_store(make_install, tmp_path, damage):
    install = make_install()
    install.manage("invite_client", "--name", "Damaged AG", "--email", EMAIL)
    add_invoices(install, tmp_path, 1)
    (pdf,) = (install.data / "private" / "invoices").iterdir()
    if damage == "corrupted":
        content = bytearray(pdf.read_bytes())
        content[len(content) // 2] ^= 0x01
        pdf.write_bytes(content)
    else:
        pdf.unlink()
    line = install.refused("backup", str(tmp_path / "out.tar"))
    assert "damaged" in line and pdf.name in line
    assert not (tmp_path / "out.tar").exists()
    assert not list(tmp_path.glob(".out.tar.*"))


def test_restored_pdfs_get_the_stores_modes_when_the_proxy_sends_files(settings, tmp_path):
    """With INVOICEPORTAL_SENDFILE=nginx the proxy's user must be able to read restored files."""
    from backups.services import _install

    settings.SENDFILE = "nginx"
    settings.PRIVATE_FILES_DIR = tmp_path / "data" / "private" / "invoices"
    root = tmp_path / "staged"
    (root / "files").mkdir(parents=True)
    (root / "files" / ("a" * 32 + ".pdf")).write_bytes(b"%PDF-1.4\n%%EOF\n")
    from unittest import mock

    with mock.patch("backups.services.db_load"):
        _install("postgresql", root, None)
    store = settings.PRIVATE_FILES_DIR
    assert (store.stat().st_mode & 0o777) == 0o750
    assert ((store / ("a" * 32 + ".pdf")).stat().st_mode & 0o777) == 0o640
