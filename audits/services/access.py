"""Who may do what in audits, in the portal's one vocabulary (``partnership.permissions``):
the OEM's auditors plan and conduct audits, raise findings and verify 8Ds; the EMS's editors
self-assess and answer findings with their 8D. Views, templates and the API upserts ask here
(``can_*``/``require_*``), so each rule is written once."""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from partnership.models import Role
from partnership.permissions import (
    AUDITORS,
    EDITORS,
    EMS,
    EMS_EDITORS,
    OEM,
    holds,
    membership_in,
    require_role,
    side_membership,
)


def is_auditor(side, membership) -> bool:
    """Is this ``(side, membership)`` (``partnership.permissions.side_membership``, or a
    page's, already read) an OEM quality engineer, buyer or admin?"""
    return holds(side, membership, AUDITORS, OEM)


def is_ems_editor(side, membership) -> bool:
    """Is this ``(side, membership)`` an EMS member who can edit?"""
    return holds(side, membership, EMS_EDITORS, EMS)


def can_audit(user, partnership) -> bool:
    """An OEM quality engineer, buyer or admin: plans, scores, raises findings, verifies 8Ds."""
    return is_auditor(*side_membership(user, partnership))


def can_act_for_ems(user, partnership) -> bool:
    """An EMS member who can edit: self-assesses and answers findings with an 8D."""
    return is_ems_editor(*side_membership(user, partnership))


def require_oem_auditor(user, partnership):
    """:func:`can_audit` or 403; returns the membership."""
    _side, membership = require_role(
        user,
        partnership,
        AUDITORS,
        OEM,
        _("Only the OEM's quality engineers, buyers and admins do this."),
    )
    return membership


def require_ems_member(user, partnership):
    """:func:`can_act_for_ems` or 403; returns the membership."""
    _side, membership = require_role(
        user, partnership, EMS_EDITORS, EMS, _("Only EMS members who can edit do this.")
    )
    return membership


def require_editor(user, partnership, message) -> tuple[str, object]:
    """A member of either side who is not a viewer, or 403 with ``message``; ``(side,
    membership)``."""
    return require_role(user, partnership, EDITORS, None, message)


def require_org_member(user, organization, message=None):
    """A member of the organisation who is not a viewer: it maintains its own records
    (certificates, supplier profile)."""
    m = membership_in(user, organization)
    if m is None or m.role == Role.VIEWER:
        raise PermissionDenied(
            message or _("Only members of %(org)s maintain its records.") % {"org": organization}
        )
    return m
