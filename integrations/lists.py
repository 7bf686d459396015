"""The integration lists (partnership/lists.py): the webhook delivery log of an organisation."""

from django.utils.translation import gettext_lazy as _

from partnership.lists import Column, ListSpec, register

from .filters import DeliveryFilter
from .models import WebhookDelivery


@register
class DeliveryList(ListSpec):
    """Scope: the organisation (the view has checked membership)."""

    name = "integrations.deliveries"
    filename = "webhook-deliveries"
    filterset_class = DeliveryFilter
    default_ordering = ("-created_at",)
    columns = (
        Column(_("Time"), "created_at", sort="time"),
        Column(_("Event"), "event", sort="event"),
        Column(_("Event id"), lambda d: str(d.event_id), table=False),
        Column(_("Partnership"), "partnership", table=False),
        Column(_("Webhook"), "subscription.url"),
        Column(_("Status"), "get_status_display", sort="status"),
        Column(_("Attempts"), "attempts", sort="attempts"),
        Column(_("Response"), "response_status", sort="response"),
        Column(_("Delivered"), "delivered_at", table=False),
        Column(_("Error"), "error", table=False),
    )

    def queryset(self, user, scope):
        return WebhookDelivery.objects.filter(
            subscription__organization=scope, subscription__organization__memberships__user=user
        ).select_related("subscription", "partnership__oem", "partnership__ems")
