"""Tell people about things: a Notification row per recipient plus an e-mail, after commit.

Recipients are always members of one side of the partnership the event belongs to, so a
notification can never cross the tenant boundary.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from .models import Membership, Notification, NotificationSettings, Partnership, Role, User


def members(partnership: Partnership, side: str, roles=None) -> list[User]:
    """Active users of one side ('oem' or 'ems') of the partnership, optionally by role."""
    org_id = partnership.oem_id if side == "oem" else partnership.ems_id
    qs = Membership.objects.filter(organization_id=org_id, user__is_active=True)
    if roles:
        qs = qs.filter(role__in=roles)
    return [m.user for m in qs.select_related("user").order_by("user__email")]


def key_people(partnership: Partnership, side: str) -> list[User]:
    """Who speaks for a side: its key contact, else its buyers/account managers and admins."""
    contact = partnership.oem_contact if side == "oem" else partnership.ems_contact
    if contact is not None:
        return [contact]
    roles = [Role.BUYER, Role.ADMIN] if side == "oem" else [Role.ACCOUNT_MANAGER, Role.ADMIN]
    return members(partnership, side, roles)


def notify(
    users, *, partnership: Partnership, subject: str, body: str = "", url: str = ""
) -> list[Notification]:
    # Addresses in the reserved .invalid TLD (API keys' service users) are nobody to tell.
    unique = list({u.pk: u for u in users if not u.email.endswith(".invalid")}.values())
    rows = Notification.objects.bulk_create(
        [
            Notification(user=u, partnership=partnership, subject=subject[:200], body=body, url=url)
            for u in unique
        ]
    )
    link = settings.SITE_URL.rstrip("/") + url if url else ""

    # In-app notifications always; e-mail only to those who want it.
    muted = set(
        NotificationSettings.objects.filter(user__in=unique, email_enabled=False).values_list(
            "user_id", flat=True
        )
    )

    def send():
        text = "\n\n".join(part for part in (body, link) if part)
        html = render_to_string(
            "partnership/email/notification.html",
            {"subject": subject, "body": body, "link": link, "partnership": partnership},
        )
        for user in unique:
            if user.pk in muted:
                continue
            send_mail(
                settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject,
                text,
                None,
                [user.email],
                html_message=html,
            )

    # robust: a mail server hiccup is logged, it must not undo or fail the business action.
    transaction.on_commit(send, robust=True)
    return rows
