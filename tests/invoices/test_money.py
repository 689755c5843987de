"""Money: line totals, tax per rate and total agree and round half-up to the currency's minor
unit (0, 2 and 3 decimals), whatever the numbers (hypothesis)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from invoices.money import LineInput, compute_totals, format_amount, minor_units, quantize

CURRENCIES = ["JPY", "EUR", "USD", "BHD", "KWD"]

quantities = st.decimals(
    min_value=0, max_value=10_000, places=3, allow_nan=False, allow_infinity=False
)
prices = st.decimals(
    min_value=0, max_value=1_000_000, places=4, allow_nan=False, allow_infinity=False
)
rates = st.sampled_from([Decimal(r) for r in ("0", "5", "7", "7.7", "19", "20", "21", "25.5")])
lines = st.lists(
    st.builds(
        LineInput, description=st.just("x"), quantity=quantities, unit_price=prices, tax_rate=rates
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(lines=lines, currency=st.sampled_from(CURRENCIES))
def test_parts_add_up_and_every_amount_has_the_currencys_minor_unit(lines, currency):
    totals = compute_totals(lines, currency)
    places = minor_units(currency)
    step = Decimal(1).scaleb(-places)
    amounts = [*totals.line_nets, totals.subtotal, totals.tax_total, totals.total]
    amounts += [g.net for g in totals.taxes] + [g.tax for g in totals.taxes]
    for amount in amounts:
        assert amount == amount.quantize(step), amount
        assert -amount.as_tuple().exponent == places
    assert totals.subtotal == sum(totals.line_nets)
    assert totals.subtotal == sum(g.net for g in totals.taxes)
    assert totals.tax_total == sum(g.tax for g in totals.taxes)
    assert totals.total == totals.subtotal + totals.tax_total


@settings(max_examples=300, deadline=None)
@given(lines=lines, currency=st.sampled_from(CURRENCIES))
def test_each_amount_is_the_half_up_rounding_of_the_exact_value(lines, currency):
    totals = compute_totals(lines, currency)
    step = Decimal(1).scaleb(-minor_units(currency))
    for line, net in zip(lines, totals.line_nets, strict=True):
        exact = line.quantity * line.unit_price
        assert net == exact.quantize(step, rounding=ROUND_HALF_UP)
        assert abs(net - exact) <= step / 2
    for group in totals.taxes:
        exact_tax = group.net * group.rate / 100
        assert group.tax == exact_tax.quantize(step, rounding=ROUND_HALF_UP)


def test_half_up_not_bankers_rounding():
    assert quantize(Decimal("0.125"), "EUR") == Decimal("0.13")
    assert quantize(Decimal("0.135"), "EUR") == Decimal("0.14")
    assert quantize(Decimal("2.5"), "JPY") == Decimal("3")
    assert quantize(Decimal("0.0005"), "BHD") == Decimal("0.001")


def test_tax_is_rounded_once_per_rate_not_per_line():
    items = [LineInput("a", Decimal(1), Decimal("0.05"), Decimal("10"))] * 3
    totals = compute_totals(items, "EUR")
    # per line: 0.005 -> 0.01 each, 0.03 in all; per rate: 0.15 x 10% = 0.015 -> 0.02
    assert totals.tax_total == Decimal("0.02")
    assert totals.total == Decimal("0.17")


def test_formatting_matches_the_minor_unit():
    assert format_amount(Decimal("1234.5"), "EUR") == "1,234.50 EUR"
    assert format_amount(Decimal("1234"), "JPY") == "1,234 JPY"
    assert format_amount(Decimal("1.2345"), "BHD") == "1.235 BHD"
