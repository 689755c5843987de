# clients.change_access_policy: who must use a second factor and who may log in at all
# (clients and contacts) is the owner's decision; the owner group gets the new permission.

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_to_roles(apps, schema_editor):
    from clients.roles import roles_apply

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_apply(
        group_model=apps.get_model("auth", "Group"),
        permission_model=apps.get_model("auth", "Permission"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0005_staff_roles"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="client",
            options={
                "ordering": ["name"],
                "permissions": [
                    (
                        "change_access_policy",
                        "Can change 2FA requirements and (de)activate access",
                    )
                ],
            },
        ),
        migrations.RunPython(grant_to_roles, migrations.RunPython.noop),
    ]
