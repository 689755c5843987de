"""Signals other apps listen to."""

from django.dispatch import Signal

# Sent with ``invoice`` after the transaction that issued it has committed, and ``send_now``:
# False when the issuer (a batch) sends the queued messages itself once it is done.
invoice_issued = Signal()
