"""The comms lists (partnership/lists.py): problems, action items, my actions, goals, meetings."""

from django.utils.translation import gettext_lazy as _

from partnership.lists import Column, ListSpec, register

from .filters import ActionFilter, GoalFilter, MeetingFilter, ProblemFilter
from .models import SEVERITY_RANK, ActionItem, Goal, Meeting, Problem


def _partnership_name(obj):
    return f"{obj.partnership.oem.name} ↔ {obj.partnership.ems.name}"


def _origin(action):
    return (
        action.meeting.title
        if action.meeting_id
        else (str(action.problem) if action.problem_id else "")
    )


@register
class ProblemList(ListSpec):
    name = "comms.problems"
    filename = "problems"
    filterset_class = ProblemFilter
    defaults = {"status": "active"}
    default_ordering = ("severity_rank", "-created_at")
    columns = (
        Column(_("Number"), lambda p: f"P-{p.number:04d}", sort="number", table=False),
        Column(_("Problem"), "title", sort="title"),
        Column(_("Severity"), "get_severity_display", sort="severity"),
        Column(_("Status"), "get_status_display", sort="status"),
        Column(_("Owner"), "owner", sort="owner"),
        Column(_("Raised by"), "raised_by", table=False),
        Column(_("Raised"), "created_at", sort="created", table=False),
        Column(_("Resolution"), "resolution", table=False),
    )

    def queryset(self, user, scope):
        return (
            Problem.objects.for_user(user)
            .for_partnership(scope)
            .select_related("owner", "raised_by")
            .annotate(severity_rank=SEVERITY_RANK)
        )


class _ActionColumns:
    columns = (
        Column(_("Action"), "title", sort="title"),
        Column(_("Owner"), "owner", sort="owner"),
        Column(_("Due"), "due_date", sort="due"),
        Column(_("From"), _origin),
        Column(_("Status"), "get_status_display", sort="status"),
    )


@register
class ActionList(ListSpec):
    name = "comms.actions"
    filename = "action-items"
    filterset_class = ActionFilter
    defaults = {"status": "open"}
    default_ordering = ("due_date", "id")
    columns = _ActionColumns.columns

    def queryset(self, user, scope):
        return (
            ActionItem.objects.for_user(user)
            .for_partnership(scope)
            .select_related("owner", "meeting", "problem")
        )


@register
class MyActionList(ListSpec):
    """Open actions the user owns, across all their partnerships."""

    name = "comms.my_actions"
    filename = "my-actions"
    filterset_class = ActionFilter
    defaults = {"status": "open"}
    default_ordering = ("due_date", "id")
    columns = (
        _ActionColumns.columns[0],
        Column(_("Partnership"), _partnership_name),
        *_ActionColumns.columns[2:],
    )

    def queryset(self, user, scope):
        return (
            ActionItem.objects.for_user(user)
            .filter(owner=user)
            .select_related("partnership__oem", "partnership__ems", "owner", "meeting", "problem")
        )


@register
class GoalList(ListSpec):
    name = "comms.goals"
    filename = "goals"
    filterset_class = GoalFilter
    default_ordering = ("horizon", "due_date")
    page_size = 25
    columns = (
        Column(_("Goal"), "title", sort="title"),
        Column(_("Horizon"), "get_horizon_display", sort="horizon"),
        Column(_("Metric"), "metric", table=False),
        Column(_("Unit"), "unit", table=False),
        Column(_("Baseline"), "baseline", table=False),
        Column(_("Target"), "target", table=False),
        Column(_("Current"), "current", table=False),
        Column(_("Owner"), "owner", table=False),
        Column(_("Due"), "due_date", sort="due"),
    )

    def queryset(self, user, scope):
        return (
            Goal.objects.for_user(user)
            .for_partnership(scope)
            .select_related("owner")
            .prefetch_related("measurements")
        )


@register
class MeetingList(ListSpec):
    """Every meeting and series of the partnership (the upcoming panel expands occurrences)."""

    name = "comms.meetings"
    filename = "meetings"
    filterset_class = MeetingFilter
    default_ordering = ("-start",)
    columns = (
        Column(_("Meeting"), "title", sort="title"),
        Column(_("Kind"), "get_kind_display", sort="kind"),
        Column(_("Start"), "start", sort="start"),
        Column(_("Time zone"), "time_zone", table=False),
        Column(_("Repeats"), lambda m: m.rrule, table=False),
        Column(_("Organiser"), "organiser"),
        Column(_("Status"), "get_status_display", sort="status"),
    )

    def queryset(self, user, scope):
        return (
            Meeting.objects.for_user(user)
            .for_partnership(scope)
            .filter(parent__isnull=True)
            .select_related("organiser")
        )
