"""Does a PDF hold anything beyond pages to look at? An allow-list over every object.

An invoice needs pages, fonts, images, at most links inside the document (``/GoTo``) and
links to ``https://`` addresses (``/URI``). Everything else a reader can be made to do
(run JavaScript, launch a program, open a document on an SMB share and hand it the
user's Windows password hash, unpack an attached ``.exe``, submit or import form data,
play media) is refused, wherever it hides:

- every indirect object qpdf knows from the cross-reference data of every revision, not
  only those reachable from ``/Root``: objects inside compressed object streams and
  objects nothing references are walked too;
- every object body in the raw bytes that the cross-reference data does not point to (a
  version superseded by an incremental update, an orphan): a reader that rebuilds a
  damaged file's index can pick those up, so they are checked by the same rules;
- every dictionary and array nested inside those objects, at any depth.

Names are compared after the parser has decoded ``#xx`` escapes, so ``/J#61vaScript`` is
``/JavaScript``. Refusing (rather than rewriting the file through a sanitiser) keeps the
stored bytes identical to the consultant's own copy and to any signature on them.
"""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import pikepdf

__all__ = ["MAX_OBJECT_STREAM_BYTES", "MAX_STRAY_BODIES", "Uncheckable", "active_content"]


class Uncheckable(Exception):
    """The file cannot be checked as a whole; the message is one sentence for the consultant."""


# What a key's presence anywhere means. Each is something only an interactive or
# attachment-carrying document uses.
_FORBIDDEN_KEYS = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/AA": "an action that runs by itself (when a page or field is opened, closed or touched)",
    "/XFA": "an XFA form (which can carry scripts)",
    "/EmbeddedFiles": "an embedded file",
    "/EF": "an embedded file",
    "/AF": "an associated file (PDF 2.0 /AF)",
    "/RichMediaContent": "rich media",
    "/RichMediaSettings": "rich media",
    "/3DD": "3D content (which can carry scripts)",
    "/AlternatePresentations": "a slide show",
    "/Collection": "a PDF portfolio",
}
_FORBIDDEN_TYPES = {"/EmbeddedFile": "an embedded file"}
_FORBIDDEN_SUBTYPES = {
    "/FileAttachment": "a file attachment",
    "/RichMedia": "rich media",
    "/Sound": "sound",
    "/Movie": "a movie",
    "/Screen": "a media player annotation",
    "/3D": "3D content (which can carry scripts)",
}
# Every action type of PDF 2.0 but the two an invoice may use (/GoTo, /URI to https).
_REFUSED_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "an action that launches a program or opens a file",
    "/GoToR": "a link that opens another document (possibly on a remote share)",
    "/GoToE": "a link into an embedded document",
    "/GoToDp": "a link into a document part",
    "/Thread": "an article-thread action",
    "/Sound": "sound",
    "/Movie": "a movie",
    "/Rendition": "a media action",
    "/Hide": "an action that hides or shows fields",
    "/Named": "a named menu action",
    "/SubmitForm": "a form that submits data",
    "/ResetForm": "a form action",
    "/ImportData": "an action that imports form data",
    "/SetOCGState": "an action that changes visible layers",
    "/Trans": "a transition action",
    "/GoTo3DView": "3D content (which can carry scripts)",
    "/RichMediaExecute": "rich media",
}
_CONTAINERS = (pikepdf.Dictionary, pikepdf.Array)
_ACTION_KEYS = ("/A", "/OpenAction", "/Next")
_TRIGGER_NAMES = {
    *_FORBIDDEN_KEYS,
    *_FORBIDDEN_TYPES,
    *_FORBIDDEN_SUBTYPES,
    *_ACTION_KEYS,
    "/S",
    "/URI",
    "/Action",
}
_TRIGGERS = re.compile(
    rb"(?:%s)(?![^\0\t\n\f\r /<>\[\]()%%{}])"
    % b"|".join(re.escape(n.encode()) for n in sorted(_TRIGGER_NAMES, key=len, reverse=True))
)
# Bodies "N G obj" in the raw bytes: found from each "obj" keyword backwards (a regular
# expression tried at every byte of 20 MiB took 1.6 s; bytes.find and rstrip take ms).
_WHITESPACE = b"\0\t\n\f\r "
_DIGITS = b"0123456789"
_LOOK_BACK = 256
_CHUNK = 1 << 20
# Superseded versions left by incremental updates are normal; a file made of them is not.
MAX_STRAY_BODIES = 10_000
_REFERENCE = re.compile(
    rb"(?<![0-9.+-])[0-9]{1,10}[\0\t\n\f\r ]+[0-9]{1,5}[\0\t\n\f\r ]+R(?![A-Za-z0-9])"
)
_STREAM = re.compile(rb"stream(?:\r\n|\n|\r)")
_ENDOBJ = b"endobj"
_BODY_WINDOW = 64 * 1024
# Compressed object streams are inflated by qpdf without a limit; they are measured here
# first, so an object-stream bomb is refused before it costs memory.
MAX_OBJECT_STREAM_BYTES = 64 * 1024 * 1024


