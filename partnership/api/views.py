from ..filters import OrganizationFilter, PartnershipFilter
from ..models import Organization, Partnership
from .serializers import OrganizationSerializer, PartnershipSerializer
from .viewsets import ScopedReadOnlyViewSet, documented_read_only


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


@documented_read_only(OrganizationSerializer)
class OrganizationViewSet(ScopedReadOnlyViewSet):
    """Your own organisations and those you are in partnership with."""

    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    filterset_class = OrganizationFilter
    search_fields = ["name"]
    ordering_fields = ["id", "name", "updated_at"]
    ordering = ["id"]
