"""Seal every TOTP secret already in the database (clients/totp_sealing.py); reverse opens
them again. Reads and writes ``key`` with ``update()`` so no receiver runs twice."""

import binascii

from django.db import migrations


def seal_existing(apps, schema_editor):
    from clients.totp_sealing import totp_key_seal
    from core.fieldcrypto import is_sealed

    device = apps.get_model("otp_totp", "TOTPDevice")
    for pk, user_id, key in device.objects.values_list("pk", "user_id", "key"):
        if not is_sealed(key):
            device.objects.filter(pk=pk).update(key=totp_key_seal(key, user_id=user_id))


def open_existing(apps, schema_editor):
    from clients.totp_sealing import totp_key_unseal
    from core.fieldcrypto import is_sealed

    device = apps.get_model("otp_totp", "TOTPDevice")
    for pk, user_id, key in device.objects.values_list("pk", "user_id", "key"):
        if is_sealed(key):
            plain = binascii.hexlify(totp_key_unseal(key, user_id=user_id)).decode()
            device.objects.filter(pk=pk).update(key=plain)


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0001_initial"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(seal_existing, open_existing)]
