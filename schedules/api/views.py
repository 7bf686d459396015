"""Schedules over REST: products and readiness, production runs and re-prioritisation, weekly
capacity and load, demand publications with their flex-term changes, capacity alerts.

Views check input shape; ``schedules.services`` owns every rule (which side may do what, status
transitions, all-or-nothing imports) and its errors map to 400/403. Bulk bodies answer row
errors by index: ``{"errors": {"items": {"<index>": {"field": ["…"]}}}}``.
"""

import django_filters
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from partnership.api.errors import ErrorSerializer
from partnership.api.filters import IdFilter, UtcIsoDateTimeFilter, updated_since
from partnership.api.upsert import ExternalIdUpsertMixin
from partnership.api.viewsets import RespondMixin, ScopedViewSetMixin, body, documented_read_only
from partnership.api.viewsets import responses as shared_responses

from .. import services
from ..models import (
    CapacityAlert,
    CapacityPlan,
    DemandChange,
    DemandLine,
    DemandPublication,
    LongLeadItem,
    PriorityRequest,
    Product,
    ProductionRun,
    ReadinessFile,
    ReadinessItem,
    RunChange,
)
from .serializers import (
    AcknowledgedSerializer,
    AnswerDatesSerializer,
    AnswerPrioritySerializer,
    CapacityAlertSerializer,
    CapacityPlanSerializer,
    DemandChangeSerializer,
    DemandLineSerializer,
    DemandPublicationDetailSerializer,
    DemandPublicationSerializer,
    LoadQuerySerializer,
    LongLeadItemSerializer,
    PriorityRequestSerializer,
    ProductionRunSerializer,
    ProductSerializer,
    ProposeDatesSerializer,
    PublishCapacitySerializer,
    PublishDemandSerializer,
    PublishedCapacitySerializer,
    RequestPrioritySerializer,
    RunChangeSerializer,
    WeekLoadSerializer,
)
from .upserts import LongLeadItemUpsert, ProductUpsert, RunUpsert


class RowsValidationErrorSerializer(ErrorSerializer):
    errors = serializers.DictField(
        help_text=_(
            "Field errors; the rows' errors are keyed by index, then by field: "
            '`{"rows": {"17": {"week": ["…"]}}}`.'
        )
    )


ROWS_INVALID = {
    400: OpenApiResponse(
        RowsValidationErrorSerializer,
        description=(
            "Nothing was written. `errors` names the fields; rows are named by their index in "
            'the list: `{"errors": {"rows": {"17": {"week": ["…"]}}}}` (`items` for upserts).'
        ),
    )
}
CONFLICT = {
    409: OpenApiResponse(
        ErrorSerializer,
        description=(
            "A uniqueness conflict while writing (a concurrent change, or rows swapping part "
            "numbers in one call); nothing was written. Retry, or split the swap in two calls."
        ),
    )
}
ALL_OR_NOTHING = _(
    "All or nothing: the rows are validated together and written in one transaction; one "
    "invalid row rejects the call with every row's errors, keyed by the row's index."
)


def responses(ok, *, code=200, invalid=False, rows=False, conflict=False):
    """The shared documented error bodies, plus the bulk calls' row errors and conflicts."""
    return shared_responses(
        ok,
        code=code,
        invalid=invalid,
        rows=ROWS_INVALID if rows else None,
        conflict=CONFLICT if conflict else None,
    )


def rows_rejected(exc: services.ImportRejected, name="rows") -> exceptions.ValidationError:
    """``ImportRejected``'s row errors (numbered from 1) keyed by list index (from 0)."""
    rows, general = {}, []
    for error in exc.row_errors:
        if error.row < 1:
            general.append(error.message)
        else:
            rows.setdefault(error.row - 1, {}).setdefault(error.field, []).append(error.message)
    detail = {}
    if rows:
        detail[name] = {str(i): rows[i] for i in sorted(rows)}
    if general:
        detail["non_field_errors"] = general
    return exceptions.ValidationError(detail)