def active_content(pdf: pikepdf.Pdf, handle: BinaryIO) -> str:
    """A description of the first content found that an invoice does not need, or "".

    ``pdf`` is the opened file and ``handle`` its raw bytes. Raises ``Uncheckable`` (with a
    sentence for the consultant) for an object stream too large or in an unusual
    compression and for a stray object body that cannot be read.
    """
    table = pdf.get_xref_table()
    _measure_object_streams(pdf, table)
    for obj in (pdf.trailer, *pdf.objects):
        if _may_matter(obj) and (found := _walk(obj)):
            return found
    known = {(entry.offset, key) for key, entry in table.items() if entry.type == 1}
    # qpdf may be reading through the same handle: give it back where it was.
    here = handle.tell()
    try:
        for body in _stray_bodies(handle, known):
            if found := _walk(body):
                return found
            if isinstance(body, pikepdf.Dictionary) and body.get("/Type") == "/ObjStm":
                return "compressed objects that the file does not use"
    finally:
        handle.seek(here)
    return ""


def _may_matter(obj: pikepdf.Object) -> bool:
    """Whether ``obj`` (with what is nested in it, not what it refers to) names anything the
    rules look at. qpdf writes the decoded names out in one C++ call, so the slower walk
    in Python runs only for the few objects that do (links, outlines, forms, actions)."""
    own = obj.stream_dict if isinstance(obj, pikepdf.Stream) else obj
    return isinstance(own, _CONTAINERS) and bool(_TRIGGERS.search(own.unparse(resolved=True)))


def _walk(root: pikepdf.Object) -> str:
    """Check ``root`` and every direct object nested in it; indirect ones are walked on
    their own (every indirect object is), so a reference cycle costs nothing."""
    stack = [root]
    while stack:
        obj = stack.pop()
        if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            if found := _dictionary_problem(obj):
                return found
            values = obj.values()
        elif isinstance(obj, pikepdf.Array):
            values = list(obj)
        else:
            continue
        stack.extend(v for v in values if isinstance(v, _CONTAINERS) and not v.is_indirect)
    return ""


def _dictionary_problem(d: pikepdf.Object) -> str:
    keys = set(d.keys())
    for key in sorted(keys & _FORBIDDEN_KEYS.keys()):
        return _FORBIDDEN_KEYS[key]
    kind, subtype, action = (_name(d.get(k)) for k in ("/Type", "/Subtype", "/S"))
    if found := _FORBIDDEN_TYPES.get(kind) or _FORBIDDEN_SUBTYPES.get(subtype):
        return found
    if kind != "/StructElem" and action in _REFUSED_ACTIONS:
        return _REFUSED_ACTIONS[action]
    if action == "/URI" and not _is_https(d.get("/URI")):
        return "a link to an address that is not https"
    if kind == "/Action" and action not in {"/GoTo", "/URI"}:
        return "an action of a kind an invoice does not need"
    for key in keys.intersection(_ACTION_KEYS):
        if found := _action_problem(d.get(key), on_open=key == "/OpenAction"):
            return found
    return ""


