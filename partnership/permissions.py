"""The portal's one permission vocabulary: role × side (OEM/EMS) × partnership/organisation.

Every app asks here — views and templates through the public ``can_*``/``has_role``, services
through :func:`require_role` — so a role's rights are written once. Apps name their rules
with these role sets (``contracts.services.can_sign``, ``schedules.services.can_confirm``…);
no app imports another app's private checks.

Scope (which partnerships a user sees at all) is ``partnership.scoping``; this module answers
what a member may *do* in a partnership they already see.
"""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from .models import Membership, Organization, Partnership, Role

OEM = Organization.Kind.OEM.value
EMS = Organization.Kind.EMS.value

# --- role sets ------------------------------------------------------------------------------

#: Everyone who may change things: every role but viewers.
EDITORS = frozenset(Role.values) - {Role.VIEWER}
#: Who signs a contract version for its side.
SIGNERS = {
    OEM: frozenset({Role.ADMIN, Role.BUYER}),
    EMS: frozenset({Role.ADMIN, Role.ACCOUNT_MANAGER}),
}
#: The EMS's members who raise decision requests and answer for its side's work (8D, findings).
EMS_EDITORS = frozenset({Role.ADMIN, Role.ACCOUNT_MANAGER, Role.PLANNER, Role.QUALITY})
#: The OEM's members who answer decision requests.
DECISION_ANSWERERS = frozenset({Role.ADMIN, Role.BUYER, Role.QUALITY})
#: The OEM's members who plan and conduct audits and raise findings.
AUDITORS = frozenset({Role.ADMIN, Role.QUALITY, Role.BUYER})
#: Organisation admins.
ADMINS = frozenset({Role.ADMIN})


def side_membership(user, partnership: Partnership) -> tuple[str | None, Membership | None]:
    """``("oem"|"ems", membership)`` of the user in the partnership (OEM side first for people
    in both companies), or ``(None, None)`` for anyone else."""
    if not getattr(user, "is_authenticated", False):
        return None, None
    membership = partnership.membership_of(user)
    if membership is None:
        return None, None
    return partnership.side_of(membership.organization), membership


def holds(member_side, membership, roles=EDITORS, side: str | None = None) -> bool:
    """:func:`has_role` for a ``(side, membership)`` the caller already read (a page reads the
    membership once): a member of ``side`` (either if None) with one of ``roles``."""
    return bool(membership and membership.role in roles and side in (None, member_side))


def has_role(user, partnership: Partnership, roles=EDITORS, side: str | None = None) -> bool:
    """Is the user a member of ``side`` (either side if None) with one of ``roles``?"""
    return holds(*side_membership(user, partnership), roles, side)


def require_role(
    user, partnership: Partnership, roles=EDITORS, side: str | None = None, message=None
) -> tuple[str, Membership]:
    """:func:`has_role` or ``PermissionDenied`` (403) with ``message``; returns
    ``(side, membership)`` for the service to go on with."""
    s, m = side_membership(user, partnership)
    if not holds(s, m, roles, side):
        raise PermissionDenied(message or default_message(side, roles))
    return s, m


def default_message(side, roles) -> str:
    if roles == EDITORS and side is None:
        return _("Viewers cannot change this.")
    who = {OEM: _("OEM"), EMS: _("EMS")}.get(side)
    if who:
        return _("Only %(who)s members who can edit may do this.") % {"who": who}
    return _("Your role cannot do this.")


# --- public checks ----------------------------------------------------------------------------


def membership_in(user, organization) -> Membership | None:
    if not getattr(user, "is_authenticated", False) or organization is None:
        return None
    return Membership.objects.filter(user=user, organization=organization).first()


def is_org_admin(user, organization) -> bool:
    m = membership_in(user, organization)
    return bool(m and m.role in ADMINS)


def require_org_admin(user, organization, message=None) -> None:
    if not is_org_admin(user, organization):
        raise PermissionDenied(message or _("Only an organisation admin can do this."))


def can_edit_partnership(user, partnership) -> bool:
    """Organisation admins of either side manage the partnership record itself."""
    return Membership.objects.filter(
        user=user, role__in=ADMINS, organization_id__in=[partnership.oem_id, partnership.ems_id]
    ).exists()
