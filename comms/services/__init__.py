"""Every write with a communication rule: meetings and their invitations, reminders planned in
the database and sent exactly when due, agenda proposals, minutes and action items, the problem
log, goals.

Each business write emits its event (``partnership.events``) in its transaction: kinds
``meeting``, ``action_item``, ``problem`` and ``goal`` (``comms.events``). Webhooks, the audit
trail of set-based writes, tombstones, people's notifications and the invitation and minutes
e-mails (``comms.subscribers``) react to those events; no service calls them. A change that
changes nothing writes and emits nothing.

Modules by topic; the public API is re-exported here (``from comms import services``).
"""

from .agenda import propose_agenda, save_agenda_item
from .common import (
    MAX_ATTACHMENT_BYTES,
    can_write,
    partnership_people,
    require_member,
    user_zone,
)
from .goals import record_measurement, save_goal
from .meetings import (
    cancel_meeting,
    cancel_occurrence,
    clean_meeting,
    feed_meetings,
    reschedule_occurrence,
    schedule_meeting,
    send_invitations,
    update_meeting,
)
from .minutes import (
    STATUS_ACTIONS,
    action_url,
    add_action_item,
    can_change_action,
    publish_minutes,
    remind_overdue_action_items,
    save_minutes,
    send_minutes,
    set_action_status,
    update_action_item,
)
from .problems import (
    MENTION,
    PROBLEM_STATUS_ACTIONS,
    TRANSITIONS,
    allowed_transitions,
    change_problem_status,
    comment_on_problem,
    raise_problem,
    resolve_mentions,
    status_action,
    update_problem,
)
from .reminders import (
    PLANNING_HORIZON,
    extend_reminder_horizon,
    plan_reminders,
    replan_reminders,
    send_due_reminders,
    upcoming_occurrences,
)

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "MENTION",
    "PLANNING_HORIZON",
    "PROBLEM_STATUS_ACTIONS",
    "STATUS_ACTIONS",
    "TRANSITIONS",
    "action_url",
    "add_action_item",
    "allowed_transitions",
    "can_change_action",
    "can_write",
    "cancel_meeting",
    "cancel_occurrence",
    "change_problem_status",
    "clean_meeting",
    "comment_on_problem",
    "extend_reminder_horizon",
    "feed_meetings",
    "partnership_people",
    "plan_reminders",
    "propose_agenda",
    "publish_minutes",
    "raise_problem",
    "record_measurement",
    "remind_overdue_action_items",
    "replan_reminders",
    "require_member",
    "reschedule_occurrence",
    "resolve_mentions",
    "save_agenda_item",
    "save_goal",
    "save_minutes",
    "schedule_meeting",
    "send_due_reminders",
    "send_invitations",
    "send_minutes",
    "set_action_status",
    "status_action",
    "upcoming_occurrences",
    "update_action_item",
    "update_meeting",
    "update_problem",
    "user_zone",
]
