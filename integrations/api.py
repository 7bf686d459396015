"""Tombstones over REST: ``GET /api/v1/tombstones/?updated_since=…&object_type=…``.

The deletions and closures of your partnerships' synced objects (``integrations.tombstones``),
oldest first, in the same keyset pages as an object list's sync: follow ``next`` until it is
null, then send ``next_updated_since`` as ``updated_since`` next time — the same value as for
the object lists of the same sync.
"""

import django_filters
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, viewsets

from partnership.api.errors import ValidationErrorSerializer
from partnership.api.field_selection import FieldSelectionMixin, FieldSelectionSchema
from partnership.api.filters import IdFilter, UtcIsoDateTimeFilter
from partnership.api.pagination import TombstonePagination
from partnership.api.viewsets import ERROR_RESPONSES
from partnership.models import Partnership

from .models import ApiKey, Tombstone
from .tombstones import TRACKED

OBJECT_TYPES = sorted({tracked.object_type for tracked in TRACKED})
# The API domain (``ApiKey.DOMAINS``) of each resource: the app its model lives in.
DOMAIN_OF = {tracked.object_type: tracked.model.split(".", 1)[0] for tracked in TRACKED}


class TombstoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tombstone
        fields = ["id", "partnership", "object_type", "object_id", "external_id", "deleted_at"]
        read_only_fields = fields
        extra_kwargs = {
            "object_type": {"help_text": _("The API resource, e.g. `products`.")},
            "object_id": {"help_text": _("The object's id in that resource.")},
            "deleted_at": {"help_text": _("When it was deleted or closed.")},
        }


class TombstoneFilter(django_filters.FilterSet):
    # A plain id, not a model choice: a choice list would name partnerships outside the scope.
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    object_type = django_filters.MultipleChoiceFilter(
        choices=[(name, name) for name in OBJECT_TYPES], label=_("API resource (repeatable)")
    )
    updated_since = UtcIsoDateTimeFilter(
        field_name="deleted_at", lookup_expr="gte", label=_("Deleted or closed at or after")
    )

    class Meta:
        model = Tombstone
        fields = ["partnership", "object_type", "updated_since"]


@extend_schema_view(
    list=extend_schema(
        summary="Deleted and closed objects, for incremental syncs",
        responses={
            200: TombstoneSerializer(many=True),
            400: OpenApiResponse(
                ValidationErrorSerializer, description="Invalid input; `errors` names the fields."
            ),
            **ERROR_RESPONSES,
        },
    )
)
class TombstoneViewSet(FieldSelectionMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Objects of your partnerships that were deleted, or closed for good (a cancelled production
    run or meeting): drop them from your system. An organisation API key sees the tombstones of
    the domains it may read (`schedules:read`: products, runs, capacity, …)."""

    queryset = Tombstone.objects.all()
    serializer_class = TombstoneSerializer
    filterset_class = TombstoneFilter
    filter_backends = [DjangoFilterBackend]
    pagination_class = TombstonePagination
    schema = FieldSelectionSchema()
    # Tombstones span every domain, so an API key's scopes narrow the rows (get_queryset)
    # instead of gating the endpoint by one domain as ApiKeyScopePermission would.
    permission_classes = [permissions.IsAuthenticated]

    def get_queryset(self):
        tombstones = Tombstone.objects.filter(
            partnership__in=Partnership.objects.for_user(self.request.user)
        )
        key = self.request.auth
        if isinstance(key, ApiKey):
            readable = [t for t, domain in DOMAIN_OF.items() if key.allows(domain, write=False)]
            tombstones = tombstones.filter(object_type__in=readable)
        return tombstones
