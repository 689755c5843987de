"""``createsuperuser`` without Django's way around the password validators.

The consultant's own account is the most valuable one, yet Django's command asks "Bypass
password validation and create user anyway?" after a weak password, and with ``--noinput``
takes ``DJANGO_SUPERUSER_PASSWORD`` without validating it at all. This override (found before
django.contrib.auth's because ``clients`` comes first in INSTALLED_APPS) refuses a password
that fails AUTH_PASSWORD_VALIDATORS in both modes: interactively it says why and asks again,
with ``--noinput`` it stops with an error and creates nothing.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.contrib.auth.management.commands import createsuperuser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

__all__ = ["Command"]


class Command(createsuperuser.Command):
    help = (
        "Create a superuser (the consultant's account). The password must pass every "
        "password validator; there is no way around them."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        field = self.UserModel.USERNAME_FIELD
        if not options["interactive"]:
            password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
            if password is not None:
                username = options[field] or os.environ.get(f"DJANGO_SUPERUSER_{field.upper()}")
                self._refuse_weak(password, username or "")
            return super().handle(*args, **options)
        if self.UserModel.REQUIRED_FIELDS or (
            hasattr(self.stdin, "isatty") and not self.stdin.isatty()
        ):
            # Django's own flow: it asks for no password without a terminal, and other
            # required fields are not this project's (the check below would need them).
            return super().handle(*args, **options)
        try:
            username = self._ask_username(options[field], options["database"])
            password = self._ask_password(username)
            self.UserModel._default_manager.db_manager(options["database"]).create_superuser(
                **{field: username, "password": password}
            )
        except KeyboardInterrupt:
            self.stderr.write("\nOperation cancelled.")
            sys.exit(1)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if options["verbosity"] >= 1:
            self.stdout.write("Superuser created successfully.")

    def _refuse_weak(self, password: str, username: str) -> None:
        """CommandError naming every validator that refuses ``password``."""
        user = self.UserModel(**{self.UserModel.USERNAME_FIELD: username})
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(
                "DJANGO_SUPERUSER_PASSWORD refused: " + " ".join(exc.messages)
            ) from exc

    def _ask_username(self, username: str | None, database: str) -> str:
        name = self.username_field.verbose_name
        while True:
            if not username:
                username = self.get_input_data(
                    self.username_field, self._get_input_message(self.username_field)
                )
            error = self._validate_username(username, name, database) if username else None
            if username and not error:
                return username
            if error:
                self.stderr.write(error)
            username = None

    def _ask_password(self, username: str) -> str:
        """Asks until two entries match and pass every validator; never offers a bypass."""
        user = self.UserModel(**{self.UserModel.USERNAME_FIELD: username})
        while True:
            password = getpass.getpass()
            if password != getpass.getpass("Password (again): "):
                self.stderr.write("Error: Your passwords didn't match.")
                continue
            try:
                validate_password(password, user)
            except ValidationError as exc:
                self.stderr.write("\n".join(exc.messages))
                self.stderr.write("Choose another password (the validators cannot be bypassed).")
                continue
            return password
