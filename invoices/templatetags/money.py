"""``{{ amount|money:currency }}``: the same formatting as the PDF (invoices/money.py)."""

from decimal import Decimal

from django import template

from invoices.money import format_amount

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return ""
    return format_amount(Decimal(amount), currency)
