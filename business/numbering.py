"""Numbering rules: what an invoice number may look like, and which number patterns the
business profile may hold. Pure: no ORM, no request, no I/O.

The patterns are filled in with ``str.format`` when an invoice is issued
(``invoices.services.generation``). A pattern that cannot be filled in, or that makes the
same number twice, would only fail at issue time, in the middle of a month-end run; these
checks refuse it when it is saved instead, whatever saves it.
"""

from __future__ import annotations

import string

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

__all__ = [
    "NUMBER_VALIDATOR",
    "validate_number_pattern",
    "validate_reference_pattern",
]

# \Z, not $: "$" also matches before a trailing newline ("INV-1\n" would pass).
NUMBER_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}\Z",
    "Use 1 to 64 letters, digits, '.', '_', '/' or '-', starting with a letter or digit.",
)

# Numbers know only {year} and {seq}; the payment reference also {number}.
_NUMBER_SAMPLE = {"year": 2026, "seq": 7}
_REFERENCE_SAMPLE = {**_NUMBER_SAMPLE, "number": "INV-2026-0007"}


def _fill(value: str, sample: dict[str, object]) -> tuple[str, str]:
    """``value`` filled in for sequence number 1 and for the sample's; refuses a pattern
    that names an unknown placeholder or is not a valid format string."""
    try:
        # Only plain placeholders: "{year.__class__}" or "{seq[0]}" would reach into the
        # objects (and raised a 500 before), "{}" has no name.
        for _, field, _, _ in string.Formatter().parse(value):
            if field is not None and field not in sample:
                raise KeyError(field)
        return value.format(**{**sample, "seq": 1}), value.format(**sample)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
        raise ValidationError(f"This pattern cannot be filled in ({exc}).") from None


def validate_number_pattern(value: str) -> None:
    """An invoice or credit-note number pattern. Refuses one that cannot be filled in with
    {year} and {seq}, one without {seq} (every number would be the same), and one whose
    numbers ``NUMBER_VALIDATOR`` refuses."""
    first, second = _fill(value, _NUMBER_SAMPLE)
    if first == second:
        raise ValidationError("The pattern needs {seq} so that numbers differ.")
    try:
        NUMBER_VALIDATOR(second)
    except ValidationError as exc:
        raise ValidationError(f"It makes {second!r}: {' '.join(exc.messages)}") from None


def validate_reference_pattern(value: str) -> None:
    """A payment reference pattern. Refuses one that cannot be filled in with {number},
    {year} and {seq}; a reference may be the same for every invoice."""
    _fill(value, _REFERENCE_SAMPLE)
