"""TOTP secrets sealed at rest (clients/totp_sealing.py): what a copy of the database holds,
and that django-otp's own guards still work on the sealed device."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import importlib
import stat

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.fieldcrypto import UnsealError, is_sealed, key_id
from core.keyfile import keys_load_or_create
from tests.clients.test_twofactor import code_for, enrol, password_login
from tests.factories import make_client, make_contact

pytestmark = pytest.mark.django_db

START = timezone.now().replace(microsecond=0)


@pytest.fixture
def contact():
    return make_contact(make_client("Acme GmbH"), email="ap@acme.example")


@pytest.fixture
def key_file(settings, tmp_path):
    settings.OTP_KEY_FILE = tmp_path / "otp.key"
    return settings.OTP_KEY_FILE


def raw_keys() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM otp_totp_totpdevice")
        return [row[0] for row in cursor.fetchall()]


def code_now(secret: bytes) -> str:
    return f"{TOTP(secret).token():06d}"


def test_a_database_copy_never_holds_the_enrolled_secret(contact, key_file):
    with time_machine.travel(START, tick=False):
        secret, _codes = enrol(password_login(contact.email))
    binary = base64.b32decode(secret + "=" * (-len(secret) % 8))
    [stored] = raw_keys()
    assert is_sealed(stored)
    for form in (secret, binary.hex(), binascii.hexlify(binary).decode().upper()):
        assert form not in stored
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_login_with_a_code_still_works_and_replay_and_throttling_hold(contact, key_file):
    with time_machine.travel(START, tick=False):
        secret, _codes = enrol(password_login(contact.email))
    with time_machine.travel(START + dt.timedelta(seconds=90), tick=False):
        device = TOTPDevice.objects.get(user=contact)
        assert device.verify_token(code_for(secret))
        assert not device.verify_token(code_for(secret))  # replay: last_t
        device.refresh_from_db()
        assert device.throttling_failure_count == 1
    with time_machine.travel(START + dt.timedelta(seconds=90.5), tick=False):
        # the next step's code, but inside the back-off after the failure: refused
        assert not device.verify_token(code_for(secret, at=START.timestamp() + 120))
    with time_machine.travel(START + dt.timedelta(seconds=120), tick=False):
        assert device.verify_token(code_for(secret))
        device.refresh_from_db()
        assert device.throttling_failure_count == 0


def test_a_sealed_secret_copied_into_another_users_row_does_not_open(contact, key_file):
    other = make_contact(email="ap@other.example")
    mine = TOTPDevice.objects.create(user=contact, name="phone", confirmed=True)
    theirs = TOTPDevice.objects.create(user=other, name="phone", confirmed=True)
    TOTPDevice.objects.filter(pk=theirs.pk).update(key=mine.key)
    theirs.refresh_from_db()
    with pytest.raises(UnsealError):
        theirs.verify_token(code_now(mine.bin_key))


def test_a_secret_written_in_clear_past_the_seal_fails_closed(contact, key_file):
    device = TOTPDevice.objects.create(user=contact, name="phone", confirmed=True)
    known = bytes(20)
    TOTPDevice.objects.filter(pk=device.pk).update(key=known.hex())  # update() skips pre_save
    device.refresh_from_db()
    with pytest.raises(UnsealError):
        device.verify_token(code_now(known))


def test_a_replaced_key_file_makes_secrets_unreadable_not_guessable(contact, key_file):
    import secrets

    from core.keyfile import KEY_BYTES, keys_write

    device = TOTPDevice.objects.create(user=contact, name="phone", confirmed=True)
    keys_write(key_file, [secrets.token_bytes(KEY_BYTES)])  # not the key that sealed it
    device.refresh_from_db()
    with pytest.raises(UnsealError):
        device.bin_key  # noqa: B018


def test_rotation_reseals_every_secret_and_drops_the_old_key(contact, key_file, capsys):
    device = TOTPDevice.objects.create(user=contact, name="phone", confirmed=True)
    secret, before = device.bin_key, raw_keys()
    [old] = keys_load_or_create(key_file)
    call_command("rotate_otp_key")
    [new] = keys_load_or_create(key_file)
    assert new != old and "Re-sealed 1 TOTP secret" in capsys.readouterr().out
    [after] = raw_keys()
    assert after != before[0] and after.split(".")[1] == key_id(new)
    device.refresh_from_db()
    assert device.bin_key == secret and device.verify_token(code_now(secret))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_rotation_can_keep_the_old_key_readable(contact, key_file):
    TOTPDevice.objects.create(user=contact, name="phone", confirmed=True)
    [old] = keys_load_or_create(key_file)
    call_command("rotate_otp_key", "--keep-old")
    keys = keys_load_or_create(key_file)
    assert len(keys) == 2 and keys[1] == old


def test_rotate_help_says_what_it_does():
    from clients.management.commands.rotate_otp_key import Command

    parser = Command().create_parser("manage.py", "rotate_otp_key")
    text = parser.format_help()
    assert "re-seal every TOTP secret" in text and "--keep-old" in text


def test_the_migration_seals_clear_secrets_and_its_reverse_opens_them(contact, key_file):
    migration = importlib.import_module("clients.migrations.0002_encrypted_totp")
    device = TOTPDevice.objects.create(user=contact, name="phone", confirmed=True)
    secret = device.bin_key
    TOTPDevice.objects.filter(pk=device.pk).update(key=secret.hex())  # as django-otp left it
    migration.seal_existing(apps, None)
    [sealed] = raw_keys()
    assert is_sealed(sealed) and secret.hex() not in sealed
    device.refresh_from_db()
    assert device.verify_token(code_now(secret))
    migration.open_existing(apps, None)
    assert raw_keys() == [secret.hex()]


def test_a_secret_that_does_not_open_leaves_the_backup_codes_working(contact, key_file, caplog):
    with time_machine.travel(START, tick=False):
        _secret, codes = enrol(password_login(contact.email))
    key_file.unlink()  # e.g. moved to a new server without its key file
    with time_machine.travel(START + dt.timedelta(seconds=30), tick=False):
        web = password_login(contact.email)
        assert web.post("/accounts/2fa/", {"otp_token": "123456"}).status_code == 200
        assert "cannot be opened with the OTP key file" in caplog.text
    with time_machine.travel(START + dt.timedelta(seconds=60), tick=False):
        assert web.post("/accounts/2fa/", {"otp_token": codes[0]}).status_code == 302


def test_a_key_file_readable_by_others_is_refused_naming_chmod(contact, key_file):
    keys_load_or_create(key_file)
    key_file.chmod(0o640)
    with pytest.raises(RuntimeError, match=rf"{key_file}.*chmod 600 {key_file}"):
        keys_load_or_create(key_file)
    key_file.chmod(0o600)
    assert keys_load_or_create(key_file)


def test_two_processes_creating_the_key_file_at_once_get_one_key(key_file, monkeypatch):
    """The loser of the race reads the winner's complete file, never an empty one."""
    from core import keyfile

    real_write = keyfile._write_temporary
    other: list[list[bytes]] = []

    def racing(path, keys):
        tmp = real_write(path, keys)
        if not other:  # the other process wins between our write and our link
            monkeypatch.setattr(keyfile, "_write_temporary", real_write)
            other.append(keyfile.keys_load_or_create(path))
        return tmp

    monkeypatch.setattr(keyfile, "_write_temporary", racing)
    mine = keyfile.keys_load_or_create(key_file)
    assert mine == other[0] == keyfile.keys_load_or_create(key_file)
    assert [p.name for p in key_file.parent.iterdir()] == [key_file.name]  # no temporary left


def test_a_lost_key_file_is_not_replaced_while_sealed_secrets_exist(contact, key_file):
    """A fresh key would silently make every enrolled secret unreadable: restore instead."""
    TOTPDevice.objects.create(user=contact, name="phone", confirmed=True)
    key_file.unlink()
    device = TOTPDevice.objects.get(user=contact)
    with pytest.raises(RuntimeError, match=r"missing.*backup"):
        device.bin_key  # noqa: B018
    assert not key_file.exists()
