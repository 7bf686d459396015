"""What every schedules service shares: who may write, and weeks."""

import datetime as dt

from django.utils.translation import gettext_lazy as _

from partnership.permissions import EDITORS, can_edit, require_role

#: Who may change schedules, on the side each service names: every role but viewers.
WRITE_ROLES = EDITORS
#: Weeks of capacity and load the pages and alerts look ahead.
WEEKS_AHEAD = 26

VIEWERS_CANNOT = _("Viewers cannot change schedules.")


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def require_side(user, partnership, side=None):
    """A writing member of ``side`` (either side when None), else 403; ``(side, membership)``."""
    return require_role(user, partnership, EDITORS, side, None if side else VIEWERS_CANNOT)


def can_write(user, partnership, side=None) -> bool:
    return can_edit(user, partnership, side)
