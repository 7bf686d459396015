"""Serializers of the schedules API: they check the shape of the input and call
``schedules.services``, which owns every write — the set-based bulk upserts of products and
runs included (``schedules.services.bulk``); the bulk bodies here only check what would crash
those services (thousands of rows, no serializer per row)."""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import DecimalValidator, MaxValueValidator
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from partnership.api.fields import ScopedIdField
from partnership.api.representation import PlainRepresentationMixin
from partnership.api.serializers import PartyContactSerializer
from partnership.api.upsert import RowsField
from partnership.models import Partnership

from .. import services
from ..models import (
    CapacityAlert,
    CapacityPlan,
    CapacityUnit,
    DemandChange,
    DemandLine,
    DemandPublication,
    LongLeadItem,
    PriorityRequest,
    Product,
    ProductionRun,
    ReadinessItem,
    RunChange,
)
from ..services import DUPLICATE_EXTERNAL_ID, DUPLICATE_REVISION, MAX_BULK_ROWS

# --- Products and readiness ------------------------------------------------------------------


class ReadinessItemSerializer(serializers.ModelSerializer):
    latest_file_version = serializers.IntegerField(
        read_only=True, allow_null=True, help_text=_("Version of the newest file; null if none.")
    )
    latest_file_name = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = ReadinessItem
        fields = [
            "id",
            "kind",
            "required",
            "status",
            "rejection_reason",
            "reviewed_at",
            "latest_file_version",
            "latest_file_name",
            "updated_at",
        ]
        read_only_fields = fields


def _readiness(product):
    """``services.readiness`` once per serialized product (it reads the prefetched items)."""
    if not hasattr(product, "_api_readiness"):
        product._api_readiness = services.readiness(product)
    return product._api_readiness


