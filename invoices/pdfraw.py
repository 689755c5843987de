"""What the raw bytes of a PDF hold that qpdf's reading of it does not show.

qpdf reads the objects its cross-reference data points to and repairs what it cannot
parse; other readers repair differently. Two gaps are closed here, by reading the bytes:

- an object qpdf read as ``null`` because it could not parse it (nested too deep, an
  integer beyond 64 bits, an unterminated string, too many stray tokens), while poppler
  and pdf.js keep what comes before the damage (a ``/JavaScript`` entry, say);
- object bodies in the bytes that the cross-reference data does not point to (a version
  superseded by an incremental update, an orphan): a reader that rebuilds a damaged
  file's index can pick those up, so they are parsed here and checked by the same rules.

The scan meets hostile input, so its work is bounded per file: at most two parse attempts
per body, a total of bytes parsed, and a number of bodies; beyond those the file is refused
as uncheckable.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import BinaryIO

import pikepdf

__all__ = [
    "MAX_PARSED_BYTES",
    "MAX_STRAY_BODIES",
    "Uncheckable",
    "refuse_damaged_objects",
    "stray_bodies",
]


class Uncheckable(Exception):
    """The file cannot be checked as a whole; the message is one sentence for the consultant."""


_AGAIN = "export it again (for example by printing it to a new PDF)."
DAMAGED = f"The PDF is damaged in a way that readers interpret differently; {_AGAIN}"
# What qpdf says when it gives up on (part of) an object and reads null in its place.
# Other warnings ("Resources is missing or invalid; repairing", on a clean file) are fine.
_PARSE_WARNINGS = re.compile(
    r"treating object as null|error during parsing|excessively deeply nested|unexpected EOF"
    r"|EOF while reading token|parse error while reading object|too many errors"
    r"|treating unexpected \w+ token as null"
)
_NULL_BODY = re.compile(rb"\s*\d+\s+\d+\s+obj\s*null(?![^\0\t\n\f\r /<>\[\]()%{}])")
# Bodies "N G obj" in the raw bytes: found from each "obj" keyword backwards (a regular
# expression tried at every byte of 20 MiB took 1.6 s; bytes.find and rstrip take ms).
_WHITESPACE = b"\0\t\n\f\r "
_DIGITS = b"0123456789"
_LOOK_BACK = 256
_CHUNK = 1 << 20
# Superseded versions left by incremental updates are normal; a file made of them is not.
MAX_STRAY_BODIES = 10_000
# Each stray body is parsed at most twice; all parses of a file together read at most this.
MAX_PARSED_BYTES = 8 << 20
_REFERENCE = re.compile(
    rb"(?<![0-9.+-])[0-9]{1,10}[\0\t\n\f\r ]+[0-9]{1,5}[\0\t\n\f\r ]+R(?![A-Za-z0-9])"
)
_DICT_THEN_STREAM = re.compile(rb">>[\0\t\n\f\r ]*stream(?:\r\n|\n|\r)")
_ENDOBJ = b"endobj"
_BODY_WINDOW = 64 * 1024


def refuse_damaged_objects(pdf: pikepdf.Pdf, table: dict, handle: BinaryIO) -> None:
    """Raise ``Uncheckable`` if qpdf warned that it could not parse an object, or if an
    object of the cross-reference table reads as null while its body in the bytes is not
    literally ``null``. Call after every object was read (the warnings come on reading)."""
    if any(_PARSE_WARNINGS.search(str(w)) for w in pdf.get_warnings()):
        raise Uncheckable(DAMAGED)
    here = handle.tell()
    try:
        for key, entry in table.items():
            if entry.type != 1 or pdf.get_object(key) is not None:
                continue
            handle.seek(entry.offset)
            if not _NULL_BODY.match(handle.read(_LOOK_BACK)):
                raise Uncheckable(DAMAGED)
    finally:
        handle.seek(here)


def stray_bodies(handle: BinaryIO, known: set[tuple[int, tuple[int, int]]]) -> Iterator:
    """Each object body in the file that the cross-reference data does not point to, parsed
    on its own (references read as null: only the body's own keys matter here). Raises
    ``Uncheckable`` for too many such bodies, one that cannot be read, or a file whose
    bodies would take more than the budget to parse."""
    stray = []
    for offset, key, start in _headers(handle):
        if (offset, key) in known:
            continue
        stray.append(start)
        if len(stray) > MAX_STRAY_BODIES:
            raise Uncheckable(
                f"The PDF holds too many objects outside its index to check; {_AGAIN}"
            )
    budget = [MAX_PARSED_BYTES]
    for start in stray:
        handle.seek(start)
        yield _parse_body(handle.read(_BODY_WINDOW), budget)


def _headers(handle: BinaryIO) -> Iterator[tuple[int, tuple[int, int], int]]:
    """(offset, (number, generation), where the body starts) of each ``N G obj`` whose
    tokens are separated by white space (not by comments, and by at most ~250 bytes).
    Read 1 MiB at a time: a 200 MB file is never in memory (or mapped) whole."""
    handle.seek(0)
    data, base, scanned = b"", 0, 0
    while True:
        chunk = handle.read(_CHUNK)
        data += chunk
        # An "obj" needs the byte after it in view, unless the file ends there.
        limit = len(data) if not chunk else len(data) - 3
        at = data.find(b"obj", max(0, scanned - base))
        while at != -1 and at < limit:
            before = data[max(0, at - _LOOK_BACK) : at]
            keyword = not data[at + 3 : at + 4].isalnum() and not before.endswith(b"end")
            if keyword and (found := _header_before(before)) is not None:
                yield base + at - found[0], found[1], base + at + 3
            at = data.find(b"obj", at + 3)
        scanned = base + max(limit, 0)
        if not chunk:
            return
        keep = max(0, limit - _LOOK_BACK)
        data, base = data[keep:], base + keep


def _header_before(text: bytes) -> tuple[int, tuple[int, int]] | None:
    """``(length, (number, generation))`` if ``text`` ends with "N G " (then ``obj``)."""
    spaced = text.rstrip(_WHITESPACE)
    before_generation = spaced.rstrip(_DIGITS)
    generation = spaced[len(before_generation) :]
    spaced_again = before_generation.rstrip(_WHITESPACE)
    head = spaced_again.rstrip(_DIGITS)
    number = spaced_again[len(head) :]
    separated = len(spaced) < len(text) and len(spaced_again) < len(before_generation)
    if not (separated and 0 < len(generation) <= 5 and 0 < len(number) <= 10):
        return None
    return len(text) - len(head), (int(number), int(generation))


def _parse_body(window: bytes, budget: list[int]) -> pikepdf.Object:
    """The body at the start of ``window``: the text up to ``endobj``, or else (a stream's
    data may hold anything) the dictionary up to the first ``>>`` that ``stream`` follows.
    Two attempts at most; each takes its length from ``budget``."""
    end = window.find(_ENDOBJ)
    candidates = [window[:end]] if end != -1 else []
    if stream := _DICT_THEN_STREAM.search(window, 0, end if end != -1 else len(window)):
        candidates.append(window[: stream.start() + 2])
    for text in sorted(candidates, key=len):  # a stream's dictionary before its data
        budget[0] -= len(text)
        if budget[0] < 0:
            raise Uncheckable(f"The PDF holds too much outside its index to check; {_AGAIN}")
        with contextlib.suppress(Exception):  # not this boundary; try the next one
            return parse(_REFERENCE.sub(b"null", text))
    raise Uncheckable(
        "The PDF holds an object outside its index that cannot be read, which readers may "
        f"interpret differently; {_AGAIN}"
    )


def parse(text: bytes) -> pikepdf.Object:
    """One object from ``text`` (a seam the tests count calls through)."""
    return pikepdf.Object.parse(text)
