"""Fixed test vectors for the backup encryption (backups/crypto.py), in the way django-otp's
oath tests pin HOTP/TOTP: archives written today must decrypt after any refactoring, and
the format must be what the module's docstring says, checked with independent primitives."""

from __future__ import annotations

import ast
import hashlib
import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backups import crypto

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"
SALT = bytes(range(16))
PREFIX = bytes(range(100, 108))
KEY = bytes.fromhex("7a8e34241db898d59175c696538c417467a975ffe569068425f16188d3159c58")
PLAIN = b"invoice 2026-0001"
SEALED = bytes.fromhex(
    "49504241434b555031"  # IPBACKUP1
    "000102030405060708090a0b0c0d0e0f"  # salt
    "6465666768696a6b"  # nonce prefix
    "65ef480cc30795720d7176893f3e54229f86cb37da30debf4767e4a92bf2c67db4"  # chunk 0 (final)
)


def test_key_derivation_matches_the_vector_and_openssls_scrypt():
    assert crypto.derive_key(PASSPHRASE, SALT) == KEY
    independent = hashlib.scrypt(
        PASSPHRASE.encode(), salt=SALT, n=2**15, r=8, p=1, maxmem=64 * 1024 * 1024, dklen=32
    )
    assert independent == KEY


def test_the_same_text_typed_in_another_normal_form_gives_the_same_key():
    assert crypto.derive_key("caf\u00e9 2026 passphrase", SALT) == crypto.derive_key(
        "cafe\u0301 2026 passphrase", SALT
    )


def test_encryption_with_a_fixed_salt_and_prefix_gives_the_vector():
    out = io.BytesIO()
    fixed = crypto.EncryptingWriter._with_fixed_salt_for_test_vectors
    writer = fixed(out, PASSPHRASE, SALT, PREFIX)
    writer.write(PLAIN)
    writer.close()
    assert out.getvalue() == SEALED


def test_the_vector_decrypts_to_its_plaintext():
    out = io.BytesIO()
    assert crypto.decrypt_stream(io.BytesIO(SEALED), out, PASSPHRASE) == len(PLAIN)
    assert out.getvalue() == PLAIN


def test_the_vector_is_the_documented_format():
    """Header = magic + salt + prefix; chunk i: nonce prefix + i, AAD header + i + final flag."""
    header = SEALED[: crypto.HEADER_BYTES]
    assert header == b"IPBACKUP1" + SALT + PREFIX
    nonce = PREFIX + (0).to_bytes(4, "big")
    aad = header + (0).to_bytes(4, "big") + b"\1"
    assert AESGCM(KEY).decrypt(nonce, SEALED[crypto.HEADER_BYTES :], aad) == PLAIN


def test_a_wrong_passphrase_is_refused_on_the_vector():
    with pytest.raises(crypto.ArchiveError, match="wrong passphrase"):
        crypto.decrypt_stream(io.BytesIO(SEALED), io.BytesIO(), "another passphrase 2026")


def test_fresh_archives_get_random_salt_and_prefix():
    heads = set()
    for _ in range(2):
        out = io.BytesIO()
        writer = crypto.EncryptingWriter(out, PASSPHRASE)
        writer.close()
        heads.add(out.getvalue()[: crypto.HEADER_BYTES])
    assert len(heads) == 2


@pytest.mark.parametrize("module", ["backups/crypto.py", "backups/archive.py"])
def test_the_archive_modules_are_pure(module):
    """No Django, no terminal: prompts live with the commands (backups/management/)."""
    tree = ast.parse((ROOT / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"django", "getpass", "sys", "builtins"}
    assert "input" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def test_the_public_writer_takes_no_salt_or_prefix_so_no_nonce_can_be_reused():
    with pytest.raises(TypeError):
        crypto.EncryptingWriter(io.BytesIO(), PASSPHRASE, salt=SALT, prefix=PREFIX)  # type: ignore[call-arg]
