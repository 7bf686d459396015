"""Base classes every app's API reuses: scoping by partnership, documented error responses,
safe retries and optimistic concurrency (``integrations.idempotency.SafeWriteMixin``)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.response import Response

from integrations.idempotency import SafeWriteMixin

from .errors import ErrorSerializer, ValidationErrorSerializer
from .field_selection import FieldSelectionMixin

ERROR_RESPONSES = {
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed for your role."),
    404: OpenApiResponse(ErrorSerializer, description="Not found, or not in your partnerships."),
}
INVALID = {
    400: OpenApiResponse(
        ValidationErrorSerializer, description="Invalid input; `errors` names the fields."
    )
}


def responses(ok, *, code=200, invalid=False, **extra):
    """The success body plus the documented error bodies (``invalid``: a 400 with field
    errors; ``extra``: further status → response entries an app documents)."""
    more = {}
    for entries in extra.values():
        more |= entries or {}
    return {code: ok, **(INVALID if invalid else {}), **more, **ERROR_RESPONSES}


class ScopedViewSetMixin(FieldSelectionMixin, SafeWriteMixin):
    """``get_queryset`` starts from ``Model.objects.for_user(request.user)``.

    Subclasses set ``queryset`` (for the model and schema) and may override
    ``scope_queryset`` to add ``select_related``/annotations.

    Lists and retrieves answer only the fields of ``?fields=a,b`` (``FieldSelectionMixin``).
    Every subclass also honours ``Idempotency-Key`` on POST/PUT/PATCH, answers an ``ETag`` on
    reads, ``If-None-Match`` → 304 and ``If-Match`` → 412 (see ``SafeWriteMixin``).
    """

    lookup_value_regex = r"\d+"
    #: Set per action (``@action(…, changes_nothing=True)``) on POSTs that store nothing: an
    #: API key then needs only the read scope (``integrations.permissions``).
    changes_nothing = False

    def get_queryset(self):
        model = self.queryset.model
        qs = model.objects.for_user(self.request.user)
        return self.without_unselected_prefetches(self.scope_queryset(qs))

    def scope_queryset(self, qs):
        return qs


class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


def documented_read_only(serializer):
    """Schema for a read-only viewset: its 200 bodies plus the documented error bodies."""
    return extend_schema_view(
        list=extend_schema(responses={200: serializer(many=True), **ERROR_RESPONSES}),
        retrieve=extend_schema(responses={200: serializer, **ERROR_RESPONSES}),
    )


def body(serializer_class, view, data, **kwargs):
    """An action's request body, validated by ``serializer_class`` (400 with field errors)."""
    serializer = serializer_class(data=data, context=view.get_serializer_context(), **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class RespondMixin:
    def respond_with(self, obj, code=status.HTTP_200_OK):
        """The object as the scoped queryset shows it (annotations, related rows, prefetches)."""
        obj = self.get_queryset().get(pk=obj.pk)
        return Response(self.get_serializer(obj).data, status=code)
