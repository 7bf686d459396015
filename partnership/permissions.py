"""Object-level permissions: role × side (OEM/EMS) × partnership/organisation."""

from .models import Membership, Role


def membership_in(user, organization) -> Membership | None:
    if not getattr(user, "is_authenticated", False) or organization is None:
        return None
    return Membership.objects.filter(user=user, organization=organization).first()


def is_org_admin(user, organization) -> bool:
    m = membership_in(user, organization)
    return bool(m and m.role == Role.ADMIN)


def can_edit_partnership(user, partnership) -> bool:
    """Organisation admins of either side manage the partnership record itself."""
    return Membership.objects.filter(
        user=user, role=Role.ADMIN, organization_id__in=[partnership.oem_id, partnership.ems_id]
    ).exists()