class ProductSerializer(serializers.ModelSerializer):
    """A product (assembly); only the OEM creates and changes products. New products get the
    full NPI readiness checklist."""

    partnership = ScopedIdField(queryset=Partnership.objects.all())
    launch_ready = serializers.SerializerMethodField(
        help_text=_("True when every required readiness item is approved.")
    )
    blockers = serializers.SerializerMethodField(
        help_text=_("Kinds of the required readiness items that are not approved yet.")
    )
    readiness = ReadinessItemSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "partnership",
            "part_number",
            "revision",
            "name",
            "description",
            "ipc_class",
            "units_per_hour",
            "external_id",
            "released_at",
            "launch_ready",
            "blockers",
            "readiness",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["released_at", "created_at", "updated_at"]
        # The model's validator carries a float; DRF wants a Decimal.
        extra_kwargs = {"units_per_hour": {"min_value": Decimal("0.01")}}
        # Uniqueness is checked in validate() so that it answers with a field error.
        validators = []

    def get_launch_ready(self, product) -> bool:
        return _readiness(product)[0]

    def get_blockers(self, product) -> list[str]:
        return [item.kind for item in _readiness(product)[1]]

    def validate(self, attrs):
        product = self.instance
        partnership = attrs.get("partnership", product.partnership if product else None)
        if product is not None and partnership.pk != product.partnership_id:
            raise serializers.ValidationError(
                {"partnership": _("A product stays in its partnership.")}
            )

        def value(name):
            if name in attrs:
                return attrs[name]
            return getattr(product, name) if product else Product._meta.get_field(name).default

        others = Product.objects.filter(partnership=partnership)
        if product is not None:
            others = others.exclude(pk=product.pk)
        errors = {}
        external_id = value("external_id") or None
        if external_id and others.filter(external_id=external_id).exists():
            errors["external_id"] = [DUPLICATE_EXTERNAL_ID]
        if others.filter(part_number=value("part_number"), revision=value("revision")).exists():
            errors["part_number"] = [DUPLICATE_REVISION]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data):
        return services.save_product(by=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        validated_data.pop("partnership", None)
        return services.save_product(
            by=self.context["request"].user,
            partnership=instance.partnership,
            product=instance,
            **validated_data,
        )


# --- Production runs ---------------------------------------------------------------------------


class ProductionRunSerializer(serializers.ModelSerializer):
    """A production run: ordered and changed by the OEM; its status moves through the actions
    (confirm, propose-dates, answer-dates)."""

    partnership = ScopedIdField(queryset=Partnership.objects.all())
    product = ScopedIdField(queryset=Product.objects.all())
    product_part_number = serializers.CharField(source="product.part_number", read_only=True)
    product_external_id = serializers.CharField(
        source="product.external_id", read_only=True, allow_null=True
    )
    confirmed_by = PartyContactSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ProductionRun
        fields = [
            "id",
            "partnership",
            "product",
            "product_part_number",
            "product_external_id",
            "external_id",
            "quantity",
            "planned_launch",
            "due_date",
            "proposed_launch",
            "proposed_due",
            "status",
            "priority",
            "confirmed_by",
            "confirmed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "proposed_launch",
            "proposed_due",
            "status",
            "confirmed_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "priority": {
                "help_text": _(
                    "Set when the run is created; later changes go through "
                    "request-priority, which the EMS answers."
                )
            }
        }
        validators = []

    def validate(self, attrs):
        run = self.instance
        partnership = attrs.get("partnership", run.partnership if run else None)
        errors = {}
        if run is not None and partnership.pk != run.partnership_id:
            errors["partnership"] = [_("A run stays in its partnership.")]
        external_id = attrs.get("external_id", run.external_id if run else None) or None
        if external_id and not errors:
            others = ProductionRun.objects.filter(partnership=partnership, external_id=external_id)
            if run is not None:
                others = others.exclude(pk=run.pk)
            if others.exists():
                errors["external_id"] = [DUPLICATE_EXTERNAL_ID]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data):
        return services.save_run(by=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        validated_data.pop("partnership", None)
        return services.save_run(
            by=self.context["request"].user,
            partnership=instance.partnership,
            run=instance,
            **validated_data,
        )


class ProposeDatesSerializer(serializers.Serializer):
    proposed_launch = serializers.DateField()
    proposed_due = serializers.DateField()


class AnswerDatesSerializer(serializers.Serializer):
    accept = serializers.BooleanField(
        help_text=_("true: take the proposed dates (the run is confirmed); false: keep the old.")
    )


class RequestPrioritySerializer(serializers.Serializer):
    priority = serializers.ChoiceField(choices=ProductionRun.Priority.choices)
    reason = serializers.CharField()
    requested_due = serializers.DateField(required=False, allow_null=True, default=None)


class AnswerPrioritySerializer(serializers.Serializer):
    accept = serializers.BooleanField()
    answer = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Required when declining."),
    )


class PriorityRequestSerializer(serializers.ModelSerializer):
    partnership = serializers.IntegerField(source="run.partnership_id", read_only=True)
    requested_by = PartyContactSerializer(read_only=True)
    answered_by = PartyContactSerializer(read_only=True, allow_null=True)

    class Meta:
        model = PriorityRequest
        fields = [
            "id",
            "partnership",
            "run",
            "priority",
            "requested_due",
            "reason",
            "status",
            "requested_by",
            "requested_at",
            "answered_by",
            "answered_at",
            "answer",
        ]
        read_only_fields = fields


# --- Row lists (bulk bodies) ------------------------------------------------------------------


class ObjectListField(RowsField):
    """A JSON list of objects (``RowsField``'s checks), each checked here in one pass (no
    per-row serializer: thousands of rows).

    Errors name the row by its index: ``{"<index>": {"field": ["…"]}}``.
    """

    default_error_messages = {"not_an_object": _("Expected an object.")}

    def __init__(self, *, max_rows=MAX_BULK_ROWS, **kwargs):
        super().__init__(max_rows=max_rows, **kwargs)

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        errors = {}
        for index, row in enumerate(data):
            row_errors = (
                self.check_row(row)
                if isinstance(row, dict)
                else {"non_field_errors": [self.error_messages["not_an_object"]]}
            )
            if row_errors:
                errors[str(index)] = row_errors
        if errors:
            raise serializers.ValidationError(errors)
        return data

    def check_row(self, row) -> dict:
        """Only what would crash the service or the database; the service checks the rest."""
        return {}


