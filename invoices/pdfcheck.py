"""Is this a real, readable, unencrypted PDF? Decided by parsing it with pypdf, not by its name.

The parser meets hostile input here (a stolen staff session can upload anything), so any
failure inside pypdf is a refusal, never a crash.
"""

from __future__ import annotations

import logging
import re
from typing import BinaryIO

from pypdf import PdfReader

__all__ = ["PdfRejected", "check_pdf"]

# pypdf is chatty about recoverable oddities; those are not our log's business.
logging.getLogger("pypdf").setLevel(logging.ERROR)

_TAIL = 2048
_CHUNK = 1024 * 1024
# What may follow an %%EOF inside a PDF: an incremental update (objects, xref), a comment.
_CONTINUATION = re.compile(rb"\s*(?:\d+\s+\d+\s+obj|xref|trailer|startxref|%|\Z)")


class PdfRejected(ValueError):
    """The upload is not an acceptable PDF; the message is safe to show to the consultant."""


def check_pdf(handle: BinaryIO) -> int:
    """Return the page count of the PDF in the seekable binary ``handle``, or raise
    ``PdfRejected``.

    Refuses: no ``%PDF-`` header at the start; anything but white space after the last
    ``%%EOF`` (a truncated file, or a polyglot with a ZIP or script appended); anything
    pypdf cannot parse; encrypted files; files without pages; active content, which an
    invoice never needs and a reader could run: JavaScript, launch or other actions on
    opening, on pages or in annotations, and embedded files.
    """
    handle.seek(0)
    head = handle.read(1024)
    handle.seek(0, 2)
    end = handle.tell()
    handle.seek(max(0, end - _TAIL))
    tail = handle.read()
    handle.seek(0)
    if not head.startswith(b"%PDF-"):
        raise PdfRejected("The file is not a PDF (it does not start with a PDF header).")
    if b"%%EOF" not in tail:
        raise PdfRejected(
            "The PDF is incomplete (it has no end-of-file marker); it may be truncated."
        )
    if tail[tail.rindex(b"%%EOF") + 5 :].strip() or not _only_pdf_after_each_eof(handle):
        raise PdfRejected("The PDF has foreign data after an end-of-file marker; it was refused.")
    try:
        reader = PdfReader(handle, strict=False)
        if reader.is_encrypted:
            raise PdfRejected(
                "The PDF is encrypted or password-protected; upload an unprotected copy."
            )
        pages = len(reader.pages)
        for page in reader.pages:
            _ = page.mediabox
        active = _active_content(reader)
        if active:
            raise PdfRejected(
                f"The PDF contains {active}, which an invoice does not need; export it "
                "again without it (for example by printing it to a new PDF)."
            )
    except PdfRejected:
        raise
    except Exception as exc:  # hostile input: any parser failure is a refusal
        raise PdfRejected(f"The PDF cannot be read ({type(exc).__name__}).") from None
    finally:
        handle.seek(0)
    if pages < 1:
        raise PdfRejected("The PDF has no pages.")
    return pages


# Action types that do something beyond moving within the document.
_RISKY_ACTIONS = {"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/Rendition", "/URI"}


def _resolved(value: object) -> object:
    return value.get_object() if hasattr(value, "get_object") else value


def _risky_action(action: object, depth: int = 0) -> bool:
    action = _resolved(action)
    if depth > 20 or not hasattr(action, "get"):
        return False
    if action.get("/S") in _RISKY_ACTIONS or "/JS" in action:
        return True
    following = _resolved(action.get("/Next"))
    chain = following if isinstance(following, list) else [following] if following else []
    return any(_risky_action(item, depth + 1) for item in chain)


def _active_content(reader: PdfReader) -> str:
    """A description of the first active content found, or "" if there is none."""
    root = _resolved(reader.trailer["/Root"])
    names = _resolved(root.get("/Names")) or {}
    if "/JavaScript" in names:
        return "document-level JavaScript"
    if "/EmbeddedFiles" in names:
        return "embedded files"
    if "/AA" in root or _risky_action(root.get("/OpenAction")):
        return "an action that runs when it is opened"
    for page in reader.pages:
        if "/AA" in page:
            return "a page action"
        for annotation in _resolved(page.get("/Annots")) or []:
            annotation = _resolved(annotation)
            if _risky_action(annotation.get("/A")) or "/AA" in annotation:
                return "an annotation with an action"
    return ""


def _only_pdf_after_each_eof(handle: BinaryIO) -> bool:
    """Every %%EOF is followed by PDF (an incremental update) or by nothing: a ZIP or a
    script smuggled between a first %%EOF and a restated trailer makes a polyglot. Read in
    chunks, so a large upload is never held in memory whole."""
    handle.seek(0)
    carry = b""
    while chunk := handle.read(_CHUNK):
        data = carry + chunk
        start = 0
        while (found := data.find(b"%%EOF", start)) != -1:
            after = data[found + 5 : found + 5 + 64]
            if len(after) < 64 and handle.tell() < _end(handle):
                break  # look again with the next chunk
            if not _CONTINUATION.match(after):
                return False
            start = found + 5
        carry = data[max(start, len(data) - 80) :]
    handle.seek(0)
    return True


def _end(handle: BinaryIO) -> int:
    here = handle.tell()
    handle.seek(0, 2)
    end = handle.tell()
    handle.seek(here)
    return end
