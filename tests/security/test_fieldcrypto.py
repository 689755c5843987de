"""core/fieldcrypto.py and core/keyfile.py: fixed vectors, tampering, wrong row, rotation."""

from __future__ import annotations

import stat

import pytest

from core import fieldcrypto
from core.fieldcrypto import UnsealError, key_id, seal, unseal
from core.keyfile import keys_load_or_create, keys_write

MATERIAL = bytes(range(32))
OTHER = bytes(range(32, 64))
PURPOSE = "invoiceportal.otp_totp.key"
SECRET = b"12345678901234567890"  # RFC 6238's test secret
# Pinned: a change of format, KDF or cipher must be a deliberate, migrated change.
VECTOR = "1.c5d53c21.AAAAAAAAAAAAAAAAU5s8l1SfVwE2BfijyDHZHLRJyK1OMx6zrMVtUDW8d1L-CFDP"


def test_fixed_vector_seals_and_opens():
    sealed = seal(SECRET, material=MATERIAL, purpose=PURPOSE, context="user:7", nonce=bytes(12))
    assert sealed == VECTOR
    assert unseal(VECTOR, materials=[MATERIAL], purpose=PURPOSE, context="user:7") == SECRET
    assert key_id(MATERIAL) == "c5d53c21"


def test_a_sealed_totp_secret_fits_django_otps_column():
    assert len(seal(SECRET, material=MATERIAL, purpose=PURPOSE, context="user:123456789")) <= 80


def test_each_seal_draws_a_fresh_nonce():
    one = seal(SECRET, material=MATERIAL, purpose=PURPOSE, context="user:7")
    two = seal(SECRET, material=MATERIAL, purpose=PURPOSE, context="user:7")
    assert one != two


@pytest.mark.parametrize(
    "materials,purpose,context",
    [
        ([OTHER], PURPOSE, "user:7"),  # a key not in the file
        ([MATERIAL], "invoiceportal.other", "user:7"),  # another column's key
        ([MATERIAL], PURPOSE, "user:8"),  # copied into another user's row
    ],
)
def test_a_value_opens_only_with_its_key_purpose_and_row(materials, purpose, context):
    with pytest.raises(UnsealError):
        unseal(VECTOR, materials=materials, purpose=purpose, context=context)


@pytest.mark.parametrize(
    "value",
    [
        VECTOR[:-1] + ("A" if VECTOR[-1] != "A" else "B"),  # a flipped bit in the tag
        VECTOR.replace("AAAA", "AAAB", 1),  # another nonce
        "3132333435363738393031323334353637383930",  # the plain hex django-otp would store
        "1.c5d53c21.",
        "1.c5d53c21.!!!",
        "",
    ],
)
def test_tampered_or_plain_values_fail_closed(value):
    with pytest.raises(UnsealError):
        unseal(value, materials=[MATERIAL], purpose=PURPOSE, context="user:7")


def test_old_keys_still_open_after_a_new_one_is_added():
    old = seal(SECRET, material=OTHER, purpose=PURPOSE, context="user:7")
    assert unseal(old, materials=[MATERIAL, OTHER], purpose=PURPOSE, context="user:7") == SECRET


def test_short_key_material_is_refused():
    with pytest.raises(ValueError):
        seal(SECRET, material=b"short", purpose=PURPOSE, context="")


def test_key_file_is_created_0600_once_and_rewritten_atomically(tmp_path):
    path = tmp_path / "keys" / "otp.key"
    first = keys_load_or_create(path)
    assert keys_load_or_create(path) == first and len(first[0]) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys_write(path, [OTHER, *first])
    assert keys_load_or_create(path) == [OTHER, *first]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["otp.key"]


def test_an_empty_key_file_is_refused_not_replaced(tmp_path):
    path = tmp_path / "otp.key"
    path.write_text("# nothing\n")
    with pytest.raises(RuntimeError):
        keys_load_or_create(path)
    assert path.read_text() == "# nothing\n"


def test_the_crypto_module_imports_no_django():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(fieldcrypto))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {n for n in names if n.startswith("django")}