def _not_text(row, names):
    return {
        name: [_("Expected text.")]
        for name in names
        if row.get(name) is not None and not isinstance(row[name], str)
    }


class ProductUpsertItemSerializer(serializers.Serializer):
    """One product of a bulk upsert. New products need ``part_number`` and ``name``; for
    existing ones only the fields sent change."""

    external_id = serializers.CharField(max_length=100, help_text=_("The ERP's key."))
    part_number = serializers.CharField(max_length=60, required=False)
    revision = serializers.CharField(max_length=20, required=False, help_text=_("Default A."))
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    ipc_class = serializers.ChoiceField(choices=Product.IpcClass.choices, required=False)
    units_per_hour = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        allow_null=True,
    )


class RunUpsertItemSerializer(serializers.Serializer):
    """One run of a bulk upsert. New runs need a product, ``quantity``, ``planned_launch`` and
    ``due_date``; for existing ones only the fields sent change."""

    external_id = serializers.CharField(max_length=100, help_text=_("The ERP's key."))
    product = serializers.IntegerField(required=False, help_text=_("Product id, or …"))
    product_external_id = serializers.CharField(
        required=False, help_text=_("… the product's external id.")
    )
    quantity = serializers.IntegerField(min_value=1, required=False)
    planned_launch = serializers.DateField(required=False)
    due_date = serializers.DateField(required=False)
    priority = serializers.ChoiceField(
        choices=ProductionRun.Priority.choices,
        required=False,
        help_text=_("Only when the run is created; later through request-priority."),
    )


class CapacityRowSerializer(serializers.Serializer):
    week = serializers.CharField(
        help_text=_("A date (its Monday is taken) or an ISO week such as 2027-W05.")
    )
    line = serializers.CharField(required=False, allow_blank=True, max_length=40)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    unit = serializers.ChoiceField(
        choices=CapacityUnit.choices,
        required=False,
        help_text=_("Defaults to the unit the partnership's capacity is kept in."),
    )
    external_id = serializers.CharField(required=False, allow_null=True, max_length=100)


class DemandRowSerializer(serializers.Serializer):
    product = serializers.CharField(help_text=_("Part number, external id or id of the product."))
    week = serializers.CharField(
        help_text=_("A date (its Monday is taken) or an ISO week such as 2027-W05.")
    )
    quantity = serializers.IntegerField(min_value=0)


@extend_schema_field(ProductUpsertItemSerializer(many=True))
class ProductItemsField(ObjectListField):
    pass


@extend_schema_field(RunUpsertItemSerializer(many=True))
class RunItemsField(ObjectListField):
    pass


_amount_digits = DecimalValidator(
    CapacityPlan._meta.get_field("amount").max_digits,
    CapacityPlan._meta.get_field("amount").decimal_places,
)
_max_quantity = MaxValueValidator(2147483647)


@extend_schema_field(CapacityRowSerializer(many=True))
class CapacityRowsField(ObjectListField):
    def check_row(self, row):
        errors = _not_text(row, ("line", "unit", "external_id"))
        if isinstance(row.get("external_id"), str) and len(row["external_id"]) > 100:
            errors["external_id"] = [_("At most 100 characters.")]
        amount = _decimal(row.get("amount"))
        if amount is not None:
            try:
                _amount_digits(amount)
            except DjangoValidationError as exc:
                errors["amount"] = exc.messages
        return errors


@extend_schema_field(DemandRowSerializer(many=True))
class DemandRowsField(ObjectListField):
    def check_row(self, row):
        quantity = _decimal(row.get("quantity"))
        if quantity is not None:
            try:
                _max_quantity(quantity)
            except DjangoValidationError as exc:
                return {"quantity": exc.messages}
        return {}


