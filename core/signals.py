"""Signals shared across apps."""

from django.dispatch import Signal

__all__ = ["security_change"]

# Sent with ``user``, ``what`` (one sentence) and ``email`` (where to write: the old address
# after an email change) after a change the account holder must hear about. notifications
# turns it into an email that names the change and nothing secret.
security_change = Signal()

# Sent (no arguments) when queued email should go out now. A view that must answer in the
# same time whatever it queued sends it after its answer is written (see
# clients.account_views.RedirectThenSendMail); notifications sends what is due, from a
# background thread (MAIL_FLUSH_IN_BACKGROUND) so that the sender never waits for SMTP.
mail_queue_flush = Signal()
