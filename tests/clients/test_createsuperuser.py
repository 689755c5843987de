"""createsuperuser refuses weak passwords with no way around the validators."""

from __future__ import annotations

from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clients.models import User

pytestmark = pytest.mark.django_db

STRONG = "a long and unusual passphrase 7"
EMAIL = "owner@consultant.example"


class _TTY(StringIO):
    def isatty(self) -> bool:
        return True


def _no_bypass_question(prompt: str = "") -> str:
    raise AssertionError(f"createsuperuser asked: {prompt!r}")


def test_interactive_weak_password_is_refused_and_asked_again_without_bypass_question():
    entries = iter(["password123", "password123", "short", "short", STRONG, STRONG])
    stderr = StringIO()
    with (
        mock.patch("getpass.getpass", lambda prompt="Password: ": next(entries)),
        mock.patch("builtins.input", _no_bypass_question),
    ):
        call_command("createsuperuser", email=EMAIL, interactive=True, stdin=_TTY(), stderr=stderr)

    user = User.objects.get(email=EMAIL)
    assert user.is_superuser and user.is_staff
    assert user.check_password(STRONG)
    assert "This password is too common." in stderr.getvalue()
    assert "This password is too short." in stderr.getvalue()
    assert "Bypass" not in stderr.getvalue()


def test_interactive_asks_for_the_email_and_refuses_the_bypass_answer_y():
    """Typing "y" where Django asked "Bypass password validation?" creates nothing weak."""
    answers = iter([EMAIL])
    entries = iter(["password123", "password123", STRONG, STRONG])
    with (
        mock.patch("getpass.getpass", lambda prompt="Password: ": next(entries)),
        mock.patch("builtins.input", lambda prompt="": next(answers, "y")),
    ):
        call_command("createsuperuser", interactive=True, stdin=_TTY(), stderr=StringIO())

    assert User.objects.get(email=EMAIL).check_password(STRONG)


@pytest.mark.parametrize("weak", ["short", "password123", "12345678901234", "owner@consultant"])
def test_noinput_weak_django_superuser_password_is_refused_and_nothing_created(monkeypatch, weak):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", weak)
    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_PASSWORD refused"):
        call_command("createsuperuser", email=EMAIL, interactive=False, stdout=StringIO())
    assert not User.objects.filter(email=EMAIL).exists()


def test_noinput_strong_django_superuser_password_creates_the_superuser(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", STRONG)
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", EMAIL)
    call_command("createsuperuser", interactive=False, stdout=StringIO())
    user = User.objects.get(email=EMAIL)
    assert user.is_superuser and user.check_password(STRONG)


def test_noinput_without_password_keeps_djangos_unusable_password(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("createsuperuser", email=EMAIL, interactive=False, stdout=StringIO())
    assert not User.objects.get(email=EMAIL).has_usable_password()
