"""A meeting's agenda: proposed from what is open between the partners when it is scheduled,
then edited by either side (the meeting's ``agenda_changed`` event)."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from contracts.models import DecisionRequest
from partnership import events
from schedules.models import CapacityAlert

from ..models import AgendaItem, Meeting
from .common import require_member


def propose_agenda(meeting: Meeting) -> int:
    """Start the agenda from what is open between the partners: problems, overdue actions,
    decision requests waiting for the OEM, capacity alerts, and (in business reviews) goals."""
    p = meeting.partnership
    today = timezone.localdate()
    items = [(_("Open problems and their owners"), "", "")]
    for problem in p.problems.exclude(status__in=["resolved", "closed"]).order_by("-severity")[:8]:
        items.append(
            (f"{problem} ({problem.get_severity_display()})", "problem", problem.get_absolute_url())
        )
    for action in p.action_items.filter(status="open", due_date__lt=today)[:8]:
        items.append(
            (
                _("Overdue action: %(a)s (%(o)s, due %(d)s)")
                % {"a": action.title, "o": action.owner, "d": action.due_date},
                "action",
                "",
            )
        )
    for request in DecisionRequest.objects.filter(
        partnership=p, status__in=["awaiting_oem", "overdue"]
    )[:8]:
        items.append(
            (_("Decision pending: %(r)s") % {"r": request}, "decision", request.get_absolute_url())
        )
    for alert in (
        CapacityAlert.objects.filter(partnership=p).exclude(status="resolved").order_by("week")[:4]
    ):
        items.append(
            (
                _("Capacity: %(m)s") % {"m": alert.message},
                "capacity",
                f"/partnerships/{p.pk}/capacity/",
            )
        )
    if meeting.kind == Meeting.Kind.BUSINESS:
        for goal in p.goals.all()[:8]:
            items.append(
                (_("Goal review: %(g)s") % {"g": goal.title}, "goal", goal.get_absolute_url())
            )
    if len(items) == 1:
        items = []
    bulk_create_with_history(
        [
            AgendaItem(meeting=meeting, position=n, title=str(t)[:300], source=s, source_url=u)
            for n, (t, s, u) in enumerate(items)
        ],
        AgendaItem,
    )
    return len(items)


@transaction.atomic
def save_agenda_item(
    *, by, meeting: Meeting, title: str, item: AgendaItem | None = None
) -> AgendaItem:
    """Add an item to the agenda, or retitle one: the meeting's ``agenda_changed`` event."""
    require_member(by, meeting.partnership)
    if not title.strip():
        raise ValidationError({"title": _("Write the agenda item.")})
    added = item is None
    item = item or AgendaItem(
        meeting=meeting, position=(meeting.agenda.aggregate(p=Max("position"))["p"] or 0) + 1
    )
    if item.meeting_id != meeting.pk:
        raise PermissionDenied
    title = title.strip()[:300]
    if not added and item.title == title:
        return item
    item.title = title
    item.save()
    events.emit(
        "meeting", "agenda_changed", meeting, by=by, changed=["agenda"], item=item, added=added
    )
    return item
