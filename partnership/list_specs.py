"""The core app's lists (partnership/lists.py): partnerships on the dashboard, notifications."""

from django.utils.translation import gettext_lazy as _

from .filters import DashboardFilter, NotificationFilter
from .lists import Column, ListSpec, register
from .models import Notification, Partnership


@register
class PartnershipList(ListSpec):
    """The partnerships of the organisation the user acts as (scope), else all of theirs."""

    name = "partnership.partnerships"
    filename = "partnerships"
    filterset_class = DashboardFilter
    default_ordering = ("ems__name", "oem__name")
    columns = (
        Column(_("OEM"), "oem.name", sort="oem"),
        Column(_("EMS"), "ems.name", sort="ems"),
        Column(_("Status"), "get_status_display", sort="status"),
        Column(_("Start date"), "start_date", sort="start_date"),
        Column(_("Scope"), "description", table=False),
    )

    def queryset(self, user, scope):
        return Partnership.objects.for_user(user, organization=scope).with_parties()


@register
class NotificationList(ListSpec):
    name = "partnership.notifications"
    filename = "notifications"
    filterset_class = NotificationFilter
    default_ordering = ("-created_at",)
    columns = (
        Column(_("Subject"), "subject", sort="subject"),
        Column(_("Message"), "body", table=False),
        Column(_("Partnership"), lambda n: f"{n.partnership.oem.name} ↔ {n.partnership.ems.name}"),
        Column(_("Time"), "created_at", sort="created"),
        Column(_("Read"), "read_at", table=False),
    )

    def queryset(self, user, scope):
        return Notification.objects.filter(
            user=user, partnership__in=Partnership.objects.for_user(user)
        ).select_related("partnership__oem", "partnership__ems")
