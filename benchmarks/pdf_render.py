"""PDF rendering: invoices/pdf.py (reportlab) against WeasyPrint on an equivalent HTML invoice.

    scripts/bench-deps            # once: WeasyPrint's Debian libraries and the bench extra
    .venv/bin/python -m benchmarks.pdf_render [--out bench-output] [--batches 5]

Two invoices: a 1-page one (3 lines) and a 20-page one (LINES_20 lines), both made by
``invoices.pdf.sample_document``. The reference is the same invoice as HTML and CSS
(``invoice_html``): the same business and client blocks, the line table with its header
repeated on every page (a <thead>), the tax summary, the payment details and the warning,
the footer and "Page N of M" (@page margin boxes with counter(page) and counter(pages)), in
the same font, DejaVu Sans from invoices/fonts/ (@font-face). Before timing anything, the
script renders both invoices with both renderers and checks, with pypdf, that each pair has
the same page count and that every expected text (each line's description and amount, the
totals, each tax row, the payment details, "Page N of M" on each page, the table header on
each page) is in both; it stops with an error otherwise.

Memory: each renderer and size in a fresh subprocess of this script (``--worker memory``):
it imports the renderer, renders once (loading the fonts, a one-off cost per process), then
once under tracemalloc (the peak of Python allocations of one render; WeasyPrint's Pango and
HarfBuzz allocate in C, unseen by tracemalloc, which is why the process's peak RSS, VmHWM,
is reported too, with its RSS after the first render).

Speed: per size, one fresh subprocess (``--worker timing``) loads both renderers, renders
3 times with each, then alternates --batches batches of at least --min-batch-seconds per
renderer. Rates are the medians of the batches' invoices per second; the ratio is the
median of the ratios of adjacent batches, so that a busy neighbour on a shared machine
slows both sides of a ratio alike. The target (issue 7) is at least 20x WeasyPrint's rate
on both sizes. Takes about a minute; it starts no process that outlives it.

    .venv/bin/python -m benchmarks.pdf_render --profile 3   # where a 1-page invoice's time goes
"""

from __future__ import annotations

import argparse
import html
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks._results import versions, write_results
from invoices.money import format_amount
from invoices.pdf import FONT_DIR, InvoiceDocument, render_invoice, sample_document

ROOT = Path(__file__).resolve().parent.parent

LINES_1 = 3
LINES_20 = 410  # gives 20 pages with both renderers (checked before timing)
TARGET_RATIO = 20.0

CSS = """
@font-face { font-family: "DejaVu Sans"; font-weight: normal;
             src: url("%(regular)s") format("truetype"); }
@font-face { font-family: "DejaVu Sans"; font-weight: bold;
             src: url("%(bold)s") format("truetype"); }
@page {
  size: A4; margin: 18mm 18mm 22mm 18mm;
  @bottom-left { content: var(--footer); font: 8pt "DejaVu Sans"; color: grey;
                 vertical-align: top; padding-top: 8mm; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages);
                  font: 8pt "DejaVu Sans"; color: grey; vertical-align: top; padding-top: 8mm; }
}
html { font-family: "DejaVu Sans"; font-size: 9.5pt; line-height: 12.5pt; }
body { margin: 0; }
table { border-collapse: collapse; }
td, th { padding: 3pt 6pt; vertical-align: top; text-align: left; font-weight: normal; }
.b { font-weight: bold; }
.r { text-align: right; }
.small { font-size: 8pt; line-height: 10pt; color: grey; }
.title { font-size: 18pt; line-height: 22pt; font-weight: bold; }
table.head td { padding: 0; }
table.lines { margin-top: 8mm; table-layout: fixed; width: 174mm; }
table.lines thead th { border-bottom: 0.8pt solid black; font-weight: bold; }
table.lines tbody td { border-bottom: 0.25pt solid lightgrey; }
table.summary { margin: 6mm 0 0 auto; width: 110mm; }
table.summary tr:last-child td { border-top: 0.8pt solid black; }
.buyer { margin-top: 8mm; }
.payment { margin-top: 8mm; }
"""


