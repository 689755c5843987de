"""Is this a real, readable, unencrypted PDF? Decided by parsing it with pypdf, not by its name.

The parser meets hostile input here (a stolen staff session can upload anything), so any
failure inside pypdf is a refusal, never a crash.
"""

from __future__ import annotations

import logging
from typing import BinaryIO

from pypdf import PdfReader

__all__ = ["PdfRejected", "check_pdf"]

# pypdf is chatty about recoverable oddities; those are not our log's business.
logging.getLogger("pypdf").setLevel(logging.ERROR)

_TAIL = 2048


class PdfRejected(ValueError):
    """The upload is not an acceptable PDF; the message is safe to show to the consultant."""


def check_pdf(handle: BinaryIO) -> int:
    """Return the page count of the PDF in the seekable binary ``handle``, or raise
    ``PdfRejected``.

    Refuses: no ``%PDF-`` header at the start, no ``%%EOF`` near the end (a truncated
    file), anything pypdf cannot parse, encrypted files, files without pages.
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
    try:
        reader = PdfReader(handle, strict=False)
        if reader.is_encrypted:
            raise PdfRejected(
                "The PDF is encrypted or password-protected; upload an unprotected copy."
            )
        pages = len(reader.pages)
        for page in reader.pages:
            _ = page.mediabox
    except PdfRejected:
        raise
    except Exception as exc:  # hostile input: any parser failure is a refusal
        raise PdfRejected(f"The PDF cannot be read ({type(exc).__name__}).") from None
    finally:
        handle.seek(0)
    if pages < 1:
        raise PdfRejected("The PDF has no pages.")
    return pages
