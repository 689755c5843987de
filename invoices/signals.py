"""Signals other apps listen to."""

from django.dispatch import Signal

# Sent with ``invoice`` after the transaction that issued it has committed.
invoice_issued = Signal()
