from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError

from .. import history as audit_history
from .. import registry
from ..filters import OrganizationFilter, PartnershipFilter
from ..models import Organization, Partnership
from .serializers import (
    HistoryEntrySerializer,
    HistoryPageSerializer,
    OrganizationSerializer,
    PartnershipSerializer,
)
from .viewsets import ERROR_RESPONSES, ScopedReadOnlyViewSet, documented_read_only


@documented_read_only(PartnershipSerializer)
class PartnershipViewSet(ScopedReadOnlyViewSet):
    """Partnerships your organisations are party to."""

    queryset = Partnership.objects.all()
    serializer_class = PartnershipSerializer
    filterset_class = PartnershipFilter
    search_fields = ["oem__name", "ems__name", "description"]
    ordering_fields = ["id", "status", "start_date", "updated_at"]
    ordering = ["id"]

    def scope_queryset(self, qs):
        return qs.with_parties()

    @extend_schema(
        summary="Audit trail of the partnership",
        description=(
            "Every recorded change to the partnership's business objects, newest first: who "
            "(and on which side), when, and each field before → after. Read-only: history "
            "cannot be changed through the API."
        ),
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="Only changes at or after this ISO 8601 time.",
            ),
            OpenApiParameter(
                "kind",
                OpenApiTypes.STR,
                enum=sorted(k.key for k in registry.history_kinds()),
                description="Only changes of this object type.",
            ),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: HistoryPageSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"], url_path="history", filterset_class=None)
    def history(self, request, pk=None):
        partnership = self.get_object()
        since = request.query_params.get("since")
        if since:
            parsed = parse_datetime(since.replace(" ", "+"))
            if parsed is None:
                raise ValidationError({"since": ["Enter an ISO 8601 date and time."]})
            since = timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
        kind = request.query_params.get("kind")
        if kind and audit_history.get_kind(kind) is None:
            raise ValidationError({"kind": [f"Unknown object type “{kind}”."]})
        refs = audit_history.partnership_trail(
            partnership, kind_keys=[kind] if kind else None, since=since or None
        )
        page = self.paginate_queryset(refs)
        rows = audit_history.build_trail_rows(partnership, page)
        return self.get_paginated_response(HistoryEntrySerializer(rows, many=True).data)


@documented_read_only(OrganizationSerializer)
class OrganizationViewSet(ScopedReadOnlyViewSet):
    """Your own organisations and those you are in partnership with."""

    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    filterset_class = OrganizationFilter
    search_fields = ["name"]
    ordering_fields = ["id", "name", "updated_at"]
    ordering = ["id"]
