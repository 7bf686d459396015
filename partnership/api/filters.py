"""Filters shared by the API's filtersets."""

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """A whole number (an id, a count of days): documented as an integer, not a float, so
    generated clients type it right, and ``1.5`` is refused instead of matched."""

    field_class = forms.IntegerField
