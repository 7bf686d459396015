"""Contracts and decision requests over REST. Views check input shape; ``contracts.services``
owns every rule (who may raise/answer, routing, transitions) and its errors map to 400/403."""

import django_filters
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from partnership.api.filters import IdFilter, updated_since
from partnership.api.upsert import ExternalIdUpsertMixin
from partnership.api.viewsets import ERROR_RESPONSES, ScopedViewSetMixin, responses

from .. import services
from ..filters import DecisionRequestFilter
from ..models import Contract, DecisionRequest
from .serializers import (
    AnswerSerializer,
    CommentSerializer,
    ContractSerializer,
    DecisionEventSerializer,
    DecisionRequestSerializer,
    DecisionRuleSerializer,
    FactsSerializer,
    ResponsibilityItemSerializer,
    RoutingSerializer,
    WithdrawSerializer,
)
from .upserts import DecisionRequestUpsert


class PDFRenderer(BaseRenderer):
    """Lets clients ask for ``Accept: application/pdf``; errors still go out as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return JSONRenderer().render(data)


# --- Contracts ----------------------------------------------------------------------------


class ContractFilter(django_filters.FilterSet):
    # A plain id, not a model choice: a choice list would name partnerships outside the scope.
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    status = django_filters.ChoiceFilter(choices=Contract.Status.choices, label=_("Status"))
    updated_since = updated_since()

    class Meta:
        model = Contract
        fields = ["partnership", "status", "updated_since"]


@extend_schema_view(
    list=extend_schema(responses=responses(ContractSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(ContractSerializer)),
)
class ContractViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Contract versions of your partnerships, with their flexibility table."""

    queryset = Contract.objects.all()
    serializer_class = ContractSerializer
    filterset_class = ContractFilter
    search_fields = ["title", "notes"]
    ordering_fields = ["id", "version", "status", "effective_from", "updated_at"]
    ordering = ["id"]

    def scope_queryset(self, qs):
        return qs.prefetch_related("flex_bands")

    @extend_schema(
        summary="Responsibility (RACI) matrix",
        responses=responses(ResponsibilityItemSerializer(many=True)),
    )
    @action(detail=True, pagination_class=None, filter_backends=[])
    def matrix(self, request, pk=None):
        contract = self.get_object()
        return Response(ResponsibilityItemSerializer(contract.matrix.all(), many=True).data)

    @extend_schema(
        summary="Decision rules, each described in plain language",
        responses=responses(DecisionRuleSerializer(many=True)),
    )
    @action(detail=True, pagination_class=None, filter_backends=[])
    def rules(self, request, pk=None):
        contract = self.get_object()
        return Response(DecisionRuleSerializer(contract.rules.all(), many=True).data)

    @extend_schema(
        summary="Contract summary as PDF",
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            **{(code, "application/json"): body for code, body in ERROR_RESPONSES.items()},
        },
    )
    @action(detail=True, renderer_classes=[JSONRenderer, PDFRenderer], filter_backends=[])
    def pdf(self, request, pk=None):
        from ..pdf import render_contract_pdf  # written alongside; imported when used

        contract = self.get_object()
        response = HttpResponse(render_contract_pdf(contract), content_type="application/pdf")
        response["Content-Disposition"] = (
            f'inline; filename="contract-summary-v{contract.version}.pdf"'
        )
        return response

    @extend_schema(
        summary="Dry run: where would a case with these facts be routed?",
        description=_("Stores nothing, so an API key with the read scope may call it."),
        request=FactsSerializer,
        responses=responses(RoutingSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[], changes_nothing=True)
    def route(self, request, pk=None):
        contract = self.get_object()
        facts = FactsSerializer(data=request.data)
        facts.is_valid(raise_exception=True)
        data = dict(facts.validated_data)
        category = data.pop("category")
        result = services.route_facts(contract, category, data)
        return Response(RoutingSerializer(RoutingSerializer.from_routing(result)).data)


# --- Decision requests --------------------------------------------------------------------


class DecisionRequestApiFilter(DecisionRequestFilter):
    """The decision list's filters, plus what an ERP sync needs."""

    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    open = django_filters.BooleanFilter(
        method="filter_open", label=_("true: only open requests; false: only closed ones")
    )

    class Meta(DecisionRequestFilter.Meta):
        fields = [
            *DecisionRequestFilter.Meta.fields,
            *(
                f
                for f in ("open", "partnership", "updated_since", "external_id")
                if f not in DecisionRequestFilter.Meta.fields
            ),
        ]

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        is_open = queryset.open()
        return is_open if value else queryset.exclude(pk__in=is_open.values("pk"))


@extend_schema_view(
    list=extend_schema(responses=responses(DecisionRequestSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(DecisionRequestSerializer)),
    create=extend_schema(
        summary="Raise a decision request; the active contract's rules route it",
        responses=responses(DecisionRequestSerializer, code=201, invalid=True),
    ),
)
class DecisionRequestViewSet(
    ScopedViewSetMixin,
    ExternalIdUpsertMixin,
    mixins.CreateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Decision requests the EMS raised in your partnerships, routed by the active contract."""

    queryset = DecisionRequest.objects.all()
    serializer_class = DecisionRequestSerializer
    filterset_class = DecisionRequestApiFilter
    search_fields = ["title", "description", "external_id"]
    ordering_fields = ["id", "number", "created_at", "updated_at", "due_at"]
    upsert = DecisionRequestUpsert()
    # No default ``ordering``: it would override the filterset's ``sort``. See scope_queryset.

    def scope_queryset(self, qs):
        return qs.select_related("rule", "raised_by", "answered_by").order_by("-created_at", "-id")

    def _answer_with(self, decision, code=status.HTTP_200_OK):
        decision = self.get_queryset().get(pk=decision.pk)
        return Response(self.get_serializer(decision).data, status=code)

    @extend_schema(
        summary="Answer: approve, reject or acknowledge (OEM)",
        request=AnswerSerializer,
        responses=responses(DecisionRequestSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def answer(self, request, pk=None):
        decision = self.get_object()
        body = AnswerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.answer_decision_request(by=request.user, request=decision, **body.validated_data)
        return self._answer_with(decision)

    @extend_schema(
        summary="Comment on the request (either side, not viewers)",
        request=CommentSerializer,
        responses=responses(DecisionEventSerializer, code=201, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def comment(self, request, pk=None):
        decision = self.get_object()
        body = CommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        event = services.comment_on_decision_request(
            by=request.user, request=decision, text=body.validated_data["text"]
        )
        return Response(DecisionEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Withdraw an open request (EMS)",
        request=WithdrawSerializer,
        responses=responses(DecisionRequestSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def withdraw(self, request, pk=None):
        decision = self.get_object()
        body = WithdrawSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.withdraw_decision_request(
            by=request.user, request=decision, text=body.validated_data["text"]
        )
        return self._answer_with(decision)

    @extend_schema(
        summary="Timeline: raised, routed, comments, answers",
        responses=responses(DecisionEventSerializer(many=True)),
    )
    @action(detail=True, pagination_class=None, filter_backends=[])
    def events(self, request, pk=None):
        decision = self.get_object()
        events = decision.events.select_related("actor")
        return Response(DecisionEventSerializer(events, many=True).data)
