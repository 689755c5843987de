"""PDFs written byte by byte, for what pikepdf would normalise away (name escapes,
incremental updates, bodies outside the index, damage that qpdf and poppler read
differently, bytes after an %%EOF). Used by the corpus in ``hostile_pdfs``."""

from __future__ import annotations

import io
import re
import zipfile

__all__ = [
    "CATALOG",
    "CONTENT",
    "DEEP",
    "ESCAPED_JS",
    "PAGE",
    "PAGES",
    "append_update",
    "assemble",
    "clean",
    "escaped_open_action",
    "escaped_page_action",
    "names_javascript_then",
    "open_action_nested_too_deep",
    "stray_bodies_with_many_stream_keywords",
    "struct_elem_gotor_in_a_link_dest",
    "zip_after_a_comment",
    "zip_in_a_stream",
]


def assemble(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (numbered from 1; 1 is the catalog) with a correct xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def append_update(pdf: bytes, objects: dict[int, bytes], *, listed: bool = True) -> bytes:
    """``pdf`` with an incremental update appended that writes ``objects``; with
    ``listed=False`` the bodies are written but the update's xref does not list them."""
    previous = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    size = int(re.findall(rb"/Size (\d+)", pdf)[-1])
    out = bytearray(pdf)
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n"
    for number, offset in offsets.items() if listed else ():
        out += b"%d 1\n%010d 00000 n \n" % (number, offset)
    if not listed:
        out += b"0 1\n0000000000 65535 f \n"
    size = max(size, *(n + 1 for n in objects)) if listed else size
    out += b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size,
        previous,
        xref,
    )
    return bytes(out)


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R %s>>"
CONTENT = b"<< /Length 0 >>\nstream\n\nendstream"
ESCAPED_JS = b"<< /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>"


def escaped_open_action() -> bytes:
    """``/J#61vaScript`` is ``/JavaScript`` and ``/J#53`` is ``/JS`` once decoded."""
    catalog = CATALOG[:-2] + b"/Open#41ction 5 0 R >>"
    return assemble([catalog, PAGES, PAGE % b"", CONTENT, ESCAPED_JS])


def escaped_page_action() -> bytes:
    """``/A#41`` is ``/AA``: a script that runs when the page is shown."""
    return assemble([CATALOG, PAGES, PAGE % b"/A#41 << /O 5 0 R >> ", CONTENT, ESCAPED_JS])


def clean() -> bytes:
    return assemble([CATALOG, PAGES, PAGE % b"", CONTENT])


def names_javascript_then(junk: bytes) -> bytes:
    """Document-level JavaScript, then in the same object something qpdf cannot parse: qpdf
    reads the whole object as null (with a warning), poppler reads the script before it."""
    names = b"<< /JavaScript << /Names [(x) << /S /JavaScript /JS (app.alert\\(1\\)) >>] >> "
    catalog = CATALOG[:-2] + b"/Names 5 0 R >>"
    return assemble([catalog, PAGES, PAGE % b"", CONTENT, names + junk])


def open_action_nested_too_deep() -> bytes:
    action = b"<< /S /JavaScript /JS (app.alert\\(1\\)) /Junk " + DEEP + b" >>"
    catalog = CATALOG[:-2] + b"/OpenAction 5 0 R >>"
    return assemble([catalog, PAGES, PAGE % b"", CONTENT, action])


def struct_elem_gotor_in_a_link_dest() -> bytes:
    """pdf.js reads a dictionary under a link's /Dest as an action, whatever its /Type."""
    annot = (
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] /Dest << /Type /StructElem "
        b"/S /GoToR /F (http://attacker.example/x.pdf) /D [0 /Fit] >> >>"
    )
    return assemble([CATALOG, PAGES, PAGE % b"/Annots [5 0 R] ", CONTENT, annot])


def zip_after_a_comment() -> bytes:
    """A clean PDF, "%", then a ZIP whose own comment is "%%EOF": a PDF and a ZIP at once."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("evil.html", "<script>alert(1)</script>")
        z.comment = b"%%EOF"
    return clean() + b"%" + archive.getvalue()


def stray_bodies_with_many_stream_keywords(bodies: int, keywords: int) -> bytes:
    """Bodies outside the xref, each a string holding ``keywords`` "stream" keywords: a
    scan that tries every "stream" as the end of a body is quadratic in the body's size."""
    pdf = clean()
    at = pdf.index(b"xref")
    stray = b"".join(
        b"%d 0 obj\n(" % (100 + k) + b"stream\n" * keywords + b") stream\nendstream\nendobj\n"
        for k in range(bodies)
    )
    pdf = pdf[:at] + stray + pdf[at:]
    return re.sub(rb"startxref\n\d+", b"startxref\n%d" % (at + len(stray)), pdf)


DEEP = b"[" * 600 + b"]" * 600


def zip_in_a_stream() -> bytes:
    """An incremental update whose stream is a ZIP, and the ZIP's own comment is the rest of
    the PDF (endstream, xref, trailer, %%EOF): every %%EOF is followed by PDF."""
    pdf = clean()
    previous = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    head = b"7 0 obj\n<< /Length %010d >>\nstream\n"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("evil.html", "<script>alert(1)</script>")
    data = archive.getvalue()  # ends with its end record (comment length 0, patched below)
    xref = len(pdf) + len(head % 0) + len(data) + len(b"\nendstream\nendobj\n")
    comment = b"\nendstream\nendobj\nxref\n7 1\n%010d 00000 n \n" % len(pdf)
    comment += b"trailer\n<< /Size 8 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        previous,
        xref,
    )
    data = data[:-2] + len(comment).to_bytes(2, "little")
    return pdf + head % len(data) + data + comment
