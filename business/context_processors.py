"""The bank-details notice on every client page for 90 days after a change."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils import timezone

from business.models import BusinessProfile

NOTICE_DAYS = 90


def bank_notice(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_contact", False):
        return {}
    changed = (
        BusinessProfile.objects.filter(pk=1)
        .values_list("bank_details_changed_at", flat=True)
        .first()
    )
    if changed and timezone.now() - changed <= dt.timedelta(days=NOTICE_DAYS):
        phone = BusinessProfile.objects.filter(pk=1).values_list("phone", flat=True).first()
        return {"bank_notice_date": changed, "bank_notice_phone": phone}
    return {}
