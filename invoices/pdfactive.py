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
  damaged file's index can pick those up, so they are checked by the same rules
  (``invoices.pdfraw``, which also refuses objects qpdf could only read as null);
- every dictionary and array nested inside those objects, at any depth.

A dictionary under a link's ``/Dest`` or ``/PA`` is checked as an action (pdf.js runs it
as one), and streams kept in another file (``/F``) or reference XObjects (``/Ref``) are
refused: a reader would fetch that file, from an SMB share if it says so.

Names are compared after the parser has decoded ``#xx`` escapes, so ``/J#61vaScript`` is
``/JavaScript``. Refusing (rather than rewriting the file through a sanitiser) keeps the
stored bytes identical to the consultant's own copy and to any signature on them.
"""

from __future__ import annotations

import re
import zlib
from typing import BinaryIO

import pikepdf

from invoices.pdfraw import Uncheckable, refuse_damaged_objects, stray_bodies

__all__ = ["MAX_OBJECT_STREAM_BYTES", "Uncheckable", "active_content"]


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
_ACTION_KEYS = ("/A", "/OpenAction", "/Next", "/PA")
# pdf.js reads a dictionary under a link's /Dest as an action (and /PA is one).
_DESTINATION_KEYS = ("/Dest", "/PA")
# A stream whose data is in another file (/F), a reference XObject (/Ref): the reader
# fetches that file, from an SMB share or a web address if it says so.
_EXTERNAL_KEYS = ("/F", "/FFilter", "/FDecodeParms", "/Ref")
_EXTERNAL = "content stored in another file (which a reader would fetch)"
_TRIGGER_NAMES = {
    *_FORBIDDEN_KEYS,
    *_FORBIDDEN_TYPES,
    *_FORBIDDEN_SUBTYPES,
    *_ACTION_KEYS,
    *_DESTINATION_KEYS,
    *_EXTERNAL_KEYS,
    "/S",
    "/URI",
    "/Action",
}
_TRIGGERS = re.compile(
    rb"(?:%s)(?![^\0\t\n\f\r /<>\[\]()%%{}])"
    % b"|".join(re.escape(n.encode()) for n in sorted(_TRIGGER_NAMES, key=len, reverse=True))
)
_CHUNK = 1 << 20
# Compressed object streams are inflated by qpdf without a limit; they are measured here
# first, so an object-stream bomb is refused before it costs memory.
MAX_OBJECT_STREAM_BYTES = 64 * 1024 * 1024


def active_content(pdf: pikepdf.Pdf, handle: BinaryIO) -> str:
    """A description of the first content found that an invoice does not need, or "".

    ``pdf`` is the opened file and ``handle`` its raw bytes. Raises ``Uncheckable`` (with a
    sentence for the consultant) for an object stream too large or in an unusual
    compression, for an object qpdf could not parse (``invoices.pdfraw``), and for stray
    object bodies that cannot be read or would take too long to.
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
        refuse_damaged_objects(pdf, table, handle)
        for body in stray_bodies(handle, known):
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
    if isinstance(d, pikepdf.Stream) and keys.intersection(_EXTERNAL_KEYS):
        return _EXTERNAL
    if "/Ref" in keys and subtype == "/Form":
        return _EXTERNAL
    # No structure type (/Type /StructElem) is named like an action, so /S is read alike.
    if action in _REFUSED_ACTIONS:
        return _REFUSED_ACTIONS[action]
    if action == "/URI" and not _is_https(d.get("/URI")):
        return "a link to an address that is not https"
    if kind == "/Action" and action not in {"/GoTo", "/URI"}:
        return "an action of a kind an invoice does not need"
    for key in sorted(keys.intersection(_ACTION_KEYS)):
        if found := _action_problem(d.get(key), on_open=key == "/OpenAction"):
            return found
    for key in sorted(keys.intersection(_DESTINATION_KEYS)):
        value = d.get(key)
        if isinstance(value, pikepdf.Dictionary) and (
            found := _action_problem(value, on_open=False)
        ):
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
