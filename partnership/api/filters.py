"""Filters shared by the API's filtersets."""

import datetime as dt

import django_filters
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """A whole number (an id, a count of days): documented as an integer, not a float, so
    generated clients type it right, and ``1.5`` is refused instead of matched."""

    field_class = forms.IntegerField


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time with any offset, compared in UTC. PostgreSQL refuses offsets beyond
    ±15:59 that ISO 8601 allows (``+21:54``): without this they answered 500."""

    def filter(self, qs, value):
        if value is not None and timezone.is_aware(value):
            value = value.astimezone(dt.UTC)
        return super().filter(qs, value)


def updated_since():
    """``?updated_since=`` — rows changed at or after an ISO 8601 time (the sync filter)."""
    return UtcIsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", label=_("Updated at or after")
    )
