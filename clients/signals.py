"""Signals other apps listen to (clients never imports them)."""

from django.dispatch import Signal

# Sent with ``user`` after a password reset: whatever the user could reach through bearer
# links must stop working (invoices revokes the user's download links).
credentials_reset = Signal()

# Sent with ``user`` when a contact's invitation should go out by email (notifications
# makes the invitation at the moment of sending, so its token is never stored).
invitation_email_requested = Signal()

# Sent with ``user`` (or None), ``email`` (where to write) and ``refused`` (why no email goes
# out, "" when one should) when a password-reset email should go out: notifications sends
# it with a link made at sending time.
password_reset_email_requested = Signal()
