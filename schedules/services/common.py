"""What every schedules service shares: who may do what (one table, :data:`RIGHTS`, that the
services enforce and the pages ask), and weeks."""

import datetime as dt

from django.utils.translation import gettext_lazy as _

from partnership import events
from partnership.permissions import EDITORS, EMS, OEM, holds, require_role

#: Who may change schedules, on the side each right names: every role but viewers.
WRITE_ROLES = EDITORS
#: Weeks of capacity and load the pages and alerts look ahead.
WEEKS_AHEAD = 26

#: right → the side that has it (None: either side). Every role but viewers, on that side.
RIGHTS = {
    "edit_products": OEM,  # create and change products, say which documents are required
    "upload_documents": None,
    "review_documents": EMS,  # the EMS builds from them
    "release": None,
    "keep_long_lead": EMS,  # the material the EMS buys ahead
    "order_runs": OEM,  # order, change, re-prioritise runs (run_actions has the statuses)
    "confirm_runs": EMS,  # confirm, propose dates, answer re-prioritisations
    "publish_demand": OEM,
    "publish_capacity": EMS,
    "acknowledge_changes": EMS,  # breaches of the flex terms
    "acknowledge_alerts": None,
}

VIEWERS_CANNOT = _("Viewers cannot change schedules.")


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def rights(side, membership) -> frozenset:
    """The rights of a member of ``side`` with ``membership`` (a page passes what it already
    has); templates show exactly the actions these allow."""
    return frozenset(
        right for right, who in RIGHTS.items() if holds(side, membership, WRITE_ROLES, who)
    )


def require_right(user, partnership, right: str):
    """The right, else 403; ``(side, membership)``."""
    return require_side(user, partnership, RIGHTS[right])


def require_side(user, partnership, side=None):
    """A writing member of ``side`` (either side when None), else 403; ``(side, membership)``."""
    return require_role(user, partnership, EDITORS, side, None if side else VIEWERS_CANNOT)


def assign(obj, fields: dict, before: dict | None = None) -> list[str] | None:
    """Set ``fields`` on ``obj`` (an empty external id is none); the names of the fields that
    changed since ``before`` (its snapshot now, if not given) — None for an object not saved
    yet (all of it is new)."""
    if obj.pk is not None and before is None:
        before = events.snapshot(obj)
    for name, value in fields.items():
        setattr(obj, name, value)
    if getattr(obj, "external_id", None) == "":
        obj.external_id = None
    return None if obj.pk is None else events.changed_fields(obj, before)
