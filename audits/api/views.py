"""Supplier audits over REST. Views check input shape; ``audits.services`` owns every rule (which
side may score, raise, act or verify; status transitions; 8D step order) and its errors map to
400 (with field errors) and 403. Every queryset starts from ``for_user``: foreign ids are 404 in
URLs and a field error in bodies, indistinguishable from unknown ids."""

from datetime import timedelta

import django_filters
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from partnership.api.field_selection import FieldSelectionMixin, FieldSelectionSchema
from partnership.api.filters import IdFilter, updated_since
from partnership.api.upsert import ExternalIdUpsertMixin
from partnership.api.viewsets import RespondMixin, ScopedViewSetMixin, body, responses
from partnership.models import Partnership

from .. import services
from ..models import (
    Answer,
    Audit,
    AuditTemplate,
    Certificate,
    CorrectiveAction,
    Finding,
    KpiRecord,
    TemplateQuestion,
    TemplateSection,
)
from .serializers import (
    AuditSerializer,
    AuditTemplateSerializer,
    CertificateSerializer,
    CompleteStepSerializer,
    CorrectiveActionSerializer,
    FindingSerializer,
    KpiFiguresSerializer,
    KpiRecordSerializer,
    KpiUpsertSerializer,
    RecordAnswerSerializer,
    ScorecardSerializer,
    VerifySerializer,
)
from .upserts import FindingUpsert

# --- Templates ------------------------------------------------------------------------------


class AuditTemplateFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=AuditTemplate.Kind.choices, label=_("Kind"))
    key = django_filters.CharFilter(label=_("Key (the same across versions)"))
    is_current = django_filters.BooleanFilter(label=_("Only the current version"))

    class Meta:
        model = AuditTemplate
        fields = ["kind", "key", "is_current"]


