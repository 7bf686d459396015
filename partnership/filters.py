import datetime as dt

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Organization, Partnership


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time with any offset, compared in UTC. PostgreSQL refuses offsets beyond
    ±15:59 that ISO 8601 allows (``+21:54``): without this they answered 500."""

    def filter(self, qs, value):
        if value is not None and timezone.is_aware(value):
            value = value.astimezone(dt.UTC)
        return super().filter(qs, value)


class PartnershipFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    status = django_filters.ChoiceFilter(choices=Partnership.Status.choices, label=_("Status"))
    sort = django_filters.OrderingFilter(
        fields=(
            ("oem__name", "oem"),
            ("ems__name", "ems"),
            ("status", "status"),
            ("start_date", "start_date"),
        ),
        label=_("Sort by"),
    )
    # Plain ids, not model choices: a choice list would name organisations outside the scope.
    oem = django_filters.NumberFilter(field_name="oem_id", label=_("OEM id"))
    ems = django_filters.NumberFilter(field_name="ems_id", label=_("EMS id"))

    class Meta:
        model = Partnership
        fields = ["q", "status", "oem", "ems"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(oem__name__icontains=value)
            | Q(ems__name__icontains=value)
            | Q(description__icontains=value)
        )


class OrganizationFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Organization.Kind.choices)

    class Meta:
        model = Organization
        fields = ["kind", "country"]
