"""API permissions that apply before a request body is read."""

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions

from partnership.models import Membership, Role


class ViewersReadOnly(permissions.BasePermission):
    """Someone who is a viewer in every organisation they belong to changes nothing: refused
    with 403 before the body is validated, so a viewer learns "not allowed", not "field x is
    required". (Per-partnership roles are still checked by the services: a buyer of one
    organisation who views another is refused there.) POSTs that store nothing — a dry run,
    ``@action(…, changes_nothing=True)`` — stay open."""

    message = _("Viewers cannot change this.")

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS or getattr(view, "changes_nothing", False):
            return True
        user = request.user
        if not getattr(user, "is_authenticated", False):
            return True  # IsAuthenticated answers
        roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
        return not roles or roles != {Role.VIEWER}
