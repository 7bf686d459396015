"""What comms tells the event path (``partnership.events``): its kinds of object and the
events offered to webhooks. Registered from ``CommsConfig.ready``.

The actions ``comms.services`` emits (each webhook event takes every action of its kind but a
reminder, which changes nothing an outside system keeps):

- ``meeting``: ``created``, ``changed`` (its fields, ``attendees`` included), ``cancelled``
  (a series' moved occurrences too, each with ``with_series``), ``occurrence_moved`` and
  ``occurrence_cancelled`` (of the series; a moved occurrence is also ``created``),
  ``minutes_saved``, ``minutes_published``, ``agenda_changed``.
- ``action_item``: ``created``, ``changed``, ``done``, ``cancelled``, ``reopened``,
  ``reminded`` (overdue, its owner reminded).
- ``problem``: ``created``, ``changed``, ``commented``, and its status moves
  ``investigation_started``, ``resolved``, ``closed``, ``reopened``.
- ``goal``: ``created``, ``changed``, ``measured`` (a value recorded, or a new current value
  set with a change: that is today's measurement too).
"""

from django.utils.translation import gettext_lazy as _

from partnership.registry import (
    EventKind,
    WebhookEvent,
    register_event_kind,
    register_webhook_event,
)


def register():
    register_event_kind(
        EventKind("meeting", "comms.Meeting", "meetings", "meeting-detail"),
        EventKind("action_item", "comms.ActionItem", "action-items", "action-item-detail"),
        EventKind("problem", "comms.Problem", "problems", "problem-detail"),
        EventKind("goal", "comms.Goal", "goals", "goal-detail"),
    )
    register_webhook_event(
        WebhookEvent("meeting.changed", _("Meeting scheduled, changed or cancelled"), "meeting"),
        WebhookEvent("problem.changed", _("Problem raised or changed"), "problem"),
        WebhookEvent(
            "action_item.changed",
            _("Action item created or changed"),
            "action_item",
            ignore=frozenset({"reminded"}),
        ),
        WebhookEvent("goal.changed", _("Goal set, changed or measured"), "goal"),
    )
