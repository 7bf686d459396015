"""The integration lists (partnership/lists.py): an organisation's API keys, webhooks and
their delivery log."""

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from partnership.lists import Column, ListSpec, register
from partnership.models import Membership, Role

from . import webhooks
from .filters import ApiKeyFilter, DeliveryFilter, WebhookFilter
from .models import ApiKey, WebhookDelivery, WebhookSubscription


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


def _key_status(key):
    if key.revoked_at:
        return "revoked"
    return "expired" if key.expires_at and key.expires_at <= timezone.now() else "active"


@register
class ApiKeyList(ListSpec):
    """An organisation's API keys, for its admins only."""

    name = "integrations.api_keys"
    filename = "api-keys"
    filterset_class = ApiKeyFilter
    default_ordering = ("-created_at",)
    page_size = 25
    columns = (
        Column(_("Name"), "name", sort="name"),
        Column(_("Scopes"), lambda k: " ".join(k.scopes)),
        Column(_("Role"), lambda k: dict(Role.choices).get(k.acting_role, "")),
        Column(_("Created"), "created_at", sort="created"),
        Column(_("Last used"), "last_used_at", sort="last_used"),
        Column(_("Expires"), "expires_at", sort="expires"),
        Column(_("Status"), _key_status),
    )

    def queryset(self, user, scope):
        admins = Membership.objects.filter(organization=scope, user=user, role=Role.ADMIN)
        role = Membership.objects.filter(
            organization=OuterRef("organization"), user=OuterRef("acting_user")
        ).values("role")[:1]
        return (
            ApiKey.objects.filter(
                organization=scope, organization__in=admins.values("organization")
            )
            .select_related("created_by", "acting_user")
            .annotate(acting_role=Subquery(role))
        )


def _events(subscription):
    labels = dict(webhooks.event_choices())
    return ", ".join(str(labels.get(e, e)) for e in subscription.events)


@register
class WebhookList(ListSpec):
    """An organisation's webhook subscriptions, for its members."""

    name = "integrations.webhooks"
    filename = "webhooks"
    filterset_class = WebhookFilter
    default_ordering = ("-created_at",)
    page_size = 25
    columns = (
        Column(_("URL"), "url", sort="url"),
        Column(_("Events"), _events),
        Column(_("Partnership"), lambda s: str(s.partnership) if s.partnership_id else ""),
        Column(_("Status"), lambda s: _("active") if s.active else _("deactivated"), sort="status"),
        Column(_("Created"), "created_at", table=False),
    )

    def queryset(self, user, scope):
        return WebhookSubscription.objects.filter(
            organization=scope, organization__memberships__user=user
        ).select_related("partnership__oem", "partnership__ems", "created_by")
