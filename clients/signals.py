"""Signals other apps listen to (clients never imports them)."""

from django.dispatch import Signal

# Sent with ``user`` after a password reset: whatever the user could reach through bearer
# links must stop working (invoices revokes the user's download links).
credentials_reset = Signal()

# Sent with ``user`` when a contact's invitation should go out by email (notifications
# makes the invitation at the moment of sending, so its token is never stored).
invitation_email_requested = Signal()

# Sent with ``email`` (the address typed) and ``refused`` (why no email
# goes out, "" when one should) for every password-reset request: notifications queues the
# message, or a dropped row, so that every request does the same work.
password_reset_email_requested = Signal()

# Sent with ``user`` and ``email`` (the requested new address): notifications sends that
# address a confirmation link (made at sending time, so its token is never stored).
email_change_email_requested = Signal()
