"""The portal's invoice pages. Thin: parse, call a selector or service, respond."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from audit.models import EventKind
from audit.services import audit_record
from business.services import profile_get
from clients.access import access_decision, access_refusal
from clients.decorators import contact_required
from invoices import selectors, services, storage
from invoices.money import LineInput, compute_totals
from invoices.tokens import link_check


def _history_cursor(request: HttpRequest) -> dict[str, object]:
    """The page asked for: ``?older=<id>``, ``?newer=<id>`` (an invoice's public id),
    ``?page=last``, or nothing for the first page. Two of them at once, or an id that is
    not a UUID, is a tampered URL: 404. Any other ``page`` (old page numbers) is the first."""
    older, newer = request.GET.get("older"), request.GET.get("newer")
    oldest = request.GET.get("page") == "last"
    if (older is not None) + (newer is not None) + oldest > 1:
        raise Http404
    try:
        return {
            "older_than": UUID(older) if older is not None else None,
            "newer_than": UUID(newer) if newer is not None else None,
            "oldest": oldest,
        }
    except ValueError:
        raise Http404 from None


@require_GET
@never_cache
@contact_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    page = selectors.invoice_history_page(contact=request.user, **_history_cursor(request))
    if page is None:
        raise Http404
    totals = selectors.invoice_year_totals_for_contact(contact=request.user)
    return render(request, "invoices/list.html", {"page": page, "year_totals": totals})


def _get_invoice(request: HttpRequest, public_id: UUID):
    invoice = selectors.invoice_get_for_contact(contact=request.user, public_id=public_id)
    if invoice is None:
        raise Http404
    return invoice


def _payment_details(invoice):
    """The consultant's current bank details, for an unpaid invoice, if there are any."""
    if not invoice.is_unpaid:
        return None
    profile = profile_get()
    return profile if (profile.iban or profile.account_number or profile.account_holder) else None


@require_GET
@never_cache
@contact_required
def invoice_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    invoice = _get_invoice(request, public_id)
    downloads = selectors.invoice_downloads_for_contact(contact=request.user, invoice=invoice)
    lines = list(invoice.lines.all())
    totals = compute_totals(
        [LineInput(x.description, x.quantity, x.unit_price, x.tax_rate, x.unit) for x in lines],
        invoice.currency,
    )
    context = {
        "invoice": invoice,
        "downloads": downloads[:50],
        "lines": list(zip(lines, totals.line_nets, strict=True)),
        "taxes": totals.taxes if lines else (),
        "payment": _payment_details(invoice),
    }
    return render(request, "invoices/detail.html", context)


@require_POST
@never_cache
@contact_required
def invoice_download_link(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The Download button: mint a short-lived link for this invoice and follow it."""
    invoice = _get_invoice(request, public_id)
    try:
        _link, token = services.link_create(
            invoice=invoice,
            ttl=timedelta(seconds=settings.DOWNLOAD_LINK_TTL),
            by=request.user,
            max_downloads=1,
            note="portal download button",
            request=request,
        )
    except services.InvoiceError:
        raise Http404 from None
    return redirect("download", token=token)


@require_GET
def download(request: HttpRequest, token: str) -> HttpResponse:
    """Serve a PDF through a link. Needs HTTPS, a logged-in contact of the owning client and
    a usable link; every failure of the latter two kinds is the same 404."""
    if not request.is_secure():
        # Even with the redirect switched off, an invoice never travels in clear text.
        return render(request, "invoices/https_required.html", status=403)
    # The 2FA gate already stops an unverified session; the view does not rely on it
    # (without the gate in MIDDLEWARE, the rule is applied here all the same).
    refusal = access_refusal(request, access_decision(request, contact_only=False))
    if refusal is not None:
        refusal["Cache-Control"] = "private, no-store"
        return refusal
    served = services.download_begin(token=token, request=request)
    if served is None:
        audit_record(kind=EventKind.DOWNLOAD_REFUSED, request=request, detail="unusable link")
        raise Http404
    if settings.SENDFILE == "nginx":
        # The proxy sends the file; Django has authorized, checked and audited it.
        served.handle.close()
        response = HttpResponse(content_type="application/pdf")
        response["X-Accel-Redirect"] = settings.SENDFILE_PREFIX + served.invoice.pdf_name
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=served.invoice.download_filename
        )
    else:
        response = FileResponse(
            served.handle,
            as_attachment=True,
            filename=served.invoice.download_filename,
            content_type="application/pdf",
        )
        # Django's 4 KiB default means 512 writes for a 2 MB PDF; over TLS in gunicorn
        # (no sendfile there) each is a Python-level encrypt and send.
        response.block_size = storage.CHUNK
    # Set here rather than by never_cache, which would add directives around it.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
@never_cache
@contact_required
def invoice_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link in a notification email: after login, the invoice's page. Works only for a
    contact of the owning client and only while the link is valid; else the usual 404."""
    link = link_check(token=token, client_id=request.user.client_id)
    if link is None:
        audit_record(kind=EventKind.DOWNLOAD_REFUSED, request=request, detail="unusable page link")
        raise Http404
    response = redirect("invoice-detail", public_id=link.invoice.public_id)
    response["Referrer-Policy"] = "no-referrer"
    return response
