"""Signals shared across apps."""

from django.dispatch import Signal

__all__ = ["security_change"]

# Sent with ``user``, ``what`` (one sentence) and ``email`` (where to write: the old address
# after an email change) after a change the account holder must hear about. notifications
# turns it into an email that names the change and nothing secret.
security_change = Signal()
