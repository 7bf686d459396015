"""Serializers of the communications API. Output mirrors the models; input serializers only check
the shape of a body and resolve ids within the caller's scope — ``comms.services`` decides who
may do what, whether attendees and owners belong to the partnership, recurrence rules and status
transitions."""

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from audits.models import Audit
from contracts.models import DecisionRequest
from partnership.api.fields import ScopedIdField, ScopedPersonField
from partnership.api.serializers import PartyContactSerializer
from partnership.models import TIME_ZONE_CHOICES, Partnership
from schedules.models import Product, ProductionRun

from ..models import (
    ActionItem,
    AgendaItem,
    Goal,
    GoalMeasurement,
    Meeting,
    Minutes,
    Problem,
    ProblemComment,
)

MAX_OCCURRENCES = 500


# --- Fields ---------------------------------------------------------------------------------


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset (``Z`` or ``+01:00``): a meeting time without one is
    ambiguous between the partners' zones, so it is refused rather than guessed."""

    default_error_messages = {
        "naive": _("Give the time with its UTC offset, e.g. 2025-03-04T09:00:00+01:00."),
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        return super().to_internal_value(value)


def same_partnership(data, partnership, *fields):
    """Field errors for linked objects of another of the caller's partnerships."""
    errors = {
        name: [_("Link only objects of this partnership.")]
        for name in fields
        if data.get(name) is not None and data[name].partnership_id != partnership.pk
    }
    if errors:
        raise serializers.ValidationError(errors)


# --- Meetings -------------------------------------------------------------------------------


@extend_schema_field(
    {"oneOf": [{"type": "string", "format": "uri"}, {"type": "string", "maxLength": 0}]}
)
class BlankableURLField(serializers.URLField):
    """A URL or "" (none): the schema says so, where a plain URLField promises a URI."""


class MeetingSerializer(serializers.ModelSerializer):
    """A meeting or a whole series; a moved occurrence is a meeting of its own with ``parent``
    (the series) and ``recurrence_id`` (the start it replaces)."""

    organiser = PartyContactSerializer(read_only=True)
    attendees = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    attendee_contacts = PartyContactSerializer(source="attendees", many=True, read_only=True)
    uid = serializers.CharField(
        source="ical_uid", read_only=True, help_text=_("The iCalendar UID of the series.")
    )
    exdates = serializers.ListField(
        child=serializers.DateTimeField(),
        read_only=True,
        help_text=_("Starts of cancelled occurrences."),
    )
    conference_url = BlankableURLField(read_only=True)

    class Meta:
        model = Meeting
        fields = [
            "id",
            "partnership",
            "kind",
            "title",
            "description",
            "start",
            "end",
            "time_zone",
            "rrule",
            "exdates",
            "location",
            "conference_url",
            "parent",
            "recurrence_id",
            "organiser",
            "attendees",
            "attendee_contacts",
            "status",
            "uid",
            "sequence",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# The write serializers share the output's component name ("MeetingRequest" for POST,
# "PatchedMeetingRequest" for PATCH): one ``MeetingKindEnum`` instead of a naming collision.
@extend_schema_serializer(component_name="Meeting")
class MeetingWriteSerializer(serializers.Serializer):
    """What PATCH may change; everything but the partnership. Left-out fields stay."""

    title = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Meeting.Kind.choices)
    start = AwareDateTimeField(help_text=_("ISO 8601 with a UTC offset."))
    end = AwareDateTimeField(help_text=_("ISO 8601 with a UTC offset; after the start."))
    time_zone = serializers.ChoiceField(
        choices=TIME_ZONE_CHOICES,
        help_text=_("Recurrences keep their wall-clock time in this zone."),
    )
    rrule = serializers.CharField(
        max_length=200,
        allow_blank=True,
        help_text=_("RFC 5545 rule with an end, e.g. FREQ=WEEKLY;COUNT=12. Empty: no repeats."),
    )
    location = serializers.CharField(max_length=200, allow_blank=True)
    conference_url = serializers.URLField(max_length=200, allow_blank=True)
    description = serializers.CharField(allow_blank=True)
    attendees = ScopedPersonField(
        many=True,
        help_text=_("User ids: members of either side of the partnership."),
    )


@extend_schema_serializer(component_name="Meeting")
class MeetingCreateSerializer(MeetingWriteSerializer):
    """A new meeting or series; the caller organises it."""

    partnership = ScopedIdField(queryset=Partnership.objects.all())
    kind = serializers.ChoiceField(choices=Meeting.Kind.choices, default=Meeting.Kind.OPERATIONS)
    time_zone = serializers.ChoiceField(
        choices=TIME_ZONE_CHOICES,
        required=False,
        help_text=_(
            "Recurrences keep their wall-clock time in this zone. Left out: your own zone."
        ),
    )
    rrule = serializers.CharField(
        max_length=200,
        allow_blank=True,
        default="",
        help_text=_("RFC 5545 rule with an end, e.g. FREQ=WEEKLY;COUNT=12. Empty: no repeats."),
    )
    location = serializers.CharField(max_length=200, allow_blank=True, default="")
    conference_url = serializers.URLField(max_length=200, allow_blank=True, default="")
    description = serializers.CharField(allow_blank=True, default="")
    attendees = ScopedPersonField(
        many=True,
        default=list,
        help_text=_("User ids: members of either side of the partnership."),
    )


class OccurrenceSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    meeting = serializers.IntegerField(
        help_text=_("The series, or for a moved occurrence the meeting that replaces it.")
    )
    moved = serializers.BooleanField(help_text=_("Moved away from the series' rhythm."))
    original_start = serializers.DateTimeField(
        help_text=_("The start in the series' rhythm: what cancel-occurrence expects.")
    )


def _occurrence_query_serializer():
    fields = {
        # Like the list's ``from``/``to`` filters: without an offset, the server's zone.
        "from": serializers.DateTimeField(
            required=False, help_text=_("Window start (ISO 8601); default: now.")
        ),
        "to": serializers.DateTimeField(
            required=False, help_text=_("Window end (exclusive); default: open-ended.")
        ),
        "limit": serializers.IntegerField(
            required=False,
            default=20,
            min_value=1,
            max_value=MAX_OCCURRENCES,
            help_text=_("At most this many occurrences (default 20)."),
        ),
    }
    # ``from`` is a Python keyword: the fields are declared through the class namespace.
    return type("OccurrenceQuerySerializer", (serializers.Serializer,), fields)


OccurrenceQuerySerializer = _occurrence_query_serializer()


class CancelOccurrenceSerializer(serializers.Serializer):
    occurrence = AwareDateTimeField(
        help_text=_("The occurrence's start in the series' rhythm (`original_start`).")
    )


class RescheduleOccurrenceSerializer(CancelOccurrenceSerializer):
    start = AwareDateTimeField(help_text=_("New start, ISO 8601 with offset."))
    end = AwareDateTimeField(help_text=_("New end, ISO 8601 with offset."))


class AgendaItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgendaItem
        fields = ["id", "position", "title", "notes", "source", "source_url"]
        read_only_fields = fields


class NewAgendaItemSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)


