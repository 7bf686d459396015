"""Communications over REST: meetings and their occurrences, agenda, minutes and calendar files;
action items; the problem log; goals.

Views check input shape; ``comms.services`` owns every rule (who may write, attendees and owners
from the partnership, recurrence rules, problem transitions) and its errors map to 400 (with
field errors) and 403. Every queryset starts from ``for_user``: foreign ids are 404 in URLs and a
field error in bodies, indistinguishable from unknown ids. Nothing is deleted: meetings are
cancelled, problems closed with a resolution, action items marked done or cancelled.
"""

import django_filters
from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from partnership.api.filters import IdFilter, UtcIsoDateTimeFilter, updated_since
from partnership.api.upsert import ExternalIdUpsertMixin
from partnership.api.viewsets import (
    ERROR_RESPONSES,
    RespondMixin,
    ScopedViewSetMixin,
    body,
    responses,
)

from .. import recurrence, services
from ..ics import invitation
from ..models import (
    ActionItem,
    Goal,
    GoalMeasurement,
    Meeting,
    Minutes,
    Problem,
    ProblemComment,
    not_over,
)
from .serializers import (
    ActionItemSerializer,
    ActionStatusSerializer,
    AgendaItemSerializer,
    CancelOccurrenceSerializer,
    GoalChangeSerializer,
    GoalMeasurementSerializer,
    GoalSerializer,
    MeetingCreateSerializer,
    MeetingSerializer,
    MeetingWriteSerializer,
    MinutesSerializer,
    NewAgendaItemSerializer,
    NewCommentSerializer,
    OccurrenceQuerySerializer,
    OccurrenceSerializer,
    ProblemCommentSerializer,
    ProblemSerializer,
    ProblemStatusSerializer,
    RescheduleOccurrenceSerializer,
    SaveMinutesSerializer,
)
from .upserts import ActionItemUpsert, GoalUpsert, MeetingUpsert, ProblemUpsert


class CalendarRenderer(BaseRenderer):
    """Lets clients ask for ``Accept: text/calendar``; errors still go out as JSON."""

    media_type = "text/calendar"
    format = "ics"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return JSONRenderer().render(data)


# --- Meetings -------------------------------------------------------------------------------


def in_window(queryset, start, end):
    """Meetings with an occurrence in [start, end): single meetings by their times, series by
    expanding their rule (without cancelled and moved occurrences)."""
    singles = Q(rrule="")
    if start:
        singles &= Q(end__gt=start)
    if end:
        singles &= Q(start__lt=end)
    series = (
        queryset.exclude(rrule="")
        .select_related(None)
        .prefetch_related(None)
        .order_by()
        .only("pk", "start", "end", "time_zone", "rrule", "exdates")
    )
    if end:
        series = series.filter(start__lt=end)
    if start:
        series = series.filter(not_over(start))  # finished series are not expanded
    hits = [m.pk for m in series if recurrence.occurrences(m, start, end)]
    return queryset.filter(singles | Q(pk__in=hits))


class MeetingFilter(django_filters.FilterSet):
    # A plain id, not a model choice: a choice list would name partnerships outside the scope.
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    kind = django_filters.ChoiceFilter(choices=Meeting.Kind.choices, label=_("Kind"))
    status = django_filters.ChoiceFilter(choices=Meeting.Status.choices, label=_("Status"))
    updated_since = updated_since()

    external_id = django_filters.CharFilter(label=_("External id"))

    class Meta:
        model = Meeting
        fields = ["partnership", "kind", "status", "updated_since", "external_id"]

    def deferred_to_window(self, queryset, name, value):
        return queryset  # ``from`` and ``to`` are applied together in filter_queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        start, end = self.form.cleaned_data.get("from"), self.form.cleaned_data.get("to")
        if start or end:
            queryset = in_window(queryset, start, end)
        return queryset


# ``from`` is a Python keyword: the window's filters are added by name.
MeetingFilter.base_filters["from"] = UtcIsoDateTimeFilter(
    field_name="end",
    method="deferred_to_window",
    label=_("With an occurrence ending after this time"),
)
MeetingFilter.base_filters["to"] = UtcIsoDateTimeFilter(
    field_name="start",
    method="deferred_to_window",
    label=_("With an occurrence starting before this time"),
)


