"""What comms does when its objects' events happen (``partnership.events``): people are told
(notifications: an in-app row and an e-mail on commit), attendees get their invitations and
the published minutes. The services only emit; the texts and recipients are here.

Each handler takes a batch of events; they run inside the writer's transaction, and whatever
leaves the process (the e-mails) goes once it commits.
"""

import functools

from django.db import transaction
from django.utils.translation import gettext as _

from partnership import registry
from partnership.notifications import key_people, notify

from . import services

# --- Meetings: invitations and minutes ------------------------------------------------------

#: The meeting events that send the attendees the meeting (.ics) again.
INVITING = frozenset(
    {"created", "changed", "occurrence_moved", "occurrence_cancelled", "cancelled"}
)


def _invites(event) -> bool:
    if event.action == "created":
        # A moved occurrence: its series' ``occurrence_moved`` sends the whole series.
        return not event.obj.parent_id
    if event.action == "cancelled":
        # Cancelled with its series: the series' CANCEL carries it.
        return "with_series" not in event.data
    return True


@registry.subscribe(kinds="meeting", actions=INVITING, accepts=_invites)
def invite_attendees(events):
    """Each attendee gets the .ics in their own zone (METHOD REQUEST, SEQUENCE up after a
    change; CANCEL when cancelled), removed attendees a CANCEL — once the write commits."""
    for event in events:
        invite = functools.partial(
            services.send_invitations,
            event.obj.pk,
            removed=event.data.get("removed", ()),
            cancelled=event.action == "cancelled",
        )
        transaction.on_commit(invite, robust=True)


@registry.subscribe(kinds="meeting", actions="minutes_published")
def mail_minutes(events):
    """Published minutes go to the organiser and every attendee, with the PDF."""
    for event in events:
        transaction.on_commit(functools.partial(services.send_minutes, event.obj.pk), robust=True)


# --- Action items ---------------------------------------------------------------------------


def _new_action_subject(item) -> str:
    return _("New action for you: %(t)s (due %(d)s)") % {"t": item.title, "d": item.due_date}


@registry.subscribe(kinds="action_item", actions=("created", "changed"))
def tell_new_owner(events):
    """A new action, or an action with a new owner: the owner is told, unless they did it."""
    for event in events:
        item = event.obj
        if event.action == "changed" and "owner" not in event.changed:
            continue
        if item.owner_id == getattr(event.by, "pk", None):
            continue
        notify(
            [item.owner],
            partnership=item.partnership,
            subject=_new_action_subject(item),
            url=services.action_url(item),
        )


@registry.subscribe(kinds="action_item", actions="reminded")
def remind_owner_of_overdue(events):
    for event in events:
        item = event.obj
        notify(
            [item.owner],
            partnership=item.partnership,
            subject=_("Overdue action: %(t)s (due %(d)s)") % {"t": item.title, "d": item.due_date},
            url=services.action_url(item),
        )


# --- Problems -------------------------------------------------------------------------------


@registry.subscribe(kinds="problem", actions="created")
def announce_problem(events):
    """A new problem: the other side's key people and its owner."""
    for event in events:
        problem = event.obj
        other = "oem" if event.data.get("side") == "ems" else "ems"
        notify(
            [*key_people(problem.partnership, other), problem.owner],
            partnership=problem.partnership,
            subject=_("New problem %(p)s (%(s)s)")
            % {"p": problem, "s": problem.get_severity_display()},
            body=problem.description[:500],
            url=problem.get_absolute_url(),
        )


@registry.subscribe(kinds="problem", actions="commented")
def tell_mentioned(events):
    """Who a comment mentions (never its author)."""
    for event in events:
        mentioned = event.data.get("mentioned") or ()
        if not mentioned:
            continue
        problem = event.obj
        notify(
            [u for u in mentioned if u != event.by],
            partnership=problem.partnership,
            subject=_("%(who)s mentioned you in %(p)s") % {"who": event.by, "p": problem},
            body=event.data.get("text", "")[:500],
            url=problem.get_absolute_url(),
        )


@registry.subscribe(kinds="problem", actions=services.PROBLEM_STATUS_ACTIONS)
def tell_status(events):
    """A problem's new status: its owner and who raised it."""
    for event in events:
        problem = event.obj
        notify(
            [problem.owner, problem.raised_by],
            partnership=problem.partnership,
            subject=_("%(p)s is now %(s)s")
            % {"p": problem, "s": problem.get_status_display().lower()},
            body=event.data.get("resolution", ""),
            url=problem.get_absolute_url(),
        )
