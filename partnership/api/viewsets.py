"""Base classes every app's API reuses: scoping by partnership, documented error responses."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets

from .errors import ErrorSerializer

ERROR_RESPONSES = {
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed for your role."),
    404: OpenApiResponse(ErrorSerializer, description="Not found, or not in your partnerships."),
}


class ScopedViewSetMixin:
    """``get_queryset`` starts from ``Model.objects.for_user(request.user)``.

    Subclasses set ``queryset`` (for the model and schema) and may override
    ``scope_queryset`` to add ``select_related``/annotations.
    """

    lookup_value_regex = r"\d+"

    def get_queryset(self):
        model = self.queryset.model
        qs = model.objects.for_user(self.request.user)
        return self.scope_queryset(qs)

    def scope_queryset(self, qs):
        return qs


@extend_schema(responses=ERROR_RESPONSES)
class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass
