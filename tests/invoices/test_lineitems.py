"""invoices.lineitems: line-item files read without the database; every bad row is refused
with a message naming the row (or invoice and line) and the field."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from invoices.lineitems import (
    LineItemError,
    batch_items_read,
    date_read,
    file_format,
    line_from_row,
    lines_read,
)
from invoices.money import LineInput

HEADER = "invoice,client_email,issued,due,currency,description,quantity,unit,unit_price,tax_rate"


def test_a_row_becomes_a_line_with_decimals_and_defaults():
    line = line_from_row(
        {"description": "  Analysis ", "quantity": "2", "unit_price": "100.10"}, "Row 1"
    )
    assert line == LineInput("Analysis", Decimal("2"), Decimal("100.10"), Decimal("0"), "")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"description": " ", "quantity": "1", "unit_price": "1"}, "Row 7: the description is"),
        ({"description": "x", "quantity": "two", "unit_price": "1"}, "Row 7: quantity 'two'"),
        ({"description": "x", "quantity": "1", "unit_price": None}, "Row 7: unit price None"),
        ({"description": "x", "quantity": "NaN", "unit_price": "1"}, "Row 7: quantity 'NaN'"),
        (
            {"description": "x", "quantity": "1", "unit_price": "1", "tax_rate": "Infinity"},
            "Row 7: tax rate 'Infinity' is not a number",
        ),
    ],
)
def test_a_bad_row_is_refused_naming_the_row_and_the_field(row, message):
    with pytest.raises(LineItemError, match=message):
        line_from_row(row, "Row 7")


def test_overlong_description_and_unit_are_cut_not_refused():
    line = line_from_row(
        {"description": "d" * 600, "quantity": 1, "unit_price": 1, "unit": "u" * 30}, "Row 1"
    )
    assert (len(line.description), len(line.unit)) == (500, 20)


def test_file_format_follows_the_suffix():
    assert file_format("batch.JSON") == "json"
    assert file_format("batch.csv") == file_format("batch") == "csv"


def test_dates_are_iso_or_empty():
    assert date_read("", "--issued") is None
    assert str(date_read("2026-11-30", "--issued")) == "2026-11-30"
    with pytest.raises(LineItemError, match=r"--issued: '30\.11\.2026' is not a date"):
        date_read("30.11.2026", "--issued")


def test_lines_from_csv_and_json_and_the_first_bad_row_named():
    csv_text = "description,quantity,unit,unit_price,tax_rate\nA,2,h,100,19\nB,1,,50,7\n"
    assert [x.description for x in lines_read(csv_text, source="l.csv", fmt="csv")] == ["A", "B"]
    data = json.dumps([{"description": "A", "quantity": "1", "unit_price": "5"}])
    assert lines_read(data, source="l.json", fmt="json")[0].unit_price == Decimal(5)
    with pytest.raises(LineItemError, match=r"^Row 2: quantity 'x'"):
        lines_read(csv_text.replace("B,1", "B,x"), source="l.csv", fmt="csv")


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("[{", "json", "l.json is not valid JSON"),
        ('{"description": "A"}', "json", "l.json must hold a list of objects."),
        ("description,unit\nx,h\n", "csv", r"l.json lacks the column\(s\): quantity, unit_price"),
    ],
)
def test_an_unreadable_lines_file_is_refused_naming_the_file(text, fmt, message):
    with pytest.raises(LineItemError, match=message):
        lines_read(text, source="l.json", fmt=fmt)


def test_csv_rows_with_one_label_make_one_batch_item_with_the_first_rows_fields():
    text = (
        f"{HEADER}\nA,ap@acme.example,2026-11-30,,EUR,Analysis,2,h,100,19\n"
        "B,ap@globex.example,,,,Audit,1,,500,0\nA,,,,,Report,1,,50,7\n"
    )
    items, errors = batch_items_read(text, source="b.csv", fmt="csv")
    assert errors == []
    a, b = items
    assert (a.label, a.email, a.issued, a.currency, a.lines_ok) == (
        "Invoice 'A' (rows 2-4)",
        "ap@acme.example",
        "2026-11-30",
        "EUR",
        True,
    )
    assert [x.description for x in a.lines] == ["Analysis", "Report"]
    assert (b.label, b.issued, len(b.lines)) == ("Invoice 'B' (rows 3-3)", "", 1)


def test_every_bad_csv_row_is_listed_not_only_the_first():
    text = (
        f"{HEADER}\nA,ap@acme.example,2026-11-30,,,Analysis,2,h,100,19\n"
        "A,ap@globex.example,,,,Report,x,,50,7\n,ap@acme.example,,,,Orphan,1,,1,0\n"
    )
    items, errors = batch_items_read(text, source="b.csv", fmt="csv")
    assert errors == [
        "Row 3: client_email differs from row 2 of 'A'.",
        "Row 3: quantity 'x' is not a number.",
        "Rows 4: the invoice label is empty.",
    ]
    assert [(i.label, i.lines_ok) for i in items] == [("Invoice 'A' (rows 2-3)", False)]


def test_json_batch_names_the_invoice_and_line():
    data = [
        {"client_email": " ap@acme.example ", "lines": [{"description": "A", "quantity": 1}]},
        {"client_email": "ap@acme.example", "lines": "none"},
        {"lines": [{"description": "B", "quantity": 1, "unit_price": 1}, {"description": ""}]},
    ]
    items, errors = batch_items_read(json.dumps(data), source="b.json", fmt="json")
    assert errors == [
        "Invoice 1, line 1: unit price None is not a number.",
        "Invoice 2: 'lines' must be a list of objects.",
        "Invoice 3, line 2: the description is empty.",
    ]
    assert [(i.label, i.email, i.lines_ok) for i in items] == [
        ("Invoice 1", "ap@acme.example", False),
        ("Invoice 3", "", False),
    ]


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("[{", "json", "b.json is not valid JSON"),
        ("[1, 2]", "json", "b.json must hold a list of objects, one per invoice."),
        ("description,quantity,unit_price\nx,1,1\n", "csv", "column\\(s\\): client_email, invoice"),
    ],
)
def test_a_batch_file_that_cannot_be_read_as_a_whole_is_refused(text, fmt, message):
    with pytest.raises(LineItemError, match=message):
        batch_items_read(text, source="b.json", fmt=fmt)
