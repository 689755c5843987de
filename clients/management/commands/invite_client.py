from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.urls import reverse

from clients.services import ClientError, client_create_with_contact, invitation_create
from clients.signals import invitation_email_requested


class Command(BaseCommand):
    help = (
        "Create a client (an organisation) and its first contact, and print a single-use "
        "invitation URL through which the contact chooses a password. The URL is shown once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help='The client\'s name, e.g. "Acme GmbH".')
        parser.add_argument(
            "--email", required=True, help="The first contact's email (their login)."
        )
        parser.add_argument(
            "--send",
            action="store_true",
            help="Email the invitation to the contact instead of printing its URL.",
        )
        parser.add_argument(
            "--expires-days",
            type=int,
            default=settings.INVITATION_TTL_DAYS,
            help="Days until the invitation expires (default: %(default)s).",
        )

    def handle(self, *args: object, **options: object) -> None:
        days = options["expires_days"]
        if not 1 <= days <= 60:
            raise CommandError("--expires-days must be between 1 and 60.")
        try:
            with transaction.atomic():
                client, contact = client_create_with_contact(
                    name=options["name"], email=options["email"]
                )
                if not options["send"]:
                    invitation, token = invitation_create(user=contact, ttl=timedelta(days=days))
        except ClientError as exc:
            raise CommandError(str(exc)) from None
        if options["send"]:
            # The invitation is made when the email goes out, so its token is never stored.
            invitation_email_requested.send(sender=type(contact), user=contact)
            self.stdout.write(f"Created client {client.name!r} with contact {contact.email}.")
            self.stdout.write(f"The invitation email to {contact.email} is queued and sent.")
            return
        url = settings.BASE_URL + reverse("invitation", args=[token])
        self.stdout.write(f"Created client {client.name!r} with contact {contact.email}.")
        self.stdout.write(
            f"Invitation (single use, valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):"
        )
        self.stdout.write(url)
