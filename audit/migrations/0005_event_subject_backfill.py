"""Best effort: attach existing anonymous rows (failed logins, lockouts, reset requests, a
device removed) to the account they were about, by id.

Until now such rows were matched by address text when the security log was shown. An
address can change hands, so a row is attached only to the account that held the address
at the time: on or after the account was created and after its own latest change to that
address (an EMAIL_CHANGED row "from ... to <address>"). A row older than that belonged to
whoever held the address before and stays unattached (it is still in the trail for staff).
"""

from django.db import migrations

KINDS = [
    "login_failed",
    "locked_out",
    "password_reset_requested",
    "otp_device_removed",
]


def attach(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    User = apps.get_model("clients", "User")
    for user in User.objects.all().only("pk", "email", "date_joined").iterator():
        since = user.date_joined
        changed_to = (
            AuditEvent.objects.filter(
                kind="email_changed", actor_id=user.pk, detail__endswith=f" to {user.email}"
            )
            .order_by("-occurred_at")
            .values_list("occurred_at", flat=True)
            .first()
        )
        if changed_to is not None and changed_to > since:
            since = changed_to
        AuditEvent.objects.filter(
            kind__in=KINDS,
            actor__isnull=True,
            subject__isnull=True,
            actor_email=user.email,
            occurred_at__gte=since,
        ).update(subject_id=user.pk)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_event_subject"),
    ]

    operations = [
        migrations.RunPython(attach, migrations.RunPython.noop),
    ]