def count_of(queryset, fk):
    """A correlated ``COUNT(*)`` of ``queryset`` rows pointing at the outer row through ``fk``."""
    counted = (
        queryset.filter(**{fk: OuterRef("pk")})
        .order_by()
        .values(fk)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted), Value(0))


class ServiceWriteMixin(RespondMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin):
    """Create/update through the serializer, which calls the service."""

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.respond_with(serializer.save(), status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return self.respond_with(serializer.save())


class PartnershipIdFilter(django_filters.FilterSet):
    # A plain id, not a model choice: a choice list would name partnerships outside the scope.
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    updated_since = updated_since()


# --- Products ---------------------------------------------------------------------------------


class ProductFilter(PartnershipIdFilter):
    external_id = django_filters.CharFilter(label=_("External id"))
    q = django_filters.CharFilter(method="search", label=_("Part number, name or external id"))

    class Meta:
        model = Product
        fields = ["partnership", "updated_since", "external_id", "q"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(part_number__icontains=value) | Q(name__icontains=value) | Q(external_id=value)
        )


def readiness_prefetch():
    """Each product's readiness items with the name and version of their newest file."""
    newest = ReadinessFile.objects.filter(item=OuterRef("pk")).order_by("-version")
    return Prefetch(
        "readiness",
        queryset=ReadinessItem.objects.annotate(
            latest_file_version=Subquery(newest.values("version")[:1]),
            latest_file_name=Subquery(newest.values("name")[:1]),
        ).order_by("id"),
    )


@extend_schema_view(
    list=extend_schema(responses=responses(ProductSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(ProductSerializer)),
    create=extend_schema(
        summary="Create a product (OEM); it gets the full NPI readiness checklist",
        responses=responses(ProductSerializer, code=201, invalid=True),
    ),
    update=extend_schema(
        summary="Change a product (OEM)", responses=responses(ProductSerializer, invalid=True)
    ),
    partial_update=extend_schema(
        summary="Change some fields of a product (OEM)",
        responses=responses(ProductSerializer, invalid=True),
    ),
)
class ProductViewSet(
    ScopedViewSetMixin, ExternalIdUpsertMixin, ServiceWriteMixin, viewsets.ReadOnlyModelViewSet
):
    """Products (assemblies) of your partnerships with their NPI readiness."""

    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    search_fields = ["part_number", "name", "external_id"]
    ordering_fields = ["id", "part_number", "updated_at"]
    ordering = ["id"]
    field_relations = {"launch_ready": ("readiness",), "blockers": ("readiness",)}
    upsert = ProductUpsert()

    def scope_queryset(self, qs):
        return qs.prefetch_related(readiness_prefetch())

    @extend_schema(
        summary="Release for launch: every required readiness item must be approved",
        request=None,
        responses=responses(ProductSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def release(self, request, pk=None):
        product = self.get_object()
        services.release_for_launch(by=request.user, product=product)
        return self.respond_with(product)


# --- Production runs ------------------------------------------------------------------------


class ProductionRunFilter(PartnershipIdFilter):
    product = IdFilter(field_name="product_id", label=_("Product id"))
    product_external_id = django_filters.CharFilter(
        field_name="product__external_id", label=_("External id of the product")
    )
    status = django_filters.MultipleChoiceFilter(
        choices=ProductionRun.Status.choices, label=_("Status")
    )
    external_id = django_filters.CharFilter(label=_("External id"))
    launch_from = django_filters.DateFilter(field_name="planned_launch", lookup_expr="gte")
    launch_to = django_filters.DateFilter(field_name="planned_launch", lookup_expr="lte")

    class Meta:
        model = ProductionRun
        fields = [
            "partnership",
            "updated_since",
            "product",
            "product_external_id",
            "status",
            "external_id",
            "launch_from",
            "launch_to",
        ]


@extend_schema_view(
    list=extend_schema(responses=responses(ProductionRunSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(ProductionRunSerializer)),
    create=extend_schema(
        summary="Order a production run (OEM)",
        responses=responses(ProductionRunSerializer, code=201, invalid=True),
    ),
    update=extend_schema(
        summary="Change a run (OEM); a confirmed run changed beyond the flex terms needs a new "
        "confirmation",
        responses=responses(ProductionRunSerializer, invalid=True),
    ),
    partial_update=extend_schema(
        summary="Change some fields of a run (OEM)",
        responses=responses(ProductionRunSerializer, invalid=True),
    ),
)
class ProductionRunViewSet(
    ScopedViewSetMixin, ExternalIdUpsertMixin, ServiceWriteMixin, viewsets.ReadOnlyModelViewSet
):
    """Production runs of your partnerships: ordered by the OEM, confirmed by the EMS."""

    queryset = ProductionRun.objects.all()
    serializer_class = ProductionRunSerializer
    filterset_class = ProductionRunFilter
    search_fields = ["external_id", "product__part_number", "product__name"]
    ordering_fields = ["id", "planned_launch", "due_date", "priority", "updated_at"]
    ordering = ["id"]
    upsert = RunUpsert()

    def scope_queryset(self, qs):
        return qs.select_related("product", "confirmed_by")

    @extend_schema(
        summary="Confirm a planned run (EMS); its product must be released for launch",
        request=None,
        responses=responses(ProductionRunSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def confirm(self, request, pk=None):
        run = self.get_object()
        return self.respond_with(services.confirm_run(by=request.user, run=run))

    @extend_schema(
        summary="Propose other launch and due dates (EMS)",
        request=ProposeDatesSerializer,
        responses=responses(ProductionRunSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], url_path="propose-dates", filter_backends=[])
    def propose_dates(self, request, pk=None):
        run = self.get_object()
        data = body(ProposeDatesSerializer, self, request.data)
        services.propose_dates(
            by=request.user, run=run, launch=data["proposed_launch"], due=data["proposed_due"]
        )
        return self.respond_with(run)

    @extend_schema(
        summary="Accept or refuse the dates the EMS proposed (OEM)",
        request=AnswerDatesSerializer,
        responses=responses(ProductionRunSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], url_path="answer-dates", filter_backends=[])
    def answer_dates(self, request, pk=None):
        run = self.get_object()
        data = body(AnswerDatesSerializer, self, request.data)
        services.answer_proposed_dates(by=request.user, run=run, accept=data["accept"])
        return self.respond_with(run)

    @extend_schema(
        summary="Ask the EMS to re-prioritise the run (OEM)",
        request=RequestPrioritySerializer,
        responses=responses(PriorityRequestSerializer, code=201, invalid=True),
    )
    @action(detail=True, methods=["post"], url_path="request-priority", filter_backends=[])
    def request_priority(self, request, pk=None):
        run = self.get_object()
        data = body(RequestPrioritySerializer, self, request.data)
        priority_request = services.request_priority(by=request.user, run=run, **data)
        return Response(
            PriorityRequestSerializer(priority_request).data, status=status.HTTP_201_CREATED
        )


class PriorityRequestFilter(django_filters.FilterSet):
    partnership = IdFilter(field_name="run__partnership_id", label=_("Partnership id"))
    run = IdFilter(field_name="run_id", label=_("Run id"))
    status = django_filters.ChoiceFilter(choices=PriorityRequest.Status.choices)
    requested_since = UtcIsoDateTimeFilter(field_name="requested_at", lookup_expr="gte")

    class Meta:
        model = PriorityRequest
        fields = ["partnership", "run", "status", "requested_since"]


@extend_schema_view(
    list=extend_schema(responses=responses(PriorityRequestSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(PriorityRequestSerializer)),
)
class PriorityRequestViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Re-prioritisation requests the OEM made on runs of your partnerships."""

    queryset = PriorityRequest.objects.all()
    serializer_class = PriorityRequestSerializer
    filterset_class = PriorityRequestFilter
    ordering_fields = ["id", "requested_at"]
    ordering = ["id"]

    def scope_queryset(self, qs):
        return qs.select_related("run", "requested_by", "answered_by")

    @extend_schema(
        summary="Accept or decline a pending request (EMS); accepting re-prioritises the run",
        request=AnswerPrioritySerializer,
        responses=responses(PriorityRequestSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def answer(self, request, pk=None):
        priority_request = self.get_object()
        data = body(AnswerPrioritySerializer, self, request.data)
        services.answer_priority(by=request.user, request=priority_request, **data)
        priority_request = self.get_queryset().get(pk=priority_request.pk)
        return Response(PriorityRequestSerializer(priority_request).data)


# --- Capacity -------------------------------------------------------------------------------


class CapacityFilter(PartnershipIdFilter):
    week_from = django_filters.DateFilter(field_name="week", lookup_expr="gte")
    week_to = django_filters.DateFilter(field_name="week", lookup_expr="lte")
    line = django_filters.CharFilter()
    external_id = django_filters.CharFilter()

    class Meta:
        model = CapacityPlan
        fields = ["partnership", "updated_since", "week_from", "week_to", "line", "external_id"]


@extend_schema_view(
    list=extend_schema(responses=responses(CapacityPlanSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(CapacityPlanSerializer)),
)
class CapacityViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Weekly capacity the EMS published for your partnerships, and load against it."""

    queryset = CapacityPlan.objects.all()
    serializer_class = CapacityPlanSerializer
    filterset_class = CapacityFilter
    ordering_fields = ["id", "week", "updated_at"]
    ordering = ["id"]

    @extend_schema(
        summary="Publish weekly capacity (EMS), upserted by week and line",
        description=ALL_OR_NOTHING,
        request=PublishCapacitySerializer,
        responses=responses(PublishedCapacitySerializer, rows=True),
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def publish(self, request):
        data = body(PublishCapacitySerializer, self, request.data)
        partnership = data["partnership"]
        try:
            count = services.publish_capacity(
                by=request.user, partnership=partnership, rows=data["rows"]
            )
        except services.ImportRejected as exc:
            raise rows_rejected(exc) from None
        return Response(
            PublishedCapacitySerializer({"partnership": partnership.pk, "rows": count}).data
        )

    @extend_schema(
        summary="Capacity and demand per week (latest demand publication)",
        parameters=[LoadQuerySerializer],
        responses=responses(WeekLoadSerializer(many=True), invalid=True),
    )
    @action(detail=False, filter_backends=[], pagination_class=None)
    def load(self, request):
        query = body(LoadQuerySerializer, self, request.query_params)
        loads = services.weekly_load(
            query["partnership"], start=query.get("start"), weeks=query["weeks"]
        )
        return Response(WeekLoadSerializer(loads, many=True).data)


# --- Demand ---------------------------------------------------------------------------------


class DemandPublicationFilter(django_filters.FilterSet):
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    published_since = UtcIsoDateTimeFilter(
        field_name="published_at", lookup_expr="gte", label=_("Published at or after")
    )
    external_id = django_filters.CharFilter()

    class Meta:
        model = DemandPublication
        fields = ["partnership", "published_since", "external_id"]


OPEN_BREACHES = DemandChange.objects.filter(acknowledged_at__isnull=True).exclude(
    verdict__in=[DemandChange.Verdict.WITHIN, DemandChange.Verdict.NON_BINDING]
)


@extend_schema_view(
    list=extend_schema(responses=responses(DemandPublicationSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(DemandPublicationDetailSerializer)),
    create=extend_schema(
        summary="Publish a new demand forecast version (OEM)",
        description=ALL_OR_NOTHING
        + " "
        + _(
            "Every change from the previous version is classified against the active "
            "contract's flex terms (`changes_summary`); capacity alerts are refreshed in the "
            "background once the publication is committed."
        ),
        request=PublishDemandSerializer,
        responses={
            **responses(DemandPublicationDetailSerializer, code=201, rows=True),
            200: OpenApiResponse(
                DemandPublicationDetailSerializer,
                description="Already published with this external_id: nothing new was written.",
            ),
        },
    ),
)
class DemandPublicationViewSet(
    ScopedViewSetMixin, RespondMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Versioned demand forecasts the OEM published for your partnerships."""

    queryset = DemandPublication.objects.all()
    serializer_class = DemandPublicationSerializer
    filterset_class = DemandPublicationFilter
    ordering_fields = ["id", "version", "published_at"]
    ordering = ["id"]

    def scope_queryset(self, qs):
        return qs.select_related("published_by").annotate(
            lines_count=count_of(DemandLine.objects.all(), "publication"),
            changes_count=count_of(DemandChange.objects.all(), "publication"),
            open_breaches=count_of(OPEN_BREACHES, "publication"),
        )

    def get_serializer_class(self):
        if self.action in ("retrieve", "create"):
            return DemandPublicationDetailSerializer
        return super().get_serializer_class()

    def create(self, request, *args, **kwargs):
        data = body(PublishDemandSerializer, self, request.data)
        try:
            publication, created = services.publish_demand_once(
                by=request.user,
                partnership=data["partnership"],
                rows=data["rows"],
                note=data["note"],
                external_id=data.get("external_id") or None,
            )
        except services.ImportRejected as exc:
            raise rows_rejected(exc) from None
        return self.respond_with(
            publication, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        summary="The publication's weekly lines",
        responses=responses(DemandLineSerializer(many=True)),
    )
    @action(detail=True, filter_backends=[])
    def lines(self, request, pk=None):
        publication = self.get_object()
        lines = DemandLine.objects.filter(publication=publication).select_related("product")
        page = self.paginate_queryset(lines.order_by("week", "product_id", "id"))
        return self.get_paginated_response(DemandLineSerializer(page, many=True).data)

    @extend_schema(
        summary="Lines changed from the previous version, judged against the flex terms",
        responses=responses(DemandChangeSerializer(many=True)),
    )
    @action(detail=True, filter_backends=[])
    def changes(self, request, pk=None):
        publication = self.get_object()
        changes = DemandChange.objects.filter(publication=publication).select_related(
            "product", "acknowledged_by"
        )
        page = self.paginate_queryset(changes.order_by("week", "product_id", "id"))
        return self.get_paginated_response(DemandChangeSerializer(page, many=True).data)

    @extend_schema(
        summary="Acknowledge the publication's changes beyond the flex terms (EMS)",
        request=None,
        responses=responses(AcknowledgedSerializer),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def acknowledge(self, request, pk=None):
        publication = self.get_object()
        count = services.acknowledge_changes(by=request.user, publication=publication)
        return Response(AcknowledgedSerializer({"acknowledged": count}).data)


# --- Capacity alerts ------------------------------------------------------------------------


class CapacityAlertFilter(PartnershipIdFilter):
    status = django_filters.MultipleChoiceFilter(choices=CapacityAlert.Status.choices)
    kind = django_filters.ChoiceFilter(choices=CapacityAlert.Kind.choices)
    severity = django_filters.ChoiceFilter(choices=CapacityAlert.Severity.choices)
    week_from = django_filters.DateFilter(field_name="week", lookup_expr="gte")
    week_to = django_filters.DateFilter(field_name="week", lookup_expr="lte")

    class Meta:
        model = CapacityAlert
        fields = [
            "partnership",
            "updated_since",
            "status",
            "kind",
            "severity",
            "week_from",
            "week_to",
        ]


@extend_schema_view(
    list=extend_schema(responses=responses(CapacityAlertSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(CapacityAlertSerializer)),
)
class CapacityAlertViewSet(ScopedViewSetMixin, RespondMixin, viewsets.ReadOnlyModelViewSet):
    """Weeks where demand exceeds capacity or breaks the flex terms."""

    queryset = CapacityAlert.objects.all()
    serializer_class = CapacityAlertSerializer
    filterset_class = CapacityAlertFilter
    ordering_fields = ["id", "week", "updated_at"]
    ordering = ["id"]

    def scope_queryset(self, qs):
        return qs.select_related("acknowledged_by")

    @extend_schema(
        summary="Acknowledge an open alert (either side, not viewers)",
        request=None,
        responses=responses(CapacityAlertSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def acknowledge(self, request, pk=None):
        alert = self.get_object()
        return self.respond_with(services.acknowledge_alert(by=request.user, alert=alert))


# --- Long-lead material and run changes -------------------------------------------------------


class LongLeadItemFilter(django_filters.FilterSet):
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    product = IdFilter(field_name="product_id", label=_("Product id"))
    external_id = django_filters.CharFilter(label=_("External id"))
    updated_since = updated_since()

    class Meta:
        model = LongLeadItem
        fields = ["partnership", "product", "external_id", "updated_since"]


@extend_schema_view(
    list=extend_schema(responses=responses(LongLeadItemSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(LongLeadItemSerializer)),
    create=extend_schema(
        summary="Record a long-lead component of a product (EMS)",
        responses=responses(LongLeadItemSerializer, code=201, invalid=True),
    ),
    update=extend_schema(
        summary="Change a long-lead component (EMS)",
        responses=responses(LongLeadItemSerializer, invalid=True),
    ),
    partial_update=extend_schema(
        summary="Change some fields of a long-lead component (EMS)",
        responses=responses(LongLeadItemSerializer, invalid=True),
    ),
    destroy=extend_schema(summary="Remove a long-lead component (EMS)"),
)
class LongLeadItemViewSet(
    ScopedViewSetMixin,
    ExternalIdUpsertMixin,
    ServiceWriteMixin,
    mixins.DestroyModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Components the EMS buys ahead for a product. A forecast cut or a smaller run inside a
    component's lead time leaves that material with the EMS: demand changes and run changes
    report it as `exposure`."""

    queryset = LongLeadItem.objects.all()
    serializer_class = LongLeadItemSerializer
    upsert = LongLeadItemUpsert()
    filterset_class = LongLeadItemFilter
    search_fields = ["component", "description", "external_id"]
    ordering_fields = ["id", "lead_time_weeks", "updated_at"]
    ordering = ["id"]

    def scope_queryset(self, qs):
        return qs.select_related("product")

    def perform_destroy(self, instance):
        services.delete_long_lead_item(by=self.request.user, item=instance)


class RunChangeFilter(django_filters.FilterSet):
    partnership = IdFilter(field_name="run__partnership_id", label=_("Partnership id"))
    run = IdFilter(field_name="run_id", label=_("Production run id"))
    verdict = django_filters.MultipleChoiceFilter(choices=RunChange.Verdict.choices)
    unacknowledged = django_filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", label=_("Not yet acknowledged")
    )
    changed_since = UtcIsoDateTimeFilter(field_name="changed_at", lookup_expr="gte")

    class Meta:
        model = RunChange
        fields = ["partnership", "run", "verdict", "unacknowledged", "changed_since"]


@documented_read_only(RunChangeSerializer)
class RunChangeViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Changes the OEM made to committed production runs, each judged against the contract's
    flex table (reschedule limits and quantity bands). A breach sends the run back to the EMS
    for confirmation; confirming it acknowledges the change."""

    queryset = RunChange.objects.all()
    serializer_class = RunChangeSerializer
    filterset_class = RunChangeFilter
    ordering_fields = ["id", "changed_at"]
    ordering = ["id"]

    def scope_queryset(self, qs):
        return qs.select_related("changed_by", "acknowledged_by")
