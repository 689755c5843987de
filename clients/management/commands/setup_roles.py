"""Create or repair the staff role groups (owner, assistant, bookkeeper)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from clients.roles import roles_setup


class Command(BaseCommand):
    help = (
        "Create the staff role groups owner, assistant and bookkeeper, and set each one's "
        "permissions to its definition (clients/roles.py; docs/operations.md, 'Staff roles'). "
        "Idempotent: run it again after an upgrade (new permissions) or to undo changes made "
        "to the groups by hand. Audited."
    )

    def handle(self, *args: object, **options: object) -> None:
        for role, count in roles_setup().items():
            self.stdout.write(f"{role}: {count} permissions")