def _action_problem(value: pikepdf.Object, *, on_open: bool) -> str:
    """An action (or a /Next list of them) must be a /GoTo, or an https /URI unless it
    runs on opening; an /OpenAction may also be a plain destination array."""
    actions = list(value) if isinstance(value, pikepdf.Array) else [value]
    if on_open and isinstance(value, pikepdf.Array):
        return ""  # an explicit destination: which page to show first
    for action in actions:
        if not isinstance(action, pikepdf.Dictionary):
            continue
        kind = _name(action.get("/S"))
        if not kind and "/Type" not in action:
            continue  # not an action (a movie activation, say, refused elsewhere)
        allowed = {"/GoTo"} if on_open else {"/GoTo", "/URI"}
        if kind not in allowed:
            return _REFUSED_ACTIONS.get(kind, "an action of a kind an invoice does not need")
    return ""


def _name(value: object) -> str:
    return str(value) if isinstance(value, pikepdf.Name) else ""


def _is_https(value: object) -> bool:
    if not isinstance(value, pikepdf.String):
        return False
    text = bytes(value).decode("latin-1").strip().lower()
    return text.startswith("https://")


def _measure_object_streams(pdf: pikepdf.Pdf, table: dict) -> None:
    budget = MAX_OBJECT_STREAM_BYTES
    for number in {e.obj_stream_number for e in table.values() if e.type == 2}:
        stream = pdf.get_object((number, 0))
        filters = stream.get("/Filter")
        names = [str(f) for f in filters] if isinstance(filters, pikepdf.Array) else [str(filters)]
        if filters is None:
            budget -= len(stream.read_raw_bytes())
        elif names == ["/FlateDecode"] and "/DecodeParms" not in stream:
            budget -= _inflated_size(stream.read_raw_bytes(), limit=max(budget, 0) + 1)
        else:
            raise Uncheckable(
                "The PDF compresses its objects in an unusual way that cannot be checked; "
                "export it again (for example by printing it to a new PDF)."
            )
        if budget < 0:
            raise Uncheckable(
                "The PDF's compressed objects are too large to check; it was refused."
            )


def _inflated_size(data: bytes, *, limit: int) -> int:
    """How many bytes ``data`` inflates to, counted 1 MiB at a time and never beyond
    ``limit`` (nothing inflated is kept)."""
    inflater, size = zlib.decompressobj(), 0
    while data and size < limit:
        size += len(inflater.decompress(data, _CHUNK))
        data = inflater.unconsumed_tail
    return size


def _stray_bodies(
    handle: BinaryIO, known: set[tuple[int, tuple[int, int]]]
) -> Iterator[pikepdf.Object]:
    """Each object body in the file that the cross-reference data does not point to, parsed
    on its own (references read as null: only the body's own keys matter here)."""
    stray = []
    for offset, key, start in _headers(handle):
        if (offset, key) in known:
            continue
        stray.append(start)
        if len(stray) > MAX_STRAY_BODIES:
            raise Uncheckable(
                "The PDF holds too many objects outside its index to check; export it again "
                "(for example by printing it to a new PDF)."
            )
    for start in stray:
        handle.seek(start)
        yield _parse_body(handle.read(_BODY_WINDOW))


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


def _parse_body(window: bytes) -> pikepdf.Object:
    end = window.find(_ENDOBJ)
    candidates = [window[:end]] if end != -1 else []
    limit = end if end != -1 else len(window)
    candidates += [window[: m.start()] for m in _STREAM.finditer(window, 0, limit)]
    for text in candidates:
        with contextlib.suppress(Exception):  # not this boundary; try the next one
            return pikepdf.Object.parse(_REFERENCE.sub(b"null", text))
    raise Uncheckable(
        "The PDF holds an object outside its index that cannot be read, which readers may "
        "interpret differently; export it again (for example by printing it to a new PDF)."
    )
