"""FilterSets of the integration lists (search ``q``, filters, and the ``sort`` OrderingFilter)."""

import django_filters
from django.utils.translation import gettext_lazy as _

from partnership.filters import AnyYesNo

from .models import ApiKey, WebhookDelivery, WebhookSubscription


class DeliveryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="event", lookup_expr="icontains", label=_("Event"))
    status = django_filters.ChoiceFilter(
        choices=WebhookDelivery.Status.choices, label=_("Status"), empty_label=_("All")
    )
    # A plain id, as the webhook list links it; ids of other organisations match nothing.
    subscription = django_filters.NumberFilter(
        field_name="subscription_id",
        label=_("Webhook id"),
        widget=django_filters.widgets.forms.HiddenInput,
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("created_at", "time"),
            ("event", "event"),
            ("status", "status"),
            ("attempts", "attempts"),
            ("response_status", "response"),
        ),
        label=_("Sort by"),
    )

    class Meta:
        model = WebhookDelivery
        fields = ["q", "status", "subscription"]


class ApiKeyFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label=_("Search"))
    sort = django_filters.OrderingFilter(
        fields=(
            ("name", "name"),
            ("created_at", "created"),
            ("last_used_at", "last_used"),
            ("expires_at", "expires"),
        ),
        label=_("Sort by"),
    )

    class Meta:
        model = ApiKey
        fields = ["q"]


class WebhookFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="url", lookup_expr="icontains", label=_("URL"))
    active = django_filters.BooleanFilter(label=_("Active"), widget=AnyYesNo())
    sort = django_filters.OrderingFilter(
        fields=(("url", "url"), ("active", "status"), ("created_at", "created")),
        label=_("Sort by"),
    )

    class Meta:
        model = WebhookSubscription
        fields = ["q", "active"]