def _decimal(value):
    """The number the services would parse, or None (they report what is not a number)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


# --- Bulk upserts ---------------------------------------------------------------------------


class ProductBulkUpsertSerializer(serializers.Serializer):
    partnership = ScopedIdField(queryset=Partnership.objects.all())
    items = ProductItemsField(help_text=_("Products keyed by external_id, up to 20,000."))


class RunBulkUpsertSerializer(serializers.Serializer):
    partnership = ScopedIdField(queryset=Partnership.objects.all())
    items = RunItemsField(help_text=_("Production runs keyed by external_id, up to 20,000."))


# --- Capacity and load ------------------------------------------------------------------------


class CapacityPlanSerializer(PlainRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = CapacityPlan
        fields = [
            "id",
            "partnership",
            "week",
            "line",
            "amount",
            "unit",
            "external_id",
            "updated_at",
        ]
        read_only_fields = fields


class PublishCapacitySerializer(serializers.Serializer):
    partnership = ScopedIdField(queryset=Partnership.objects.all())
    rows = CapacityRowsField(
        help_text=_("Weekly capacity, upserted by (week, line); all rows or none.")
    )


class PublishedCapacitySerializer(serializers.Serializer):
    partnership = serializers.IntegerField()
    rows = serializers.IntegerField(help_text=_("Rows created or updated."))


class LoadQuerySerializer(serializers.Serializer):
    partnership = ScopedIdField(queryset=Partnership.objects.all())
    weeks = serializers.IntegerField(min_value=1, max_value=104, default=services.WEEKS_AHEAD)
    start = serializers.DateField(
        required=False, help_text=_("First week (its Monday is taken); default this week.")
    )


class WeekLoadSerializer(serializers.Serializer):
    week = serializers.DateField()
    capacity = serializers.DecimalField(max_digits=14, decimal_places=2)
    demand = serializers.DecimalField(max_digits=14, decimal_places=2)
    unit = serializers.ChoiceField(choices=CapacityUnit.choices)
    utilisation = serializers.DecimalField(
        max_digits=7,
        decimal_places=1,
        allow_null=True,
        help_text=_("% of capacity; null without capacity and demand."),
    )


# --- Demand -------------------------------------------------------------------------------------


class PublishDemandSerializer(serializers.Serializer):
    partnership = ScopedIdField(queryset=Partnership.objects.all())
    rows = DemandRowsField(
        help_text=_("Every weekly line of the new version; lines left out count as zero.")
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    external_id = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=100,
        help_text=_(
            "Makes retries safe: a publication of the partnership with this external id is "
            "answered with 200 instead of publishing again."
        ),
    )


class DemandPublicationSerializer(serializers.ModelSerializer):
    published_by = PartyContactSerializer(read_only=True)
    lines_count = serializers.IntegerField(read_only=True)
    changes_count = serializers.IntegerField(
        read_only=True, help_text=_("Lines changed from the previous version.")
    )
    open_breaches = serializers.IntegerField(
        read_only=True, help_text=_("Changes beyond the flex terms not acknowledged by the EMS.")
    )

    class Meta:
        model = DemandPublication
        fields = [
            "id",
            "partnership",
            "version",
            "reference_week",
            "note",
            "external_id",
            "published_by",
            "published_at",
            "lines_count",
            "changes_count",
            "open_breaches",
        ]
        read_only_fields = fields


class ChangesSummarySerializer(serializers.Serializer):
    within = serializers.IntegerField()
    increase_breach = serializers.IntegerField()
    cancellation = serializers.IntegerField()
    frozen = serializers.IntegerField()
    non_binding = serializers.IntegerField()

    @staticmethod
    def of(publication) -> dict:
        counts = dict(publication.changes.order_by().values_list("verdict").annotate(n=Count("id")))
        return {verdict: counts.get(verdict, 0) for verdict in DemandChange.Verdict.values}


class DemandPublicationDetailSerializer(DemandPublicationSerializer):
    changes_summary = serializers.SerializerMethodField(
        help_text=_("Changed lines by flex-term verdict.")
    )

    class Meta(DemandPublicationSerializer.Meta):
        fields = [*DemandPublicationSerializer.Meta.fields, "changes_summary"]
        read_only_fields = fields

    @extend_schema_field(ChangesSummarySerializer)
    def get_changes_summary(self, publication):
        return ChangesSummarySerializer.of(publication)


class DemandLineSerializer(serializers.ModelSerializer):
    product_part_number = serializers.CharField(source="product.part_number", read_only=True)
    product_external_id = serializers.CharField(
        source="product.external_id", read_only=True, allow_null=True
    )

    class Meta:
        model = DemandLine
        fields = ["id", "product", "product_part_number", "product_external_id", "week", "quantity"]
        read_only_fields = fields


class DemandChangeSerializer(serializers.ModelSerializer):
    product_part_number = serializers.CharField(source="product.part_number", read_only=True)
    is_breach = serializers.BooleanField(read_only=True)
    acknowledged_by = PartyContactSerializer(read_only=True, allow_null=True)

    class Meta:
        model = DemandChange
        fields = [
            "id",
            "product",
            "product_part_number",
            "week",
            "weeks_out",
            "previous_quantity",
            "new_quantity",
            "band_label",
            "max_increase_pct",
            "max_decrease_pct",
            "verdict",
            "is_breach",
            "exposure",
            "acknowledged_by",
            "acknowledged_at",
        ]
        read_only_fields = fields


class AcknowledgedSerializer(serializers.Serializer):
    acknowledged = serializers.IntegerField(help_text=_("Breaches acknowledged by this call."))


# --- Alerts ---------------------------------------------------------------------------------------


class CapacityAlertSerializer(serializers.ModelSerializer):
    acknowledged_by = PartyContactSerializer(read_only=True, allow_null=True)

    class Meta:
        model = CapacityAlert
        fields = [
            "id",
            "partnership",
            "week",
            "kind",
            "severity",
            "status",
            "demand",
            "capacity",
            "utilisation",
            "message",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- Long-lead material and run changes -----------------------------------------------------------


class LongLeadItemSerializer(serializers.ModelSerializer):
    """A component the EMS buys ahead for a product; written by the EMS."""

    product = ScopedIdField(queryset=Product.objects.all())
    cost_per_assembly = serializers.DecimalField(max_digits=22, decimal_places=7, read_only=True)

    class Meta:
        model = LongLeadItem
        fields = [
            "id",
            "product",
            "component",
            "description",
            "lead_time_weeks",
            "quantity_per_assembly",
            "unit_price",
            "cost_per_assembly",
            "external_id",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
        validators = []  # save_long_lead_item's full_clean reports duplicates per field

    def validate_product(self, product):
        if self.instance is not None and product.pk != self.instance.product_id:
            raise serializers.ValidationError(_("A long-lead item stays with its product."))
        return product

    def create(self, validated_data):
        return services.save_long_lead_item(by=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        validated_data.pop("product", None)
        return services.save_long_lead_item(
            by=self.context["request"].user,
            product=instance.product,
            item=instance,
            **validated_data,
        )


class RunChangeSerializer(serializers.ModelSerializer):
    changed_by = PartyContactSerializer(read_only=True)
    acknowledged_by = PartyContactSerializer(read_only=True, allow_null=True)
    is_breach = serializers.BooleanField(read_only=True)

    class Meta:
        model = RunChange
        fields = [
            "id",
            "run",
            "changed_by",
            "changed_at",
            "weeks_out",
            "band_label",
            "previous_launch",
            "previous_due",
            "new_launch",
            "new_due",
            "previous_quantity",
            "new_quantity",
            "verdict",
            "is_breach",
            "exposure",
            "acknowledged_by",
            "acknowledged_at",
        ]
        read_only_fields = fields