def _e(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def invoice_html(doc: InvoiceDocument) -> str:
    """The same invoice as invoices/pdf.py draws, as HTML for WeasyPrint (no logo, no draft
    watermark: the benchmark's invoices have neither)."""
    cur = doc.currency
    seller = [doc.seller.address, f"Tax ID: {doc.seller.tax_id}" if doc.seller.tax_id else ""]
    buyer = [doc.buyer.address, f"Tax ID: {doc.buyer.tax_id}" if doc.buyer.tax_id else ""]
    rows = "".join(
        f"<tr><td>{_e(line.description)}</td><td class=r>{line.quantity.normalize():f}</td>"
        f"<td>{_e(line.unit)}</td><td class=r>{_e(format_amount(line.unit_price, cur))}</td>"
        f"<td class=r>{line.tax_rate.normalize():f}%</td>"
        f"<td class=r>{_e(format_amount(net, cur))}</td></tr>"
        for line, net in zip(doc.lines, doc.totals.line_nets, strict=True)
    )
    taxes = "".join(
        f"<tr><td>Tax {g.rate:f}% on {_e(format_amount(g.net, cur))}</td>"
        f"<td class=r>{_e(format_amount(g.tax, cur))}</td></tr>"
        for g in doc.totals.taxes
    )
    p = doc.payment
    payment = [
        f"Account holder: {p.account_holder}" if p.account_holder else "",
        f"IBAN: {p.iban}" if p.iban else "",
        f"BIC: {p.bic}" if p.bic else "",
        f"Account number: {p.account_number}" if p.account_number else "",
        f"Payment reference: {p.reference}" if p.reference else "",
    ]
    footer = doc.footer[:140].replace("\\", "\\\\").replace('"', '\\"')
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<title>{_e(doc.title)} {_e(doc.number)}</title>
<meta name=author content="{html.escape(doc.seller.name)}">
<style>:root {{ --footer: "{html.escape(footer)}"; }}</style></head><body>
<table class=head><tr><td style="width:100mm">
<div class=b>{_e(doc.seller.name)}</div><div>{_e(chr(10).join(x for x in seller if x))}</div>
</td><td style="width:74mm"><div class=title>{_e(doc.title)}</div>
<div class=b>No. {_e(doc.number)}</div>
<div>Date: {doc.issue_date:%Y-%m-%d}<br>Due: {doc.due_date:%Y-%m-%d}</div>
{f"<div>{_e(doc.note)}</div>" if doc.note else ""}</td></tr></table>
<div class=buyer><div class=small>Bill to</div><div class=b>{_e(doc.buyer.name)}</div>
<div>{_e(chr(10).join(x for x in buyer if x))}</div></div>
<table class=lines><colgroup><col style="width:66mm"><col style="width:16mm">
<col style="width:16mm"><col style="width:28mm"><col style="width:14mm"><col style="width:34mm">
</colgroup><thead><tr><th>Description</th><th class=r>Qty</th><th>Unit</th>
<th class=r>Unit price</th><th class=r>Tax</th><th class=r>Amount</th></tr></thead>
<tbody>{rows}</tbody></table>
<table class=summary><tr><td>Subtotal</td>
<td class=r>{_e(format_amount(doc.totals.subtotal, cur))}</td></tr>{taxes}
<tr><td class=b>Total</td><td class="r b">{_e(format_amount(doc.totals.total, cur))}</td></tr>
</table>
<div class=payment><div class=b>Payment details</div>
<div>{_e(chr(10).join(x for x in payment if x))}</div>
<div class=small style="margin-top:2mm">Check these details in the invoice portal before you
pay. Never trust bank details that reach you by email alone.</div></div>
</body></html>"""


class WeasyRenderer:
    """WeasyPrint used as a careful deployment would: the stylesheet (with its @font-face
    rules) is parsed once and reused; each invoice is new HTML rendered to PDF bytes."""

    def __init__(self) -> None:
        from weasyprint import CSS as WeasyCSS
        from weasyprint import HTML
        from weasyprint.text.fonts import FontConfiguration

        self._html = HTML
        self._fonts = FontConfiguration()
        css = CSS % {
            "regular": (FONT_DIR / "DejaVuSans.ttf").as_uri(),
            "bold": (FONT_DIR / "DejaVuSans-Bold.ttf").as_uri(),
        }
        self._css = WeasyCSS(string=css, font_config=self._fonts)

    def __call__(self, doc: InvoiceDocument) -> bytes:
        return self._html(string=invoice_html(doc), base_url=str(ROOT)).write_pdf(
            stylesheets=[self._css], font_config=self._fonts
        )


def _renderer(name: str) -> Any:
    return render_invoice if name == "reportlab" else WeasyRenderer()


# ---------------------------------------------------------------------------------------
# Equivalence check (in the parent process, before any timing)


def _expected_texts(doc: InvoiceDocument) -> list[str]:
    cur = doc.currency
    texts = [doc.seller.name, doc.buyer.name, f"No. {doc.number}", doc.title]
    texts += [line.description for line in doc.lines]
    texts += [format_amount(net, cur) for net in doc.totals.line_nets]
    texts += [format_amount(doc.totals.subtotal, cur), format_amount(doc.totals.total, cur)]
    texts += [f"Tax {g.rate:f}% on {format_amount(g.net, cur)}" for g in doc.totals.taxes]
    texts += [format_amount(g.tax, cur) for g in doc.totals.taxes]
    texts += [f"IBAN: {doc.payment.iban}", f"Payment reference: {doc.payment.reference}"]
    texts += ["Never trust bank details", doc.footer[:40]]
    return texts


def _check_pdf(data: bytes, doc: InvoiceDocument, who: str) -> tuple[int, list[str]]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    pages = [" ".join(page.extract_text().split()) for page in reader.pages]
    text = " ".join(pages)
    missing = [t for t in _expected_texts(doc) if " ".join(t.split()) not in text]
    total = len(pages)
    for n, page in enumerate(pages, start=1):
        if f"Page {n} of {total}" not in page:
            missing.append(f"'Page {n} of {total}' on page {n}")
        if "work package" in page and "Unit price" not in page:
            missing.append(f"the table header on page {n}")
    fonts = {
        str(font["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].get_object().values()
    }
    if not any("DejaVuSans" in f.replace("-", "") for f in fonts):
        missing.append(f"DejaVu Sans among the fonts of {who}'s PDF ({sorted(fonts)})")
    return total, missing


def check_equivalence() -> dict[str, Any]:
    """Render both sizes with both renderers; the same page count and all expected texts
    in both, or SystemExit with what differs."""
    weasy = WeasyRenderer()
    result = {}
    for label, lines, want_pages in (("1-page", LINES_1, 1), ("20-page", LINES_20, 20)):
        doc = sample_document(lines)
        counts = {}
        for who, render in (("reportlab", render_invoice), ("WeasyPrint", weasy)):
            pages, missing = _check_pdf(render(doc), doc, who)
            if missing:
                raise SystemExit(f"{label} {who}: not found in the PDF's text: {missing[:10]}")
            counts[who] = pages
        if set(counts.values()) != {want_pages}:
            raise SystemExit(f"{label}: page counts differ from {want_pages}: {counts}")
        result[label] = {"pages": want_pages, "texts_checked": len(_expected_texts(doc))}
        print(f"  equivalent: {label}, {want_pages} page(s) each, all texts found", flush=True)
    return result


# ---------------------------------------------------------------------------------------
# Worker: one renderer, one size, in a fresh process


def _status_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process from /proc: unlike ru_maxrss, which
    Linux carries over from the parent across fork and exec, VmHWM starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_worker(name: str, lines: int) -> dict[str, Any]:
    """Memory of ``name`` rendering a ``lines``-line invoice, in this fresh process."""
    render = _renderer(name)
    doc = sample_document(lines)
    render(doc)  # loads the fonts: a one-off cost of the process, not of an invoice
    rss_start = _status_mib("VmRSS")
    tracemalloc.start()
    render(doc)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "tracemalloc_peak_mib": peak / 2**20,
        "rss_after_first_render_mib": rss_start,
        "peak_rss_mib": _status_mib("VmHWM"),
    }


def _batch(render: Any, doc: InvoiceDocument, min_seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while True:
        render(doc)
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return count / elapsed


def timing_worker(lines: int, batches: int, min_seconds: float) -> dict[str, Any]:
    """Both renderers on a ``lines``-line invoice, their batches alternating, so that each
    pair of batches ran under the same load of a shared machine."""
    renderers = {name: _renderer(name) for name in ("reportlab", "weasyprint")}
    doc = sample_document(lines)
    for render in renderers.values():
        for _ in range(3):
            render(doc)
    rates: dict[str, list[float]] = {name: [] for name in renderers}
    for _ in range(batches):
        for name, render in renderers.items():
            rates[name].append(_batch(render, doc, min_seconds))
    ratios = [r / w for r, w in zip(rates["reportlab"], rates["weasyprint"], strict=True)]
    return {
        "lines": lines,
        "batch_rates": rates,
        "rates": {name: statistics.median(values) for name, values in rates.items()},
        "pair_ratios": ratios,
        "ratio": statistics.median(ratios),
    }


def profile_reportlab(lines: int, renders: int = 30) -> str:
    """cProfile of ``renders`` reportlab renders, the top functions by cumulative time."""
    import cProfile
    import pstats

    doc = sample_document(lines)
    render_invoice(doc)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(renders):
        render_invoice(doc)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def run_worker(*args: str) -> dict[str, Any]:
    """This module with ``--worker`` and ``args`` in a fresh process (group); its JSON."""
    cmd = [sys.executable, "-m", "benchmarks.pdf_render", "--worker", *args]
    process = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.returncode != 0:
        raise SystemExit(f"the worker {' '.join(args)} failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pdf_render",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, help="write pdf_render.json and pdf_render.md here")
    parser.add_argument("--batches", type=int, default=5, help="timed batches (default 5)")
    parser.add_argument(
        "--min-batch-seconds", type=float, default=1.0, help="length of a batch (default 1.0)"
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="LINES",
        help="only print a cProfile of invoices/pdf.py rendering a LINES-line invoice",
    )
    parser.add_argument("--worker", choices=["memory", "timing"], help=argparse.SUPPRESS)
    parser.add_argument("--renderer", choices=["reportlab", "weasyprint"], help=argparse.SUPPRESS)
    parser.add_argument("--lines", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        print(profile_reportlab(args.profile))
        return
    if args.worker == "memory":
        print(json.dumps(memory_worker(args.renderer, args.lines)))
        return
    if args.worker == "timing":
        print(json.dumps(timing_worker(args.lines, args.batches, args.min_batch_seconds)))
        return

    print("Checking that both renderers print the same invoice ...", flush=True)
    equivalence = check_equivalence()
    results: dict[str, dict[str, Any]] = {}
    for label, lines in (("1-page", LINES_1), ("20-page", LINES_20)):
        memory = {}
        for name in ("reportlab", "weasyprint"):
            print(f"Memory of {name}, {label} invoice ({lines} lines) ...", flush=True)
            memory[name] = run_worker("memory", "--renderer", name, "--lines", str(lines))
        print(f"Timing both, {label} invoice, alternating batches ...", flush=True)
        timing = run_worker(
            "timing",
            "--lines",
            str(lines),
            "--batches",
            str(args.batches),
            "--min-batch-seconds",
            str(args.min_batch_seconds),
        )
        print(
            f"  {timing['rates']['reportlab']:.2f} and {timing['rates']['weasyprint']:.2f} "
            f"invoices/s: {timing['ratio']:.1f}x",
            flush=True,
        )
        results[label] = {"memory": memory, "timing": timing}

    rows = [
        "| invoice | renderer | invoices/s (median) | tracemalloc peak, 1 render "
        "| peak RSS (after 1st render) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    verdicts = {}
    for label, result in results.items():
        for name in ("reportlab", "weasyprint"):
            m = result["memory"][name]
            rows.append(
                f"| {label} | {'invoices/pdf.py' if name == 'reportlab' else 'WeasyPrint'} "
                f"| {result['timing']['rates'][name]:.2f} | {m['tracemalloc_peak_mib']:.1f} MiB "
                f"| {m['peak_rss_mib']:.0f} MiB ({m['rss_after_first_render_mib']:.0f} MiB) |"
            )
        ratio = result["timing"]["ratio"]
        verdicts[label] = {"ratio": ratio, "met": ratio >= TARGET_RATIO}
    body = [
        *rows,
        "",
        "| invoice | reportlab ÷ WeasyPrint (median of paired batches) | target >= 20x |",
        "| --- | ---: | --- |",
        *(
            f"| {label} | {v['ratio']:.1f}x | {'met' if v['met'] else 'NOT met'} |"
            for label, v in verdicts.items()
        ),
        "",
        f"Rates: {args.batches} batches of at least {args.min_batch_seconds} s per renderer, "
        "after 3 untimed renders, the two renderers' batches alternating in one process; "
        "the ratio is the median of the ratios of adjacent batches. Memory, in a fresh process "
        "per renderer and size: tracemalloc peak of one render after a first one (Python "
        "allocations only; WeasyPrint's Pango and HarfBuzz allocate in C), and the process's "
        "peak RSS (VmHWM) with its RSS after the first render in brackets. Equivalence: same "
        "page count (1 and 20) and every expected text found with pypdf in both PDFs.",
    ]
    write_results(
        args.out,
        "pdf_render",
        {
            "versions": versions("reportlab", "weasyprint", "pypdf", "Django"),
            "equivalence": equivalence,
            "results": results,
            "ratios": verdicts,
            "target_ratio": TARGET_RATIO,
        },
        body,
    )


if __name__ == "__main__":
    main()