def occurrence_rows(user, meeting, start, end) -> list[dict]:
    """The meeting's occurrences in the window, a series' moved ones included, by start."""
    if meeting.status == Meeting.Status.CANCELLED:
        return []
    moved = bool(meeting.parent_id)
    rows = [
        {
            "start": s,
            "end": e,
            "meeting": meeting.pk,
            "moved": moved,
            "original_start": meeting.recurrence_id if moved else s,
        }
        for s, e in recurrence.occurrences(meeting, start, end)
    ]
    if meeting.rrule and not meeting.parent_id:
        overrides = Meeting.objects.for_user(user).filter(
            parent=meeting, status=Meeting.Status.SCHEDULED
        )
        for override in overrides:
            rows += [
                {
                    "start": s,
                    "end": e,
                    "meeting": override.pk,
                    "moved": True,
                    "original_start": override.recurrence_id,
                }
                for s, e in recurrence.occurrences(override, start, end)
            ]
    rows.sort(key=lambda row: (row["start"], row["meeting"]))
    return rows


ICS_RESPONSES = {
    (200, "text/calendar"): OpenApiTypes.BINARY,
    **{(code, "application/json"): error for code, error in ERROR_RESPONSES.items()},
}


@extend_schema_view(
    list=extend_schema(
        description=_(
            "Meetings and series of your partnerships; a moved occurrence is listed as a meeting "
            "of its own (with `parent`). `from`/`to` keep those with an occurrence in the window."
        ),
        responses=responses(MeetingSerializer(many=True), invalid=True),
    ),
    retrieve=extend_schema(responses=responses(MeetingSerializer)),
    create=extend_schema(
        summary="Schedule a meeting or a series (either side, not viewers)",
        description=_(
            "You organise it. Attendees get an invitation (.ics) by e-mail, reminders are planned "
            "and the agenda starts from what is open between the partners."
        ),
        request=MeetingCreateSerializer,
        responses=responses(MeetingSerializer, code=201, invalid=True),
    ),
    partial_update=extend_schema(
        summary="Change the meeting, or the whole series",
        description=_(
            "Fields left out stay. The attendees get an updated invitation; removed attendees a "
            "cancellation. To move a single occurrence use `reschedule-occurrence`."
        ),
        request=MeetingWriteSerializer,
        responses=responses(MeetingSerializer, invalid=True),
    ),
)
class MeetingViewSet(
    ScopedViewSetMixin, ExternalIdUpsertMixin, RespondMixin, viewsets.ReadOnlyModelViewSet
):
    """Meetings of your partnerships: single meetings and recurring series in their own zone."""

    queryset = Meeting.objects.all()
    serializer_class = MeetingSerializer
    filterset_class = MeetingFilter
    search_fields = ["title", "description", "location"]
    ordering_fields = ["id", "start", "updated_at"]
    ordering = ["start", "id"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    upsert = MeetingUpsert()

    def scope_queryset(self, qs):
        return qs.select_related("organiser").prefetch_related("attendees")

    def create(self, request, *args, **kwargs):
        data = body(MeetingCreateSerializer, self, request.data)
        meeting = services.schedule_meeting(
            by=request.user, partnership=data.pop("partnership"), **data
        )
        return self.respond_with(meeting, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        meeting = self.get_object()
        data = body(MeetingWriteSerializer, self, request.data, partial=True)
        attendees = data.pop("attendees", None)
        services.update_meeting(by=request.user, meeting=meeting, attendees=attendees, **data)
        return self.respond_with(meeting)

    @extend_schema(
        summary="Occurrences in a window, moved ones included",
        parameters=[OccurrenceQuerySerializer],
        responses=responses(OccurrenceSerializer(many=True), invalid=True),
    )
    @action(detail=True, filter_backends=[], pagination_class=None)
    def occurrences(self, request, pk=None):
        meeting = self.get_object()
        query = OccurrenceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        window = query.validated_data
        rows = occurrence_rows(
            request.user, meeting, window.get("from") or timezone.now(), window.get("to")
        )
        return Response(OccurrenceSerializer(rows[: window["limit"]], many=True).data)

    @extend_schema(
        summary="Cancel the meeting or the whole series",
        request=None,
        responses=responses(MeetingSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request, pk=None):
        meeting = self.get_object()
        services.cancel_meeting(by=request.user, meeting=meeting)
        return self.respond_with(meeting)

    @extend_schema(
        summary="Cancel one occurrence of a series",
        request=CancelOccurrenceSerializer,
        responses=responses(MeetingSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], url_path="cancel-occurrence", filter_backends=[])
    def cancel_occurrence(self, request, pk=None):
        meeting = self.get_object()
        data = body(CancelOccurrenceSerializer, self, request.data)
        services.cancel_occurrence(
            by=request.user, meeting=meeting, occurrence_start=data["occurrence"]
        )
        return self.respond_with(meeting)

    @extend_schema(
        summary="Move one occurrence of a series",
        description=_(
            "The moved occurrence becomes a meeting of its own (returned) with the series as "
            "`parent`; the rest of the series stays."
        ),
        request=RescheduleOccurrenceSerializer,
        responses=responses(MeetingSerializer, code=201, invalid=True),
    )
    @action(detail=True, methods=["post"], url_path="reschedule-occurrence", filter_backends=[])
    def reschedule_occurrence(self, request, pk=None):
        meeting = self.get_object()
        data = body(RescheduleOccurrenceSerializer, self, request.data)
        override = services.reschedule_occurrence(
            by=request.user,
            meeting=meeting,
            occurrence_start=data["occurrence"],
            start=data["start"],
            end=data["end"],
        )
        return self.respond_with(override, status.HTTP_201_CREATED)

    @extend_schema(
        summary="The meeting as an iCalendar file (RFC 5545)",
        description=_(
            "A series comes with its moved occurrences (RECURRENCE-ID) and cancelled ones "
            "(EXDATE), with time-zone data for every attendee's calendar."
        ),
        responses=ICS_RESPONSES,
    )
    @action(
        detail=True,
        renderer_classes=[JSONRenderer, CalendarRenderer],
        filter_backends=[],
        pagination_class=None,
    )
    def ics(self, request, pk=None):
        meeting = self.get_object()
        payload = invitation(meeting, cancelled=meeting.status == Meeting.Status.CANCELLED)
        response = HttpResponse(payload, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="meeting-{meeting.pk}.ics"'
        return response

    @extend_schema(
        methods=["GET"],
        summary="The meeting's minutes (empty until written)",
        responses=responses(MinutesSerializer),
    )
    @extend_schema(
        methods=["PUT"],
        summary="Write the minutes: notes and decisions (either side, not viewers)",
        request=SaveMinutesSerializer,
        responses=responses(MinutesSerializer, invalid=True),
    )
    @action(detail=True, methods=["get", "put"], filter_backends=[], pagination_class=None)
    def minutes(self, request, pk=None):
        meeting = self.get_object()
        if request.method == "PUT":
            data = body(SaveMinutesSerializer, self, request.data)
            minutes = services.save_minutes(by=request.user, meeting=meeting, **data)
        else:
            minutes = Minutes.objects.filter(meeting=meeting).select_related(
                "published_by"
            ).first() or Minutes(meeting=meeting)
        return Response(MinutesSerializer(minutes).data)

    @extend_schema(
        summary="Publish the minutes: every attendee gets them by e-mail, with the PDF",
        request=None,
        responses=responses(MinutesSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], url_path="publish-minutes", filter_backends=[])
    def publish_minutes(self, request, pk=None):
        meeting = self.get_object()
        minutes = services.publish_minutes(by=request.user, meeting=meeting)
        return Response(MinutesSerializer(minutes).data)

    @extend_schema(
        methods=["GET"],
        summary="The meeting's agenda, in order",
        responses=responses(AgendaItemSerializer(many=True)),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add an item to the agenda (either side, not viewers)",
        request=NewAgendaItemSerializer,
        responses=responses(AgendaItemSerializer, code=201, invalid=True),
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def agenda(self, request, pk=None):
        meeting = self.get_object()
        if request.method == "POST":
            data = body(NewAgendaItemSerializer, self, request.data)
            item = services.save_agenda_item(by=request.user, meeting=meeting, **data)
            return Response(AgendaItemSerializer(item).data, status=status.HTTP_201_CREATED)
        return Response(AgendaItemSerializer(meeting.agenda.all(), many=True).data)


# --- Action items ---------------------------------------------------------------------------


class ActionItemFilter(django_filters.FilterSet):
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    owner = IdFilter(field_name="owner_id", label=_("Owner's user id"))
    status = django_filters.ChoiceFilter(choices=ActionItem.Status.choices, label=_("Status"))
    meeting = IdFilter(field_name="meeting_id", label=_("Meeting id"))
    problem = IdFilter(field_name="problem_id", label=_("Problem id"))
    mine = django_filters.BooleanFilter(
        method="filter_mine", label=_("true: only the actions you own")
    )
    updated_since = updated_since()

    external_id = django_filters.CharFilter(label=_("External id"))

    class Meta:
        model = ActionItem
        fields = [
            "partnership",
            "owner",
            "status",
            "meeting",
            "problem",
            "mine",
            "updated_since",
            "external_id",
        ]

    def filter_mine(self, queryset, name, value):
        return queryset.filter(owner=self.request.user) if value else queryset


@extend_schema_view(
    list=extend_schema(responses=responses(ActionItemSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(ActionItemSerializer)),
    create=extend_schema(
        summary="Add an action item, from a meeting, a problem or on its own",
        description=_("The owner is told; overdue open actions remind their owner daily."),
        responses=responses(ActionItemSerializer, code=201, invalid=True),
    ),
    partial_update=extend_schema(
        summary="Mark an action done or cancelled, or open it again",
        description=_("Its owner, who created it, or an admin of either side."),
        request=ActionStatusSerializer,
        responses=responses(ActionItemSerializer, invalid=True),
    ),
)
class ActionItemViewSet(
    ScopedViewSetMixin, ExternalIdUpsertMixin, RespondMixin, viewsets.ReadOnlyModelViewSet
):
    """Action items of your partnerships, each with an owner and a due date."""

    queryset = ActionItem.objects.all()
    serializer_class = ActionItemSerializer
    filterset_class = ActionItemFilter
    search_fields = ["title"]
    ordering_fields = ["id", "due_date", "updated_at"]
    ordering = ["id"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    upsert = ActionItemUpsert()

    def scope_queryset(self, qs):
        return qs.select_related("owner", "created_by")

    def create(self, request, *args, **kwargs):
        data = body(ActionItemSerializer, self, request.data)
        item = services.add_action_item(
            by=request.user,
            partnership=data.pop("partnership"),
            owner=data.pop("owner", None) or request.user,
            **data,
        )
        return self.respond_with(item, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        item = self.get_object()
        data = body(ActionStatusSerializer, self, request.data)
        services.set_action_status(by=request.user, item=item, status=data["status"])
        return self.respond_with(item)


# --- Problems -------------------------------------------------------------------------------


class ProblemFilter(django_filters.FilterSet):
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    status = django_filters.ChoiceFilter(choices=Problem.Status.choices, label=_("Status"))
    severity = django_filters.ChoiceFilter(choices=Problem.Severity.choices, label=_("Severity"))
    q = django_filters.CharFilter(method="filter_q", label=_("Words in the title or description"))
    updated_since = updated_since()

    external_id = django_filters.CharFilter(label=_("External id"))

    class Meta:
        model = Problem
        fields = ["partnership", "status", "severity", "q", "updated_since", "external_id"]

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value))


@extend_schema_view(
    list=extend_schema(responses=responses(ProblemSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(ProblemSerializer)),
    create=extend_schema(
        summary="Raise a problem (either side, not viewers)",
        description=_(
            "The server numbers it; the other side's key people and the owner are told. Links "
            "(product, production run, audit, decision request) must be of the same partnership."
        ),
        responses=responses(ProblemSerializer, code=201, invalid=True),
    ),
)
class ProblemViewSet(
    ScopedViewSetMixin, ExternalIdUpsertMixin, RespondMixin, viewsets.ReadOnlyModelViewSet
):
    """The open problem log of your partnerships. Nothing is deleted: problems are closed with a
    resolution."""

    queryset = Problem.objects.all()
    serializer_class = ProblemSerializer
    filterset_class = ProblemFilter
    search_fields = ["title", "description"]
    ordering_fields = ["id", "number", "created_at", "updated_at"]
    ordering = ["id"]
    http_method_names = ["get", "post", "put", "head", "options"]
    upsert = ProblemUpsert()

    def scope_queryset(self, qs):
        return qs.select_related("owner", "raised_by")

    def create(self, request, *args, **kwargs):
        data = body(ProblemSerializer, self, request.data)
        problem = services.raise_problem(
            by=request.user,
            partnership=data.pop("partnership"),
            owner=data.pop("owner", None),
            **data,
        )
        return self.respond_with(problem, status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        summary="The discussion, oldest first",
        responses=responses(ProblemCommentSerializer(many=True)),
    )
    @extend_schema(
        methods=["POST"],
        summary="Comment; @mentions of the partnership's people notify them",
        request=NewCommentSerializer,
        responses=responses(ProblemCommentSerializer, code=201, invalid=True),
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def comments(self, request, pk=None):
        problem = self.get_object()
        if request.method == "POST":
            data = body(NewCommentSerializer, self, request.data)
            comment = services.comment_on_problem(by=request.user, problem=problem, **data)
            comment = ProblemComment.objects.select_related("author").get(pk=comment.pk)
            return Response(ProblemCommentSerializer(comment).data, status=status.HTTP_201_CREATED)
        comments = (
            ProblemComment.objects.for_user(request.user)
            .filter(problem=problem)
            .select_related("author")
            .prefetch_related("mentions")
        )
        return Response(ProblemCommentSerializer(comments, many=True).data)

    @extend_schema(
        summary="Change the status: open → investigating → resolved → closed",
        description=_("Resolving or closing needs a resolution. Closed is final."),
        request=ProblemStatusSerializer,
        responses=responses(ProblemSerializer, invalid=True),
    )
    @action(detail=True, methods=["post"], url_path="status", filter_backends=[])
    def change_status(self, request, pk=None):
        problem = self.get_object()
        data = body(ProblemStatusSerializer, self, request.data)
        services.change_problem_status(by=request.user, problem=problem, **data)
        return self.respond_with(problem)


# --- Goals ----------------------------------------------------------------------------------


class GoalFilter(django_filters.FilterSet):
    partnership = IdFilter(field_name="partnership_id", label=_("Partnership id"))
    horizon = django_filters.ChoiceFilter(choices=Goal.Horizon.choices, label=_("Horizon"))
    owner = IdFilter(field_name="owner_id", label=_("Owner's user id"))
    updated_since = updated_since()

    external_id = django_filters.CharFilter(label=_("External id"))

    class Meta:
        model = Goal
        fields = ["partnership", "horizon", "owner", "updated_since", "external_id"]


@extend_schema_view(
    list=extend_schema(responses=responses(GoalSerializer(many=True), invalid=True)),
    retrieve=extend_schema(responses=responses(GoalSerializer)),
    create=extend_schema(
        summary="Set a shared goal (either side, not viewers)",
        responses=responses(GoalSerializer, code=201, invalid=True),
    ),
    partial_update=extend_schema(
        summary="Change a goal; a new current value is recorded as today's measurement",
        request=GoalChangeSerializer,
        responses=responses(GoalSerializer, invalid=True),
    ),
)
class GoalViewSet(
    ScopedViewSetMixin, ExternalIdUpsertMixin, RespondMixin, viewsets.ReadOnlyModelViewSet
):
    """Short- and long-term goals the partners share, with their measured progress."""

    queryset = Goal.objects.all()
    serializer_class = GoalSerializer
    filterset_class = GoalFilter
    search_fields = ["title", "metric"]
    ordering_fields = ["id", "due_date", "updated_at"]
    ordering = ["id"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    upsert = GoalUpsert()

    def scope_queryset(self, qs):
        return qs.select_related("owner")

    def create(self, request, *args, **kwargs):
        data = body(GoalSerializer, self, request.data)
        data.setdefault("owner", request.user)
        goal = services.save_goal(by=request.user, partnership=data.pop("partnership"), **data)
        return self.respond_with(goal, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        goal = self.get_object()
        data = body(GoalChangeSerializer, self, request.data, partial=True)
        services.save_goal(by=request.user, partnership=goal.partnership, goal=goal, **data)
        return self.respond_with(goal)

    @extend_schema(
        methods=["GET"],
        summary="The goal's measurements, oldest first",
        responses=responses(GoalMeasurementSerializer(many=True)),
    )
    @extend_schema(
        methods=["POST"],
        summary="Record a measurement; the latest one becomes the goal's current value",
        description=_("One per day: recording a day again replaces its value."),
        request=GoalMeasurementSerializer,
        responses=responses(GoalMeasurementSerializer, code=201, invalid=True),
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def measurements(self, request, pk=None):
        goal = self.get_object()
        if request.method == "POST":
            data = body(GoalMeasurementSerializer, self, request.data)
            measurement = services.record_measurement(
                by=request.user,
                goal=goal,
                date=data.get("date") or timezone.localdate(),
                value=data["value"],
            )
            return Response(
                GoalMeasurementSerializer(measurement).data, status=status.HTTP_201_CREATED
            )
        measurements = (
            GoalMeasurement.objects.for_user(request.user).filter(goal=goal).order_by("date")
        )
        return Response(GoalMeasurementSerializer(measurements, many=True).data)