class MinutesSerializer(serializers.ModelSerializer):
    published_by = PartyContactSerializer(read_only=True, allow_null=True)
    published = serializers.SerializerMethodField()

    class Meta:
        model = Minutes
        fields = [
            "meeting",
            "notes",
            "decisions",
            "published",
            "published_at",
            "published_by",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"updated_at": {"allow_null": True}}

    def get_published(self, minutes) -> bool:
        return minutes.published_at is not None


class SaveMinutesSerializer(serializers.Serializer):
    """Both texts; they replace what was saved."""

    notes = serializers.CharField(allow_blank=True, trim_whitespace=False)
    decisions = serializers.CharField(allow_blank=True, trim_whitespace=False)


# --- Action items ---------------------------------------------------------------------------


class ActionItemSerializer(serializers.ModelSerializer):
    partnership = ScopedIdField(queryset=Partnership.objects.all())
    meeting = ScopedIdField(
        queryset=Meeting.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("A meeting of the same partnership."),
    )
    problem = ScopedIdField(
        queryset=Problem.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("A problem of the same partnership."),
    )
    owner = ScopedPersonField(
        required=False,
        help_text=_("A member of either side; you when left out."),
    )
    owner_contact = PartyContactSerializer(source="owner", read_only=True)
    created_by = PartyContactSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "partnership",
            "meeting",
            "problem",
            "title",
            "owner",
            "owner_contact",
            "due_date",
            "status",
            "created_by",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "external_id", "created_at", "updated_at"]

    def validate(self, data):
        same_partnership(data, data["partnership"], "meeting", "problem")
        return data


