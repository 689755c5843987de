"""Reading line items from the CSV or JSON files that `create_invoice` and `issue_invoices`
take: text in, checked ``LineInput`` rows (or batch items) out.

Pure: no ORM, no files, no request. Everything a consultant can get wrong in such a file is
refused with a message that names the row or line and the field, so that a month-end run
with hundreds of invoices can be fixed in one pass. Whether a client, a currency or a tax
rate is acceptable is not decided here but by ``invoices.services`` (``draft_check``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any, Literal

from invoices.money import LineInput

__all__ = [
    "BatchItem",
    "Format",
    "LineItemError",
    "batch_items_read",
    "date_read",
    "file_format",
    "line_from_row",
    "lines_read",
]

Format = Literal["csv", "json"]
LINE_COLUMNS = frozenset({"description", "quantity", "unit_price"})
BATCH_COLUMNS = LINE_COLUMNS | {"invoice", "client_email"}
# In a batch CSV these belong to the invoice, not the line: given on its first row, they
# must be empty or the same on the others.
INVOICE_FIELDS = ("client_email", "issued", "due", "currency")
BATCH_JSON_REFUSAL = "must hold a list of objects, one per invoice."


class LineItemError(ValueError):
    """A file or a row that cannot be read; the message names it and is safe to show."""


@dataclass(frozen=True)
class BatchItem:
    """One invoice of a batch file, as read: its fields still text, its lines checked."""

    label: str  # how errors name it: "Invoice 3" or "Invoice 'A-17' (rows 4-6)"
    email: str
    issued: str
    due: str
    currency: str
    lines: list[LineInput]
    lines_ok: bool  # False when a line could not be read (its error is listed already)


def file_format(path: str | PurePath) -> Format:
    """JSON for a ``.json`` file name (any case), CSV for anything else."""
    return "json" if PurePath(path).suffix.lower() == ".json" else "csv"


def _decimal(value: object, what: str, where: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise LineItemError(f"{where}: {what} {value!r} is not a number.") from None
    if not number.is_finite():  # "NaN" and "Infinity" parse, but are no amounts
        raise LineItemError(f"{where}: {what} {value!r} is not a number.")
    return number


def line_from_row(row: dict[str, Any], where: str) -> LineInput:
    """One line item from a CSV row or JSON object; refuses an empty description or a
    quantity, unit price or tax rate that is not a finite number, naming ``where`` (e.g.
    "Row 3") and the field. Ranges (negative prices, tax over 100 %) are the services'."""
    description = str(row.get("description") or "").strip()
    if not description:
        raise LineItemError(f"{where}: the description is empty.")
    return LineInput(
        description=description[:500],
        quantity=_decimal(row.get("quantity"), "quantity", where),
        unit_price=_decimal(row.get("unit_price"), "unit price", where),
        tax_rate=_decimal(row.get("tax_rate") or 0, "tax rate", where),
        unit=str(row.get("unit") or "")[:20],
    )


def date_read(raw: str, where: str) -> dt.date | None:
    """A YYYY-MM-DD date, or None for an empty value; refuses anything else naming ``where``."""
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise LineItemError(f"{where}: {raw!r} is not a date; use YYYY-MM-DD.") from None


def _json_objects(text: str, source: str, refusal: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineItemError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise LineItemError(f"{source} {refusal}")
    return data


def _csv_rows(text: str, source: str, need: frozenset[str]) -> csv.DictReader:
    reader = csv.DictReader(text.splitlines())
    missing = need - set(reader.fieldnames or [])
    if missing:
        raise LineItemError(f"{source} lacks the column(s): {', '.join(sorted(missing))}.")
    return reader


def lines_read(text: str, *, source: str, fmt: Format) -> list[LineInput]:
    """The line items of one invoice: a CSV with the header
    description,quantity,unit,unit_price,tax_rate or a JSON list of objects with those keys.
    Refuses invalid JSON, a missing column and the first bad row (by its number); ``source``
    (the file name) names the file in the message."""
    if fmt == "json":
        rows = _json_objects(text, source, "must hold a list of objects.")
    else:
        rows = list(_csv_rows(text, source, LINE_COLUMNS))
    return [line_from_row(row, f"Row {n}") for n, row in enumerate(rows, start=1)]


def batch_items_read(text: str, *, source: str, fmt: Format) -> tuple[list[BatchItem], list[str]]:
    """The invoices of a month-end file (format: `manage.py issue_invoices --help`) and every
    error found in its rows, each naming its invoice and row or line. Refuses outright
    (``LineItemError``) only a file that cannot be read as a whole: invalid JSON, not a list
    of objects, a missing CSV column."""
    if fmt == "json":
        return _batch_from_json(_json_objects(text, source, BATCH_JSON_REFUSAL))
    return _batch_from_csv(_csv_rows(text, source, BATCH_COLUMNS))


def _batch_from_json(data: list[dict[str, Any]]) -> tuple[list[BatchItem], list[str]]:
    items: list[BatchItem] = []
    errors: list[str] = []
    for n, entry in enumerate(data, start=1):
        label = f"Invoice {n}"
        rows = entry.get("lines")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            errors.append(f"{label}: 'lines' must be a list of objects.")
            continue
        lines, before = [], len(errors)
        for i, row in enumerate(rows, start=1):
            try:
                lines.append(line_from_row(row, f"{label}, line {i}"))
            except LineItemError as exc:
                errors.append(str(exc))
        items.append(_item(label, entry, lines, lines_ok=len(errors) == before))
    return items, errors


def _batch_from_csv(reader: csv.DictReader) -> tuple[list[BatchItem], list[str]]:
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for n, row in enumerate(reader, start=2):  # row 1 is the header
        groups[(row.get("invoice") or "").strip()].append((n, row))
    items: list[BatchItem] = []
    errors: list[str] = []
    for key, rows in groups.items():
        first_row, first = rows[0]
        label = f"Invoice {key!r} (rows {first_row}-{rows[-1][0]})"
        if not key:
            errors.append(f"Rows {', '.join(str(n) for n, _ in rows)}: the invoice label is empty.")
            continue
        lines, before = [], len(errors)
        for n, row in rows:
            for field in INVOICE_FIELDS:
                if (row.get(field) or "").strip() not in ("", (first.get(field) or "").strip()):
                    errors.append(f"Row {n}: {field} differs from row {first_row} of {key!r}.")
            try:
                lines.append(line_from_row(row, f"Row {n}"))
            except LineItemError as exc:
                errors.append(str(exc))
        items.append(_item(label, first, lines, lines_ok=len(errors) == before))
    return items, errors


def _item(
    label: str, entry: dict[str, Any], lines: list[LineInput], *, lines_ok: bool
) -> BatchItem:
    return BatchItem(
        label=label,
        email=str(entry.get("client_email") or "").strip(),
        issued=str(entry.get("issued") or "").strip(),
        due=str(entry.get("due") or "").strip(),
        currency=str(entry.get("currency") or "").strip(),
        lines=lines,
        lines_ok=lines_ok,
    )