@extend_schema_view(
    list=extend_schema(responses=responses(AuditTemplateSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(AuditTemplateSerializer)),
)
class AuditTemplateViewSet(FieldSelectionMixin, viewsets.ReadOnlyModelViewSet):
    """Audit checklists with their sections and questions. Reference data shared by every
    partnership: any signed-in user may read them."""

    queryset = AuditTemplate.objects.prefetch_related(
        Prefetch(
            "sections",
            queryset=TemplateSection.objects.order_by("position", "id").prefetch_related(
                Prefetch("questions", queryset=TemplateQuestion.objects.order_by("position", "id"))
            ),
        )
    )
    serializer_class = AuditTemplateSerializer
    filterset_class = AuditTemplateFilter
    lookup_value_regex = r"\d+"
    schema = FieldSelectionSchema()
    search_fields = ["key", "name"]
    ordering_fields = ["id", "key", "version", "name"]
    ordering = ["id"]


# --- Audits ---------------------------------------------------------------------------------


class AuditFilter(django_filters.FilterSet):
    # A plain id, not a model choice: a choice list would name partnerships outside the scope.
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    status = django_filters.ChoiceFilter(choices=Audit.Status.choices, label=_("Status"))
    kind = django_filters.ChoiceFilter(choices=Audit.Kind.choices, label=_("Kind"))
    updated_since = updated_since()

    class Meta:
        model = Audit
        fields = ["partnership", "status", "kind", "updated_since"]


@extend_schema_view(
    list=extend_schema(responses=responses(AuditSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(AuditSerializer)),
)
class AuditViewSet(ScopedViewSetMixin, RespondMixin, viewsets.ReadOnlyModelViewSet):
    """Audits of your partnerships with the OEM's score and the EMS's self-assessment."""

    queryset = Audit.objects.all()
    serializer_class = AuditSerializer
    filterset_class = AuditFilter
    search_fields = ["title"]
    ordering_fields = ["id", "planned_date", "actual_date", "updated_at"]
    ordering = ["id"]
    field_relations = {"oem_score": ("answers",), "ems_score": ("answers",)}

    def scope_queryset(self, qs):
        return qs.select_related("template", "lead_auditor").prefetch_related(
            "team",
            Prefetch(
                "answers",
                queryset=Answer.objects.select_related("question", "answered_by").order_by(
                    "question__section__position", "question__position", "question_id", "side"
                ),
            ),
        )

    @extend_schema(
        summary="Score one question: the OEM's audit or, for the EMS, its self-assessment",
        description=_(
            "The side is the caller's: OEM auditors score the audit while it is in progress, EMS "
            "members their self-assessment until the report is issued. Answering again replaces "
            "the answer. Returns the audit with its recomputed scores."
        ),
        request=RecordAnswerSerializer,
        responses=responses(AuditSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def answers(self, request, pk=None):
        audit = self.get_object()
        data = body(RecordAnswerSerializer, self, request.data)
        services.record_answer(by=request.user, audit=audit, **data)
        return self.respond_with(audit)


# --- Findings -------------------------------------------------------------------------------


class FindingFilter(django_filters.FilterSet):
    audit = IdFilter(field_name="audit_id", label=_("Audit id"))
    partnership = IdFilter(field_name="audit__partnership_id", label=_("Partnership id"))
    status = django_filters.ChoiceFilter(choices=Finding.Status.choices, label=_("Status"))
    classification = django_filters.ChoiceFilter(
        choices=Finding.Classification.choices, label=_("Class")
    )
    updated_since = updated_since()
    external_id = django_filters.CharFilter(label=_("External id"))

    class Meta:
        model = Finding
        fields = [
            "audit",
            "partnership",
            "status",
            "classification",
            "updated_since",
            "external_id",
        ]


@extend_schema_view(
    list=extend_schema(responses=responses(FindingSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(FindingSerializer)),
    create=extend_schema(
        summary="Raise a finding in an audit (OEM auditors)",
        description=_(
            "The audit must be in progress or its report issued. Major and minor findings get a "
            "response due date and need an 8D from the EMS. With an `external_id` already used "
            "in the partnership, the existing finding is returned (200) and nothing is recorded."
        ),
        responses={
            **responses(FindingSerializer, code=201, invalid=True),
            200: OpenApiResponse(
                FindingSerializer,
                description="Already raised with this external_id: nothing new was recorded.",
            ),
        },
    ),
)
class FindingViewSet(
    ScopedViewSetMixin,
    ExternalIdUpsertMixin,
    RespondMixin,
    mixins.CreateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Audit findings of your partnerships."""

    queryset = Finding.objects.all()
    serializer_class = FindingSerializer
    filterset_class = FindingFilter
    search_fields = ["description", "clause", "external_id"]
    ordering_fields = ["id", "number", "response_due", "updated_at"]
    ordering = ["id"]
    upsert = FindingUpsert()

    def scope_queryset(self, qs):
        return qs.select_related("audit", "action", "raised_by", "closed_by")

    def create(self, request, *args, **kwargs):
        data = dict(body(FindingSerializer, self, request.data))
        finding, created = services.raise_finding_once(
            by=request.user,
            audit=data.pop("audit"),
            external_id=data.pop("external_id", None) or None,
            **data,
        )
        return self.respond_with(
            finding, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


# --- Corrective actions ---------------------------------------------------------------------


class CorrectiveActionFilter(django_filters.FilterSet):
    finding = IdFilter(field_name="finding_id", label=_("Finding id"))
    audit = IdFilter(field_name="finding__audit_id", label=_("Audit id"))
    partnership = IdFilter(field_name="finding__audit__partnership_id", label=_("Partnership id"))
    status = django_filters.ChoiceFilter(choices=CorrectiveAction.Status.choices, label=_("Status"))
    updated_since = updated_since()

    class Meta:
        model = CorrectiveAction
        fields = ["finding", "audit", "partnership", "status", "updated_since"]


@extend_schema_view(
    list=extend_schema(responses=responses(CorrectiveActionSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(CorrectiveActionSerializer)),
    create=extend_schema(
        summary="Start the 8D for a major or minor finding (EMS)",
        responses=responses(CorrectiveActionSerializer, code=201, invalid=True),
    ),
)
class CorrectiveActionViewSet(
    ScopedViewSetMixin, RespondMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """8D corrective actions of your partnerships: D1–D7 by the EMS, D8 verification by the
    OEM."""

    queryset = CorrectiveAction.objects.all()
    serializer_class = CorrectiveActionSerializer
    filterset_class = CorrectiveActionFilter
    ordering_fields = ["id", "due_date", "updated_at"]
    ordering = ["id"]

    def scope_queryset(self, qs):
        return qs.select_related("finding__audit", "owner", "verified_by")

    def create(self, request, *args, **kwargs):
        data = body(CorrectiveActionSerializer, self, request.data)
        action = services.start_action(
            by=request.user,
            finding=data["finding"],
            owner=data.get("owner") or request.user,
            due_date=data["due_date"],
        )
        return self.respond_with(action, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Complete an 8D step, D1 to D7 in order (EMS)",
        request=CompleteStepSerializer,
        responses=responses(CorrectiveActionSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], url_path="complete-step", filter_backends=[])
    def complete_step(self, request, pk=None):
        corrective_action = self.get_object()
        data = body(CompleteStepSerializer, self, request.data)
        services.complete_step(by=request.user, action=corrective_action, **data)
        return self.respond_with(corrective_action)

    @extend_schema(
        summary="Submit the completed 8D for verification (EMS)",
        request=None,
        responses=responses(CorrectiveActionSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def submit(self, request, pk=None):
        corrective_action = self.get_object()
        services.submit_action(by=request.user, action=corrective_action)
        return self.respond_with(corrective_action)

    @extend_schema(
        summary="D8: accept the 8D and close the finding, or send it back (OEM)",
        request=VerifySerializer,
        responses=responses(CorrectiveActionSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def verify(self, request, pk=None):
        corrective_action = self.get_object()
        data = body(VerifySerializer, self, request.data)
        services.verify_action(by=request.user, action=corrective_action, **data)
        return self.respond_with(corrective_action)


# --- Certificates ---------------------------------------------------------------------------


class CertificateFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id", label=_("Organisation id"))
    standard = django_filters.ChoiceFilter(
        choices=Certificate.Standard.choices, label=_("Standard")
    )
    expired = django_filters.BooleanFilter(label=_("Marked expired"))
    expiring_within_days = IdFilter(
        method="filter_expiring",
        min_value=0,
        max_value=3650,
        label=_("Not yet expired, ending within this many days"),
    )
    updated_since = updated_since()

    class Meta:
        model = Certificate
        fields = ["organization", "standard", "expired", "expiring_within_days", "updated_since"]

    def filter_expiring(self, queryset, name, value):
        today = timezone.localdate()
        return queryset.filter(
            expired=False, valid_until__gte=today, valid_until__lte=today + timedelta(days=value)
        )


@extend_schema_view(
    list=extend_schema(responses=responses(CertificateSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(CertificateSerializer)),
)
class CertificateViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Certificates of your own organisations and of your partners."""

    queryset = Certificate.objects.all()
    serializer_class = CertificateSerializer
    filterset_class = CertificateFilter
    search_fields = ["number", "issuer", "organization__name"]
    ordering_fields = ["id", "valid_until", "updated_at"]
    ordering = ["id"]

    def scope_queryset(self, qs):
        return qs.select_related("organization")


# --- KPIs -----------------------------------------------------------------------------------


class KpiFilter(django_filters.FilterSet):
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    month_from = django_filters.DateFilter(field_name="month", lookup_expr="gte")
    month_to = django_filters.DateFilter(field_name="month", lookup_expr="lte")
    updated_since = updated_since()

    class Meta:
        model = KpiRecord
        fields = ["partnership", "month_from", "month_to", "updated_since"]


@extend_schema_view(
    list=extend_schema(responses=responses(KpiRecordSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(KpiRecordSerializer)),
    create=extend_schema(
        summary="Record a month's delivery and quality figures, upserted by partnership and month",
        description=_(
            "Either side, not viewers. Figures left out keep their stored value (0 for a new "
            "month), so OTD and PPM may come from different feeds; a retry changes nothing."
        ),
        request=KpiUpsertSerializer,
        responses={
            **responses(KpiRecordSerializer, code=201, invalid=True),
            200: OpenApiResponse(KpiRecordSerializer, description="The month existed: updated."),
        },
    ),
    update=extend_schema(
        summary="Replace a month's four figures",
        request=KpiFiguresSerializer,
        responses=responses(KpiRecordSerializer, invalid=True),
    ),
)
class KpiViewSet(
    ScopedViewSetMixin,
    RespondMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Monthly delivery (OTD) and quality (PPM) figures of your partnerships."""

    queryset = KpiRecord.objects.all()
    serializer_class = KpiRecordSerializer
    filterset_class = KpiFilter
    ordering_fields = ["id", "month", "updated_at"]
    ordering = ["id"]
    http_method_names = ["get", "post", "put", "head", "options"]

    def create(self, request, *args, **kwargs):
        data = dict(body(KpiUpsertSerializer, self, request.data))
        partnership, month = data.pop("partnership"), data.pop("month").replace(day=1)
        existed = KpiRecord.objects.filter(partnership=partnership, month=month).exists()
        record = services.save_kpi(by=request.user, partnership=partnership, month=month, **data)
        return self.respond_with(record, status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        record = self.get_object()
        data = body(KpiFiguresSerializer, self, request.data)
        record = services.save_kpi(
            by=request.user, partnership=record.partnership, month=record.month, **data
        )
        return self.respond_with(record)


# --- Scorecard ------------------------------------------------------------------------------


def certificate_status(card, today) -> dict:
    """Counts that add up: each certificate is expired, expiring (≤ 60 days) or valid."""
    expired = {c.pk for c in card["certificates_expired"]}
    expiring = {c.pk for c in card["certificates_expiring"]} - expired
    total = len(card["certificates"])
    return {
        "total": total,
        "valid": total - len(expired) - len(expiring),
        "expiring": len(expiring),
        "expired": len(expired),
    }


@extend_schema_view(
    retrieve=extend_schema(
        summary="Scorecard of the EMS in one partnership",
        description=_(
            "Latest graded audit and the audit trend, open findings by class, the EMS's "
            "certificates by status and the monthly KPIs of the last year."
        ),
        parameters=[
            OpenApiParameter(
                "partnership_id",
                OpenApiTypes.INT,
                OpenApiParameter.PATH,
                description=_("A partnership of yours."),
            )
        ],
        responses=responses(ScorecardSerializer),
    )
)
class ScorecardViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    """``/scorecards/{partnership_id}/``: one partnership's scorecard."""

    queryset = Partnership.objects.all()
    serializer_class = ScorecardSerializer
    lookup_url_kwarg = "partnership_id"
    filter_backends = []
    pagination_class = None

    def retrieve(self, request, *args, **kwargs):
        partnership = self.get_object()
        today = timezone.localdate()
        card = services.scorecard(partnership, today=today)
        data = {
            "partnership": partnership.pk,
            "ems": partnership.ems_id,
            "latest": card["latest"],
            "audit_trend": card["audit_trend"],
            "open_findings": card["open_findings"],
            "certificates": certificate_status(card, today),
            "kpis": [
                {
                    "month": k.month,
                    "lines_due": k.lines_due,
                    "lines_on_time": k.lines_on_time,
                    "units_delivered": k.units_delivered,
                    "units_nonconforming": k.units_nonconforming,
                    "on_time_pct": k.on_time_pct,
                    "ppm": k.ppm,
                }
                for k in card["kpis"]
            ],
        }
        return Response(self.get_serializer(data).data)
