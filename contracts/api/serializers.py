from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from partnership.api.fields import ScopedIdField
from partnership.api.serializers import PartyContactSerializer
from partnership.models import Partnership

from ..models import (
    Category,
    Contract,
    DecisionEvent,
    DecisionMode,
    DecisionRequest,
    DecisionRule,
    FlexBand,
    ResponsibilityItem,
)


@extend_schema_field(
    {
        "allOf": [{"type": "string", "enum": DecisionMode.values}],
        "description": "\n".join(f"* `{m.value}` - {m.label}" for m in DecisionMode),
    }
)
class FlexBandSerializer(serializers.ModelSerializer):
    class Meta:
        model = FlexBand
        fields = ["id", *FlexBand.TERMS]


class ContractSerializer(serializers.ModelSerializer):
    flex_bands = FlexBandSerializer(many=True, read_only=True)

    class Meta:
        model = Contract
        fields = [
            "id",
            "partnership",
            "version",
            "title",
            "status",
            "effective_from",
            "effective_until",
            "currency",
            "frozen_zone_weeks",
            "default_decision_mode",
            "default_response_hours",
            "notes",
            "flex_bands",
            "previous",
            "drafted_by",
            "proposed_at",
            "oem_signed_at",
            "ems_signed_at",
            "activated_at",
            "content_hash",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ResponsibilityItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ResponsibilityItem
        fields = ["id", "area", "activity", "oem", "ems", "position"]
        read_only_fields = fields


class DecisionRuleSerializer(serializers.ModelSerializer):
    description = serializers.SerializerMethodField(
        help_text=_("The rule in plain language, as in the contract PDF.")
    )

    class Meta:
        model = DecisionRule
        fields = [
            "id",
            "category",
            *DecisionRule.CONDITION_FIELDS,
            "outcome",
            "response_hours",
            "silence_is_consent",
            "clause_ref",
            "clause_text",
            "position",
            "description",
        ]
        read_only_fields = fields

    def get_description(self, rule) -> str:
        return rule.describe()


class FactsSerializer(serializers.Serializer):
    """The facts of a hypothetical decision, as the rules see them (the rule tester's form)."""

    category = serializers.ChoiceField(choices=Category.choices)
    cost_impact = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    price_change_pct = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    delay_days = serializers.IntegerField(
        min_value=0, max_value=2147483647, required=False, allow_null=True
    )
    quantity = serializers.IntegerField(
        min_value=0, max_value=2147483647, required=False, allow_null=True
    )
    safety_critical = serializers.BooleanField(default=False)
    outside_avl = serializers.BooleanField(default=False)
    fff_impact = serializers.BooleanField(default=False)
    ipc_class3 = serializers.BooleanField(default=False)
    customer_visible = serializers.BooleanField(default=False)


class RoutingSerializer(serializers.Serializer):
    """Where a case would go under a contract's rules, and why. Nothing is stored."""

    mode = serializers.ChoiceField(choices=DecisionMode.choices)
    rule = serializers.IntegerField(
        allow_null=True, help_text=_("The deciding rule's id; null when the default applies.")
    )
    clause_ref = serializers.CharField(allow_null=True)
    response_hours = serializers.IntegerField()
    silence_is_consent = serializers.BooleanField()
    explanation = serializers.CharField()
    matched_rules = serializers.ListField(
        child=serializers.IntegerField(), help_text=_("Ids of every rule that matched.")
    )

    @staticmethod
    def from_routing(result) -> dict:
        return {
            "mode": result.mode,
            "rule": result.rule.pk if result.rule else None,
            "clause_ref": result.rule.clause_ref if result.rule else None,
            "response_hours": result.response_hours,
            "silence_is_consent": result.silence_is_consent,
            "explanation": result.explanation,
            "matched_rules": [r.pk for r in result.matched],
        }


class DecisionRequestSerializer(serializers.ModelSerializer):
    """A decision request. On create, everything routing decides is filled in by the server."""

    partnership = ScopedIdField(queryset=Partnership.objects.all())
    reference = serializers.CharField(read_only=True, help_text=_("DR-0001 style reference."))
    rule_clause = serializers.CharField(
        source="rule.clause_ref",
        read_only=True,
        allow_null=True,
        help_text=_("Clause of the rule that routed the request; null when the default applied."),
    )
    is_open = serializers.BooleanField(read_only=True)
    raised_by = PartyContactSerializer(read_only=True)
    answered_by = PartyContactSerializer(read_only=True, allow_null=True)

    class Meta:
        model = DecisionRequest
        fields = [
            "id",
            "reference",
            "number",
            "partnership",
            "contract",
            "external_id",
            "title",
            "description",
            "category",
            "cost_impact",
            "price_change_pct",
            "delay_days",
            "quantity",
            "safety_critical",
            "outside_avl",
            "fff_impact",
            "ipc_class3",
            "customer_visible",
            "mode",
            "rule",
            "rule_clause",
            "routing_explanation",
            "response_hours",
            "silence_is_consent",
            "status",
            "is_open",
            "due_at",
            "raised_by",
            "raised_by_org",
            "answered_by",
            "answered_at",
            "answer",
            "escalated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "number",
            "contract",
            "mode",
            "rule",
            "routing_explanation",
            "response_hours",
            "silence_is_consent",
            "status",
            "due_at",
            "raised_by_org",
            "answered_at",
            "answer",
            "escalated_at",
            "created_at",
            "updated_at",
        ]
        # Uniqueness of external_id is the service's business (a field error on external_id).
        validators = []

    def create(self, validated_data):
        from .. import services

        return services.raise_decision_request(by=self.context["request"].user, **validated_data)


class AnswerSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=[
            ("approve", _("Approve")),
            ("reject", _("Reject")),
            ("acknowledge", _("Acknowledge")),
        ],
        help_text=_(
            "approve/reject for requests routed to OEM approval; acknowledge/reject (object) "
            "for consultations."
        ),
    )
    text = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Reason or comment; required when rejecting."),
    )


class CommentSerializer(serializers.Serializer):
    text = serializers.CharField()


class WithdrawSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, default="")


class DecisionEventSerializer(serializers.ModelSerializer):
    actor = PartyContactSerializer(read_only=True, allow_null=True)

    class Meta:
        model = DecisionEvent
        fields = ["id", "kind", "actor", "text", "created_at"]
        read_only_fields = fields
