"""Is this a real, readable, unencrypted, inert PDF? Decided by parsing it with qpdf
(through pikepdf), not by its name.

The parser meets hostile input here (a stolen staff session can upload anything), so any
failure inside qpdf is a refusal, never a crash. What may be inside is an allow-list
applied to every object of the file (``invoices.pdfactive``).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
from typing import BinaryIO

import pikepdf

from invoices.pdfactive import Uncheckable, active_content

__all__ = ["PdfRejected", "check_pdf"]

_TAIL = 2048
_ENCRYPTED = "The PDF is encrypted or password-protected; upload an unprotected copy."
_CHUNK = 1024 * 1024
# What may follow an %%EOF inside a PDF: white space and comments that are lines of text,
# then an incremental update (objects, xref). A binary comment could hide a ZIP.
_LOOK_AHEAD = 1024
# A ZIP reader looks for its end record within the last 64 KiB (its comment) and 22 bytes.
_ZIP_TAIL = 65535 + 22
_ZIP_END = b"PK\x05\x06"
_GAP = re.compile(rb"(?:[\0\t\n\f\r ]+|%[\t\x20-\x7e]*(?:\r\n|\r|\n))*")
_REVISION = re.compile(rb"\d+[\0\t\n\f\r ]+\d+[\0\t\n\f\r ]+obj|xref|trailer|startxref")


class PdfRejected(ValueError):
    """The upload is not an acceptable PDF; the message is safe to show to the consultant."""


def check_pdf(handle: BinaryIO) -> int:
    """Return the page count of the PDF in the seekable binary ``handle``, or raise
    ``PdfRejected``.

    Refuses: no ``%PDF-`` header at the start; anything but white space after the last
    ``%%EOF``, and anything but text comments before the next revision after any other
    (a truncated file, or a polyglot with a ZIP or script appended); a file that a ZIP
    reader would open (a ZIP in a stream whose comment is the PDF's tail); anything
    qpdf cannot parse or could parse only in part; encrypted files; files without pages;
    anything in any object beyond what an invoice needs (``invoices.pdfactive``):
    JavaScript, automatic actions, XFA, embedded and associated files, rich media,
    streams kept in other files, actions other than a ``/GoTo`` inside the document or a
    ``/URI`` to an https address.
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
    if _ends_like_a_zip(handle):
        raise PdfRejected("The PDF is also a ZIP archive (a polyglot); it was refused.")
    try:
        with _open(handle) as pdf:
            if pdf.is_encrypted:
                raise PdfRejected(_ENCRYPTED)
            # First: it measures object streams before anything else makes qpdf inflate them.
            active = active_content(pdf, handle)
            pages = len(pdf.pages)
            for page in pdf.pages:
                _ = page.mediabox
        if active:
            raise PdfRejected(
                f"The PDF contains {active}, which an invoice does not need; export it "
                "again without it (for example by printing it to a new PDF)."
            )
    except PdfRejected:
        raise
    except pikepdf.PasswordError:
        raise PdfRejected(_ENCRYPTED) from None
    except Uncheckable as exc:
        raise PdfRejected(str(exc)) from None
    except Exception as exc:  # hostile input: any parser failure is a refusal
        raise PdfRejected(f"The PDF cannot be read ({type(exc).__name__}).") from None
    finally:
        handle.seek(0)
    if pages < 1:
        raise PdfRejected("The PDF has no pages.")
    return pages


def _open(handle: BinaryIO) -> pikepdf.Pdf:
    """qpdf reads a file by its path about twice as fast as through a Python stream; the
    path is used only when it is absolute and names the very file open in ``handle`` (an
    upload's ``name`` is the client's choice and never trusted as a path)."""
    path = getattr(handle, "name", None)
    with contextlib.suppress(OSError, AttributeError, io.UnsupportedOperation):
        absolute = isinstance(path, str) and os.path.isabs(path)
        if absolute and os.path.samestat(os.stat(path), os.fstat(handle.fileno())):
            return pikepdf.open(path)
    handle.seek(0)
    return pikepdf.open(handle)


def _only_pdf_after_each_eof(handle: BinaryIO) -> bool:
    """Every %%EOF is followed by PDF (an incremental update) or by nothing but white space:
    a ZIP or a script smuggled after a first %%EOF (even inside a ``%`` comment) makes a
    polyglot. Between an %%EOF and the next revision only white space and comments of
    printable text are allowed, within 1 KiB. Read in chunks, so a large upload is never
    held in memory whole."""
    handle.seek(0)
    end, carry = _end(handle), b""
    while chunk := handle.read(_CHUNK):
        data, at_end = carry + chunk, handle.tell() >= end
        start = 0
        while (found := data.find(b"%%EOF", start)) != -1:
            after = data[found + 5 : found + 5 + _LOOK_AHEAD]
            if len(after) < _LOOK_AHEAD and not at_end:
                break  # look again with the next chunk
            gap = _GAP.match(after).end()
            rest = after[gap:]
            to_the_end = at_end and found + 5 + len(after) == len(data)
            if not (_REVISION.match(rest) or (not rest and to_the_end)):
                return False
            start = found + 5
        carry = data[max(start, len(data) - _LOOK_AHEAD - 5) :]
    handle.seek(0)
    return True


def _ends_like_a_zip(handle: BinaryIO) -> bool:
    """Whether a ZIP reader would find an archive: an end-of-central-directory record in the
    last 64 KiB whose directory (counted back from the record) starts with a directory
    entry, or a ZIP64 locator before it. A ZIP inside a stream whose own comment is the PDF's
    tail passes every check on %%EOF; random bytes match both signatures about never."""
    end = _end(handle)
    start = max(0, end - _ZIP_TAIL)
    handle.seek(start)
    tail = handle.read()
    at = tail.rfind(_ZIP_END)
    try:
        while at != -1:
            record = tail[at : at + 22]
            if len(record) == 22:
                (directory_size,) = struct.unpack("<I", record[12:16])
                if tail[max(0, at - 20) : at - 16] == b"PK\x06\x07":
                    return True
                if 0 <= start + at - directory_size < end:
                    handle.seek(start + at - directory_size)
                    if handle.read(4) == b"PK\x01\x02":
                        return True
            at = tail.rfind(_ZIP_END, 0, at)
    finally:
        handle.seek(0)
    return False


def _end(handle: BinaryIO) -> int:
    here = handle.tell()
    handle.seek(0, 2)
    end = handle.tell()
    handle.seek(here)
    return end
