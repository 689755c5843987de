"""Message texts: rendered when queued, with a placeholder where the link goes."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from business.services import profile_get

__all__ = ["LINK", "render_message"]

LINK = "[[portal-link]]"  # replaced by a freshly minted link when the message is sent


def render_message(template: str, context: dict[str, Any]) -> tuple[str, str]:
    """The text and HTML bodies of ``notifications/<template>``, with the link placeholder."""
    context = {"business": profile_get().business_name, "link": LINK, **context}
    return (
        render_to_string(f"notifications/{template}.txt", context),
        render_to_string(f"notifications/{template}.html", context),
    )
