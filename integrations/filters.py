"""FilterSets of the integration lists (search ``q``, filters, and the ``sort`` OrderingFilter)."""

import django_filters
from django.utils.translation import gettext_lazy as _

from .models import WebhookDelivery


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
