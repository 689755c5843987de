"""Money arithmetic for invoices: Decimal only, rounded per the currency's minor unit.

Pure Python, no Django: the admin, the portal, the PDF and the command line all call
``compute_totals`` so that their numbers always agree.

Rounding rule (documented in docs/invoices.md):
1. each line's net amount = quantity x unit price, rounded half-up to the currency's minor
   unit;
2. lines are grouped by tax rate; each group's tax = group net x rate / 100, rounded
   half-up once per rate (not per line);
3. subtotal = sum of line nets; tax total = sum of the per-rate taxes; total = subtotal +
   tax total. No further rounding happens, so the parts always add up to the total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "LineInput",
    "TaxGroup",
    "Totals",
    "compute_totals",
    "format_amount",
    "minor_units",
    "quantize",
]

# ISO 4217 currencies whose minor unit is not 2 (the rest use 2).
_MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal  # percent, e.g. Decimal("19")
    unit: str = ""


@dataclass(frozen=True)
class TaxGroup:
    rate: Decimal
    net: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    line_nets: tuple[Decimal, ...]
    subtotal: Decimal
    taxes: tuple[TaxGroup, ...]
    tax_total: Decimal
    total: Decimal


def compute_totals(lines: Iterable[LineInput], currency: str) -> Totals:
    """Line nets, tax per rate, subtotal, tax total and total, as described above."""
    nets: list[Decimal] = []
    groups: dict[Decimal, Decimal] = {}
    for line in lines:
        net = quantize(line.quantity * line.unit_price, currency)
        nets.append(net)
        rate = line.tax_rate.normalize() if line.tax_rate else Decimal(0)
        groups[rate] = groups.get(rate, Decimal(0)) + net
    taxes = tuple(
        TaxGroup(rate=rate, net=net, tax=quantize(net * rate / 100, currency))
        for rate, net in sorted(groups.items())
    )
    zero = quantize(Decimal(0), currency)
    subtotal = sum(nets, zero)
    tax_total = sum((group.tax for group in taxes), zero)
    return Totals(
        line_nets=tuple(nets),
        subtotal=subtotal,
        taxes=taxes,
        tax_total=tax_total,
        total=subtotal + tax_total,
    )


def format_amount(amount: Decimal, currency: str) -> str:
    """``1234.5`` in EUR -> ``"1,234.50 EUR"``: fixed minor digits, thousands separators."""
    return f"{quantize(amount, currency):,.{minor_units(currency)}f} {currency}"
