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
    row = BusinessProfile.objects.filter(pk=1).values("bank_details_changed_at", "phone").first()
    changed = row and row["bank_details_changed_at"]
    if changed and timezone.now() - changed <= dt.timedelta(days=NOTICE_DAYS):
        return {"bank_notice_date": changed, "bank_notice_phone": row["phone"]}
    return {}
