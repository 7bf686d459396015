"""What every comms service shares: who may write (every member of either side but viewers),
who belongs to the partnership, and a person's time zone."""

import zoneinfo

from partnership.models import Membership
from partnership.permissions import EDITORS, has_role, require_role

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def require_member(user, partnership, message=None):
    """Comms' one rule of who writes: a member of either side who is not a viewer (403
    otherwise). Returns ``(side, membership)``."""
    return require_role(user, partnership, EDITORS, None, message)


def can_write(user, partnership) -> bool:
    """:func:`require_member` as a yes/no, for pages that offer the forms."""
    return has_role(user, partnership, EDITORS)


def partnership_people(partnership) -> set[int]:
    return set(
        Membership.objects.filter(
            organization_id__in=[partnership.oem_id, partnership.ems_id]
        ).values_list("user_id", flat=True)
    )


def user_zone(user) -> zoneinfo.ZoneInfo:
    """The recipient's zone: their own, else their first organisation's, else UTC."""
    name = (
        user.time_zone
        or (
            Membership.objects.filter(user=user)
            .values_list("organization__time_zone", flat=True)
            .first()
        )
        or "UTC"
    )
    return zoneinfo.ZoneInfo(name)
