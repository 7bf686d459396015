"""Tenant scoping: the single mechanism every page, API endpoint, export, PDF and task reuses.

The tenant boundary is the partnership. A user sees a partnership when one of their
organisations is party to it, and every other object hangs off a partnership. Start every
read from ``Model.objects.for_user(user)``; in views use :class:`PartnershipScopedMixin`,
in API viewsets :class:`partnership.api.viewsets.ScopedViewSetMixin`. A foreign or malformed
id therefore answers 404 — the object does not exist for that user.
"""

from functools import cached_property

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from .models import Membership, Partnership, Role


class ScopedQuerySet(models.QuerySet):
    """Base queryset for models that belong to a partnership.

    Subclasses set ``partnership_lookup`` when the path to the partnership is not a direct
    ``partnership`` foreign key (for example ``"contract__partnership"``).
    """

    partnership_lookup = "partnership"

    def for_user(self, user):
        return self.filter(**{f"{self.partnership_lookup}__in": Partnership.objects.for_user(user)})

    def for_partnership(self, partnership):
        return self.filter(**{self.partnership_lookup: partnership})


def scoped_partnership(request, pk) -> Partnership:
    """The partnership ``pk`` if the user may see it, else 404 — the one lookup every
    partnership page and download starts from."""
    return get_object_or_404(Partnership.objects.for_user(request.user).with_parties(), pk=pk)


class PartnershipScopedMixin(LoginRequiredMixin):
    """For views under ``partnerships/<int:partnership_pk>/…``.

    Resolves ``self.partnership`` through the user's scope (404 otherwise) and
    ``self.membership``: the user's membership on their side of it.
    """

    partnership_kwarg = "partnership_pk"

    @cached_property
    def partnership(self):
        return scoped_partnership(self.request, self.kwargs[self.partnership_kwarg])

    @cached_property
    def membership(self) -> Membership | None:
        """As ``Partnership.membership_of`` (OEM side first), from the memberships the
        middleware has already read for the navigation: no query per page (#9)."""
        p = self.partnership
        loaded = getattr(self.request, "memberships", None)
        if loaded is None:
            return p.membership_of(self.request.user)
        mine = [m for m in loaded if m.organization_id in (p.oem_id, p.ems_id)]
        mine.sort(key=lambda m: m.organization_id != p.oem_id)
        return mine[0] if mine else None

    def refuse_viewers(self) -> None:
        """403 to a viewer (or a non-member) before a write's input is read: every POST action
        of the page is for writing roles, so the role is checked first (a viewer must not get
        a form error or a redirect for a form they may not send)."""
        m = self.membership
        if m is None or m.role == Role.VIEWER:
            raise PermissionDenied(_("Viewers cannot change this."))

    def side_membership(self) -> tuple[str | None, Membership | None]:
        """``contracts.services.side_membership`` for this page's user and partnership."""
        m = self.membership
        return (self.partnership.side_of(m.organization), m) if m else (None, None)

    def run(self, action, success):
        """Call a service; its ValidationError becomes an error message, success a message.
        (PermissionDenied passes through: Django answers 403.)"""
        try:
            action()
        except ValidationError as exc:
            messages.error(self.request, " ".join(exc.messages))
            return False
        messages.success(self.request, success)
        return True

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["partnership"] = self.partnership
        ctx["membership"] = self.membership
        return ctx
