"""Staff roles: Django groups with a fixed set of permissions each.

The roles a consultant's practice has (docs/security.md, "Staff roles"):

- **owner**: every permission (issue, void, credit, links, bank details, staff and roles).
- **assistant**: prepares work: clients, contacts (an emailed invitation, a password reset to
  the contact's own address), uploads and drafts, the business profile without its bank
  details, footer, email and phone (printed with the payment details). May not issue,
  void, mark paid, credit, make or revoke links, see an invitation link, resolve integrity
  alerts, change a client's 2FA requirement or (de)activate a client or contact
  (``clients.change_access_policy``), nor change staff users or roles.
- **bookkeeper**: reads everything and marks invoices paid (reconciling the bank statement is
  their work; marking paid sends nothing and exposes nothing). Nothing else.

``roles_apply`` sets each group's permissions to exactly its definition, so that running it
again (``manage.py setup_roles``) also undoes drift made by hand in the admin. It takes the
model classes so that the data migration can pass its historical ones.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ASSISTANT",
    "BOOKKEEPER",
    "OWNER",
    "ROLES",
    "role_permissions",
    "roles_apply",
    "roles_setup",
]

OWNER, ASSISTANT, BOOKKEEPER = "owner", "assistant", "bookkeeper"

# The apps whose objects staff look at; every role may view all of them.
VIEWABLE_APPS = ("audit", "business", "clients", "invoices", "notifications", "otp_totp", "axes")

ASSISTANT_EXTRA = frozenset(
    {
        "clients.add_client",
        "clients.change_client",
        "clients.add_contact",
        "clients.change_contact",
        "clients.add_invitation",  # emailed to the contact's own address
        "clients.reset_contact_password",
        "invoices.add_invoice",
        "invoices.change_invoice",
        "invoices.delete_invoice",  # drafts only: the service refuses anything else
        "invoices.add_generatedinvoice",
        "invoices.change_generatedinvoice",
        "invoices.delete_generatedinvoice",
        "invoices.add_invoiceline",
        "invoices.change_invoiceline",
        "invoices.delete_invoiceline",
        "business.change_businessprofile",  # not business.change_bank_details
        # not clients.change_access_policy (requires_2fa, is_active): the owner's
    }
)
BOOKKEEPER_EXTRA = frozenset({"invoices.mark_invoice_paid"})
ROLES = (OWNER, ASSISTANT, BOOKKEEPER)


def _label(permission: Any) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def role_permissions(role: str, permissions: list[Any]) -> list[Any]:
    """The permissions of ``role`` out of ``permissions`` (all Permission rows)."""
    if role == OWNER:
        return list(permissions)
    extra = ASSISTANT_EXTRA if role == ASSISTANT else BOOKKEEPER_EXTRA
    return [
        p
        for p in permissions
        if _label(p) in extra
        or (p.codename.startswith("view_") and p.content_type.app_label in VIEWABLE_APPS)
    ]


def roles_apply(*, group_model: Any, permission_model: Any) -> dict[str, int]:
    """Create the role groups if missing and set each one's permissions to its definition.
    Returns the number of permissions per role. Idempotent."""
    permissions = list(permission_model.objects.select_related("content_type"))
    counts = {}
    for role in ROLES:
        group, _ = group_model.objects.get_or_create(name=role)
        granted = role_permissions(role, permissions)
        group.permissions.set(granted)
        counts[role] = len(granted)
    return counts


def roles_setup(*, actor: Any = None) -> dict[str, int]:
    """(Re)create the role groups with their permissions, audited; for ``setup_roles``."""
    from django.contrib.auth.models import Group, Permission
    from django.db import transaction

    from audit.models import EventKind
    from audit.services import audit_record

    with transaction.atomic():
        counts = roles_apply(group_model=Group, permission_model=Permission)
        audit_record(
            kind=EventKind.ROLE_CHANGED,
            actor=actor,
            actor_email="" if actor else "command line",
            detail="roles set up: "
            + ", ".join(f"{r} ({n} permissions)" for r, n in counts.items()),
        )
    return counts