@extend_schema_serializer(component_name="ActionItem")  # PATCH: "PatchedActionItemRequest"
class ActionStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ActionItem.Status.choices)


# --- Problems -------------------------------------------------------------------------------


class ProblemSerializer(serializers.ModelSerializer):
    """A problem. On create the server numbers it; it opens with status ``open``."""

    partnership = ScopedIdField(queryset=Partnership.objects.all())
    reference = serializers.SerializerMethodField(help_text=_("P-0001 style reference."))
    owner = ScopedPersonField(
        required=False,
        help_text=_("A member of either side; you when left out."),
    )
    owner_contact = PartyContactSerializer(source="owner", read_only=True)
    raised_by = PartyContactSerializer(read_only=True)
    product = ScopedIdField(queryset=Product.objects.all(), required=False, allow_null=True)
    production_run = ScopedIdField(
        queryset=ProductionRun.objects.all(), required=False, allow_null=True
    )
    audit = ScopedIdField(queryset=Audit.objects.all(), required=False, allow_null=True)
    decision_request = ScopedIdField(
        queryset=DecisionRequest.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Problem
        fields = [
            "id",
            "partnership",
            "number",
            "reference",
            "title",
            "description",
            "severity",
            "status",
            "owner",
            "owner_contact",
            "raised_by",
            "resolution",
            "product",
            "production_run",
            "audit",
            "decision_request",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "number",
            "status",
            "resolution",
            "external_id",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"severity": {"required": True}}
        # Numbering is the service's business.
        validators = []

    def get_reference(self, problem) -> str:
        return f"P-{problem.number:04d}"


class ProblemCommentSerializer(serializers.ModelSerializer):
    author = PartyContactSerializer(read_only=True)
    mentions = PartyContactSerializer(many=True, read_only=True)

    class Meta:
        model = ProblemComment
        fields = ["id", "problem", "author", "text", "mentions", "attachment_name", "created_at"]
        read_only_fields = fields


class NewCommentSerializer(serializers.Serializer):
    text = serializers.CharField(
        help_text=_("Mention people of the partnership with @firstname, @first.last or @e-mail.")
    )


@extend_schema_field(
    {
        # Inline (not a named enum): the problem's status enum is named after the Problem
        # component, and this body is another one.
        "allOf": [{"type": "string", "enum": Problem.Status.values}],
        "description": "\n".join(f"* `{s.value}` - {s.label}" for s in Problem.Status),
    }
)
class ProblemStatusField(serializers.ChoiceField):
    pass


class ProblemStatusSerializer(serializers.Serializer):
    status = ProblemStatusField(
        choices=Problem.Status.choices,
        help_text=_(
            "open ↔ investigating → resolved → closed; resolved may go back to investigating."
        ),
    )
    resolution = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Required to resolve or close, unless the problem already has one."),
    )


# --- Goals ----------------------------------------------------------------------------------


class GoalSerializer(serializers.ModelSerializer):
    partnership = ScopedIdField(queryset=Partnership.objects.all())
    owner = ScopedPersonField(
        required=False,
        help_text=_("A member of either side; you when left out."),
    )
    owner_contact = PartyContactSerializer(source="owner", read_only=True)
    progress_pct = serializers.SerializerMethodField(
        help_text=_("0–100: how far from baseline to target; null without a current value.")
    )

    class Meta:
        model = Goal
        fields = [
            "id",
            "partnership",
            "horizon",
            "title",
            "metric",
            "unit",
            "baseline",
            "target",
            "current",
            "progress_pct",
            "due_date",
            "owner",
            "owner_contact",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["external_id", "created_at", "updated_at"]

    def get_progress_pct(self, goal) -> int | None:
        return goal.progress_pct


class GoalChangeSerializer(GoalSerializer):
    """PATCH: any of the goal's fields but its partnership."""

    partnership = serializers.PrimaryKeyRelatedField(read_only=True)


class GoalMeasurementSerializer(serializers.ModelSerializer):
    date = serializers.DateField(required=False, help_text=_("Default: today."))

    class Meta:
        model = GoalMeasurement
        fields = ["id", "goal", "date", "value"]
        read_only_fields = ["id", "goal"]
        # One per goal and day: recording again replaces the day's value.
        validators = []
