"""Every write with a communication rule: meetings and their invitations, reminders planned in
the database and sent exactly when due, agenda proposals, minutes and action items, the problem
log, goals."""

import datetime as dt
import logging
import re
import smtplib
import zoneinfo
from collections import defaultdict
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Max, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from contracts.models import DecisionRequest
from partnership.models import Membership, NotificationSettings, Partnership, Role, User
from partnership.notifications import notify
from partnership.permissions import side_membership
from schedules.models import CapacityAlert

from . import ics, recurrence
from .models import (
    ActionItem,
    AgendaItem,
    Goal,
    GoalMeasurement,
    Meeting,
    Minutes,
    Problem,
    ProblemComment,
    Reminder,
    not_over,
)

logger = logging.getLogger(__name__)
PLANNING_HORIZON = timedelta(
    days=35
)  # reminders are planned this far ahead; a daily task extends it
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def _require_member(user, partnership, message=None):
    side, m = side_membership(user, partnership)
    if m is None or m.role == Role.VIEWER:
        raise PermissionDenied(message or _("Viewers cannot change this."))
    return side, m


def partnership_people(partnership) -> set[int]:
    return set(
        Membership.objects.filter(
            organization_id__in=[partnership.oem_id, partnership.ems_id]
        ).values_list("user_id", flat=True)
    )


def user_zone(user) -> zoneinfo.ZoneInfo:
    """The recipient's zone: their own, else their first organisation's, else UTC."""
    name = (
        user.time_zone
        or (
            Membership.objects.filter(user=user)
            .values_list("organization__time_zone", flat=True)
            .first()
        )
        or "UTC"
    )
    return zoneinfo.ZoneInfo(name)


# --- Meetings ------------------------------------------------------------------------------


def _clean_meeting(meeting: Meeting, attendees) -> None:
    if meeting.end and meeting.start and meeting.end <= meeting.start:
        raise ValidationError({"end": _("The meeting must end after it starts.")})
    try:
        meeting.rrule = recurrence.validate_rrule(
            meeting.rrule or "", meeting.start, meeting.time_zone or None
        )
    except ValueError as exc:
        raise ValidationError({"rrule": str(exc)}) from None
    allowed = partnership_people(meeting.partnership)
    if any(u.pk not in allowed for u in attendees):
        raise ValidationError(
            {"attendees": _("Attendees must be members of either side of the partnership.")}
        )
    meeting.full_clean(exclude=["uid"])


@transaction.atomic
def schedule_meeting(*, by, partnership, attendees=(), **fields) -> Meeting:
    _require_member(by, partnership)
    meeting = Meeting(partnership=partnership, organiser=by, **fields)
    if not meeting.time_zone:
        meeting.time_zone = str(user_zone(by))
    _clean_meeting(meeting, attendees)
    meeting.save()
    meeting.attendees.set(attendees)
    propose_agenda(meeting)
    plan_reminders(meeting)
    transaction.on_commit(lambda: send_invitations(meeting.pk), robust=True)
    return meeting


@transaction.atomic
def update_meeting(*, by, meeting: Meeting, attendees=None, **fields) -> Meeting:
    """Edit the meeting (or the whole series): SEQUENCE goes up, reminders are re-planned, and
    the attendees get an update — removed attendees a cancellation."""
    _require_member(by, meeting.partnership)
    meeting = Meeting.objects.select_for_update().get(pk=meeting.pk)
    if meeting.status == Meeting.Status.CANCELLED:
        raise ValidationError(_("This meeting is cancelled."))
    before = set(meeting.attendees.values_list("pk", flat=True))
    for name, value in fields.items():
        setattr(meeting, name, value)
    new_attendees = list(attendees) if attendees is not None else list(meeting.attendees.all())
    _clean_meeting(meeting, new_attendees)
    meeting.sequence += 1
    meeting.save()
    if attendees is not None:
        meeting.attendees.set(new_attendees)
    removed = before - {u.pk for u in new_attendees}
    replan_reminders(meeting)
    transaction.on_commit(lambda: send_invitations(meeting.pk, removed=removed), robust=True)
    return meeting


@transaction.atomic
def reschedule_occurrence(
    *, by, meeting: Meeting, occurrence_start: dt.datetime, start: dt.datetime, end: dt.datetime
) -> Meeting:
    """Move one occurrence of a series: an override with the series' UID and a RECURRENCE-ID."""
    _require_member(by, meeting.partnership)
    series = Meeting.objects.select_for_update().get(pk=meeting.pk)
    if series.status == Meeting.Status.CANCELLED:
        raise ValidationError(_("This meeting is cancelled."))
    if not series.rrule:
        raise ValidationError(_("This meeting does not repeat; edit it directly."))
    if occurrence_start not in {s for s, _e in recurrence.occurrences(series)}:
        raise ValidationError({"occurrence": _("There is no such occurrence in this series.")})
    override = Meeting(
        partnership=series.partnership,
        kind=series.kind,
        title=series.title,
        description=series.description,
        start=start,
        end=end,
        time_zone=series.time_zone,
        location=series.location,
        conference_url=series.conference_url,
        organiser=series.organiser,
        parent=series,
        recurrence_id=occurrence_start,
        sequence=series.sequence + 1,
    )
    _clean_meeting(override, list(series.attendees.all()))
    override.save()
    override.attendees.set(series.attendees.all())
    series.sequence += 1
    series.save(update_fields=["sequence", "updated_at"])
    replan_reminders(series)
    plan_reminders(override)
    transaction.on_commit(lambda: send_invitations(series.pk), robust=True)
    return override


@transaction.atomic
def cancel_occurrence(*, by, meeting: Meeting, occurrence_start: dt.datetime) -> Meeting:
    _require_member(by, meeting.partnership)
    series = Meeting.objects.select_for_update().get(pk=meeting.pk)
    if series.status == Meeting.Status.CANCELLED:
        raise ValidationError(_("This meeting is cancelled."))
    if not series.rrule:
        raise ValidationError(_("This meeting does not repeat; cancel the meeting instead."))
    if occurrence_start not in {s for s, _e in recurrence.occurrences(series)}:
        raise ValidationError({"occurrence": _("There is no such occurrence in this series.")})
    series.exdates = [*series.exdates, occurrence_start.astimezone(dt.UTC).isoformat()]
    series.sequence += 1
    series.save()
    replan_reminders(series)
    transaction.on_commit(lambda: send_invitations(series.pk), robust=True)
    return series


@transaction.atomic
def cancel_meeting(*, by, meeting: Meeting) -> Meeting:
    _require_member(by, meeting.partnership)
    meeting = Meeting.objects.select_for_update().get(pk=meeting.pk)
    if meeting.status == Meeting.Status.CANCELLED:
        raise ValidationError(_("This meeting is already cancelled."))
    meeting.status = Meeting.Status.CANCELLED
    meeting.sequence += 1
    meeting.save()
    # Its moved occurrences are cancelled with it, or the daily horizon extension would plan
    # (and send) their reminders again.
    overrides = list(meeting.overrides.exclude(status=Meeting.Status.CANCELLED))
    for override in overrides:
        override.status, override.updated_at = Meeting.Status.CANCELLED, timezone.now()
    bulk_update_with_history(overrides, Meeting, ["status", "updated_at"])
    Reminder.objects.filter(
        meeting__in=[meeting, *meeting.overrides.all()], sent_at__isnull=True
    ).delete()
    transaction.on_commit(lambda: send_invitations(meeting.pk, cancelled=True), robust=True)
    return meeting


def send_invitations(meeting_id: int, *, removed=(), cancelled=False) -> int:
    """Each attendee gets the .ics and the time in their own zone; removed ones a CANCEL."""
    meeting = Meeting.objects.select_related(
        "organiser", "partnership__oem", "partnership__ems"
    ).get(pk=meeting_id)
    recipients = list(meeting.attendees.all())
    payload = ics.invitation(meeting, cancelled=cancelled)
    sent = 0
    for user in recipients:
        sent += _send_invite(meeting, user, payload, cancelled=cancelled)
    if removed:
        cancel_payload = ics.invitation(meeting, cancelled=True)
        for user in User.objects.filter(pk__in=removed):
            sent += _send_invite(meeting, user, cancel_payload, cancelled=True)
    return sent


def _send_invite(meeting, user, payload: bytes, *, cancelled: bool) -> int:
    tz = user_zone(user)
    context = {
        "meeting": meeting,
        "user": user,
        "local_start": meeting.start.astimezone(tz),
        "local_end": meeting.end.astimezone(tz),
        "zone": str(tz),
        "cancelled": cancelled,
        "url": settings.SITE_URL.rstrip("/") + meeting.get_absolute_url(),
        "occurrences": recurrence.occurrences(meeting)[:5] if meeting.rrule else [],
    }
    # The |date filter shows the *current* zone: make it the recipient's.
    with translation.override(user.language or None), timezone.override(tz):
        subject = (_("Cancelled: %(t)s") if cancelled else _("Invitation: %(t)s")) % {
            "t": meeting.title
        }
        if meeting.sequence and not cancelled:
            subject = _("Updated invitation: %(t)s") % {"t": meeting.title}
        text = render_to_string("comms/email/invitation.txt", context)
        html = render_to_string("comms/email/invitation.html", context)
    message = EmailMultiAlternatives(
        settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject, text, None, [user.email]
    )
    message.attach_alternative(html, "text/html")
    method = "CANCEL" if cancelled else "REQUEST"
    message.attach("invite.ics", payload, f"text/calendar; method={method}; charset=utf-8")
    return message.send()


# --- Reminders -----------------------------------------------------------------------------


def _recipients(meeting: Meeting):
    people = {meeting.organiser_id: meeting.organiser}
    people.update({u.pk: u for u in meeting.attendees.all()})
    return [u for u in people.values() if u.is_active]


def plan_reminders(meeting: Meeting, now=None) -> int:
    """One row per occurrence × recipient × offset within the planning horizon. Idempotent:
    existing rows are kept (ON CONFLICT DO NOTHING), so re-planning never duplicates."""
    now = now or timezone.now()
    if meeting.status == Meeting.Status.CANCELLED:
        return 0
    rows = []
    for occ_start, _end in recurrence.occurrences(
        meeting, window_start=now, window_end=now + PLANNING_HORIZON
    ):
        for user in _recipients(meeting):
            for offset in NotificationSettings.for_user(user).reminder_offsets:
                due = occ_start - timedelta(minutes=int(offset))
                if due > now:
                    rows.append(
                        Reminder(
                            meeting=meeting,
                            occurrence_start=occ_start,
                            recipient=user,
                            offset_minutes=int(offset),
                            due_at=due,
                        )
                    )
    Reminder.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def replan_reminders(meeting: Meeting) -> int:
    """After a change: unsent reminders are thrown away and planned anew; sent ones stay."""
    Reminder.objects.filter(meeting=meeting, sent_at__isnull=True).delete()
    return plan_reminders(meeting)


def _plain_rows(queryset, fields) -> list[SimpleNamespace]:
    """Rows with attribute access and none of a model's construction cost."""
    return [
        SimpleNamespace(**dict(zip(fields, row, strict=True)))
        for row in queryset.values_list(*fields)
    ]


def upcoming_occurrences(partnership, *, now=None, days=90, limit=60) -> list[dict]:
    """The next ``limit`` occurrences of the partnership's meetings within ``days``, moved
    ones in their new place, cancelled ones left out: ``{"meeting", "start", "end", "moved"}``.

    Series that are over are left out in SQL (``last_end``); the rest are expanded from plain
    rows, and only the meetings shown are read as models (800 active series at scale 10, #9).
    """
    now = now or timezone.now()
    window_end = now + timedelta(days=days)
    fields = ("pk", "parent_id", "status", "start", "end", "time_zone", "rrule", "exdates")
    candidates = (
        Meeting.objects.for_partnership(partnership)
        .filter(parent__isnull=True, start__lt=window_end)
        .filter(not_over(now))
    )
    series = _plain_rows(candidates, fields)
    overrides = defaultdict(list)
    # the overrides of those series (their moved-away occurrences are not where the rule
    # says), and any occurrence moved into the window from a series otherwise over
    moved_here = Q(parent__isnull=False, start__lt=window_end) & not_over(now)
    moved_rows = Meeting.objects.for_partnership(partnership).filter(
        Q(parent__in=[m.pk for m in series if m.rrule]) | moved_here
    )
    for moved in _plain_rows(moved_rows, (*fields, "recurrence_id")):
        overrides[moved.parent_id].append(moved)
    found = []
    for m in series + [o for moved in overrides.values() for o in moved]:
        if m.status == Meeting.Status.CANCELLED:
            continue
        for start, end in recurrence.occurrences(
            m, window_start=now, window_end=window_end, overrides=overrides.get(m.pk, ())
        ):
            found.append((start, end, m.parent_id or m.pk, bool(m.parent_id)))
    found.sort(key=lambda o: o[0])
    found = found[:limit]
    shown = Meeting.objects.only("partnership_id", "kind", "title", "rrule").in_bulk(
        {pk for _s, _e, pk, _moved in found}
    )
    return [
        {"meeting": shown[pk], "start": start, "end": end, "moved": moved}
        for start, end, pk, moved in found
    ]


def extend_reminder_horizon(now=None) -> int:
    """Daily: recurring series get reminders for occurrences entering the horizon."""
    now = now or timezone.now()
    n = 0
    for meeting in (
        Meeting.objects.filter(status=Meeting.Status.SCHEDULED, end__gte=now - timedelta(days=400))
        .exclude(rrule="", start__lt=now)
        .prefetch_related("attendees")
    ):
        n += plan_reminders(meeting, now=now)
    return n


def send_due_reminders(now=None, batch_size=100) -> int:
    """Send what is due. Each reminder is locked (SKIP LOCKED, so parallel workers share the
    work), sent and marked in its own transaction: a worker killed mid-batch leaves every
    unsent row unsent and every marked row marked, and a restart sends the rest. The one
    window left is between the mail server accepting a message and the COMMIT of its mark: a
    kill exactly there sends that single reminder twice (at-least-once; tested). A broker
    outage only delays all this: the rows wait in the database. A reminder whose sending
    fails (a refused address) stays unsent for the next run and does not block the others."""
    now = now or timezone.now()
    sent = 0
    failed: set[int] = set()
    while sent < 10_000:
        try:
            with transaction.atomic():
                reminder = (
                    Reminder.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(sent_at__isnull=True, due_at__lte=now)
                    .exclude(pk__in=failed)
                    .select_related("meeting__partnership", "meeting__organiser", "recipient")
                    .order_by("due_at")
                    .first()
                )
                if reminder is None:
                    return sent
                meeting = reminder.meeting
                if (
                    meeting.status == Meeting.Status.SCHEDULED
                    and reminder.occurrence_start > now - timedelta(minutes=5)
                ):
                    _send_reminder(reminder)
                reminder.sent_at = timezone.now()
                reminder.save(update_fields=["sent_at"])
                sent += 1
        except (OSError, smtplib.SMTPException):
            logger.exception("Reminder %s could not be sent; it is retried next run", reminder.pk)
            failed.add(reminder.pk)
    return sent


def _send_reminder(reminder: Reminder) -> None:
    meeting, user = reminder.meeting, reminder.recipient
    tz = user_zone(user)
    start = reminder.occurrence_start.astimezone(tz)
    context = {
        "meeting": meeting,
        "user": user,
        "local_start": start,
        "zone": str(tz),
        "url": settings.SITE_URL.rstrip("/") + meeting.get_absolute_url(),
        "agenda": list(meeting.agenda.all()[:10]),
    }
    with translation.override(user.language or None), timezone.override(tz):
        subject = _("Reminder: %(t)s at %(time)s") % {
            "t": meeting.title,
            "time": start.strftime("%a %d %b %H:%M %Z"),
        }
        text = render_to_string("comms/email/reminder.txt", context)
        html = render_to_string("comms/email/reminder.html", context)
    if NotificationSettings.for_user(user).email_enabled:
        message = EmailMultiAlternatives(
            settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject, text, None, [user.email]
        )
        message.attach_alternative(html, "text/html")
        message.send()


# --- Agenda, minutes and action items ------------------------------------------------------


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
    _require_member(by, meeting.partnership)
    if not title.strip():
        raise ValidationError({"title": _("Write the agenda item.")})
    item = item or AgendaItem(
        meeting=meeting, position=(meeting.agenda.aggregate(p=Max("position"))["p"] or 0) + 1
    )
    item.title = title.strip()[:300]
    item.save()
    return item


@transaction.atomic
def save_minutes(*, by, meeting: Meeting, notes: str, decisions: str) -> Minutes:
    _require_member(by, meeting.partnership)
    minutes, _created = Minutes.objects.get_or_create(meeting=meeting)
    minutes.notes, minutes.decisions = notes, decisions
    minutes.save()
    return minutes


@transaction.atomic
def add_action_item(
    *, by, partnership, title: str, owner, due_date, meeting=None, problem=None, external_id=None
) -> ActionItem:
    _require_member(by, partnership)
    _check_action_links(partnership, owner=owner, meeting=meeting, problem=problem)
    item = ActionItem(
        external_id=external_id or None,
        partnership=partnership,
        meeting=meeting,
        problem=problem,
        title=title,
        owner=owner,
        due_date=due_date,
        created_by=by,
    )
    item.full_clean()
    item.save()
    if owner != by:
        notify(
            [owner],
            partnership=partnership,
            subject=_("New action for you: %(t)s (due %(d)s)") % {"t": title, "d": due_date},
            url=_action_url(item),
        )
    return item


def _check_action_links(partnership, **links):
    for name in ("meeting", "problem"):
        obj = links.get(name)
        if obj is not None and obj.partnership_id != partnership.pk:
            raise ValidationError({name: _("Choose one of this partnership.")})
    owner = links.get("owner")
    if owner is not None and owner.pk not in partnership_people(partnership):
        raise ValidationError({"owner": _("The owner must be a member of either side.")})


@transaction.atomic
def update_action_item(*, by, item: ActionItem, status=None, **fields) -> ActionItem:
    """Change an action's title, owner, due date or links (an ERP resending it); a new status
    goes through ``set_action_status`` and its rule of who may close an action."""
    _require_member(by, item.partnership)
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    _check_action_links(item.partnership, **fields)
    new_owner = fields.get("owner")
    for name, value in fields.items():
        setattr(item, name, value)
    item.full_clean()
    item.save()
    if new_owner is not None and new_owner != by:
        notify(
            [new_owner],
            partnership=item.partnership,
            subject=_("New action for you: %(t)s (due %(d)s)")
            % {"t": item.title, "d": item.due_date},
            url=_action_url(item),
        )
    if status is not None and status != item.status:
        set_action_status(by=by, item=item, status=status)
    return item


def _action_url(item):
    return (
        item.meeting.get_absolute_url()
        if item.meeting_id
        else f"/partnerships/{item.partnership_id}/actions/"
    )


@transaction.atomic
def set_action_status(*, by, item: ActionItem, status: str) -> ActionItem:
    _side, m = _require_member(by, item.partnership)
    if status not in ActionItem.Status.values:
        raise ValidationError({"status": _("Unknown status.")})
    if by != item.owner and m.role != Role.ADMIN and by != item.created_by:
        raise PermissionDenied(_("Only the owner, who created it, or an admin changes an action."))
    item.status = status
    item.save()
    return item


@transaction.atomic
def publish_minutes(*, by, meeting: Meeting) -> Minutes:
    """Minutes go to every attendee by e-mail, with the minutes PDF attached."""
    _require_member(by, meeting.partnership)
    minutes, _created = Minutes.objects.get_or_create(meeting=meeting)
    if not (minutes.notes.strip() or minutes.decisions.strip() or meeting.action_items.exists()):
        raise ValidationError(_("Write notes, decisions or action items before publishing."))
    minutes.published_at, minutes.published_by = timezone.now(), by
    minutes.save()
    transaction.on_commit(lambda: send_minutes(meeting.pk), robust=True)
    return minutes


def send_minutes(meeting_id: int) -> int:
    from .pdf import render_minutes_pdf

    meeting = Meeting.objects.select_related("partnership__oem", "partnership__ems", "minutes").get(
        pk=meeting_id
    )
    pdf = render_minutes_pdf(meeting)
    people = {u.pk: u for u in [meeting.organiser, *meeting.attendees.all()]}
    actions = list(meeting.action_items.select_related("owner"))
    for user in people.values():
        context = {
            "meeting": meeting,
            "minutes": meeting.minutes,
            "actions": actions,
            "user": user,
            "url": settings.SITE_URL.rstrip("/") + meeting.get_absolute_url(),
        }
        with translation.override(user.language or None):
            subject = _("Minutes: %(t)s") % {"t": meeting.title}
            text = render_to_string("comms/email/minutes.txt", context)
            html = render_to_string("comms/email/minutes.html", context)
        message = EmailMultiAlternatives(
            settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject, text, None, [user.email]
        )
        message.attach_alternative(html, "text/html")
        message.attach(f"minutes-{meeting.pk}.pdf", pdf, "application/pdf")
        message.send()
    return len(people)


def remind_overdue_action_items(now=None) -> int:
    """Daily: each overdue open action reminds its owner, at most once a day."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    n = 0
    with transaction.atomic():
        items = list(
            ActionItem.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=ActionItem.Status.OPEN, due_date__lt=today)
            .filter(
                Q(last_reminded_at__isnull=True) | Q(last_reminded_at__lt=now - timedelta(hours=23))
            )
            .select_related("owner", "partnership", "meeting")
        )
        for item in items:
            notify(
                [item.owner],
                partnership=item.partnership,
                subject=_("Overdue action: %(t)s (due %(d)s)")
                % {"t": item.title, "d": item.due_date},
                url=_action_url(item),
            )
            item.last_reminded_at = now
            item.save(update_fields=["last_reminded_at"])
            n += 1
    return n


# --- Problem log ---------------------------------------------------------------------------

MENTION = re.compile(r"@([\w.+-]+@[\w-]+(?:\.[\w-]+)+|[\w.+-]+)")
TRANSITIONS = {
    "open": {"investigating", "resolved"},
    "investigating": {"open", "resolved"},
    "resolved": {"closed", "investigating"},
    "closed": set(),
}


@transaction.atomic
def raise_problem(
    *, by, partnership, title, description, severity, owner=None, external_id=None, **links
) -> Problem:
    side, _m = _require_member(by, partnership)
    owner = owner or by
    if owner.pk not in partnership_people(partnership):
        raise ValidationError({"owner": _("The owner must be a member of either side.")})
    for field, obj in links.items():
        if obj is not None and _partnership_of(obj) != partnership.pk:
            raise ValidationError({field: _("Link only objects of this partnership.")})
    Partnership.objects.select_for_update().get(pk=partnership.pk)
    number = (partnership.problems.aggregate(n=Max("number"))["n"] or 0) + 1
    problem = Problem(
        partnership=partnership,
        number=number,
        external_id=external_id or None,
        title=title,
        description=description,
        severity=severity,
        owner=owner,
        raised_by=by,
        **links,
    )
    problem.full_clean()
    problem.save()
    other = "oem" if side == "ems" else "ems"
    from partnership.notifications import key_people

    notify(
        [*key_people(partnership, other), owner],
        partnership=partnership,
        subject=_("New problem %(p)s (%(s)s)")
        % {"p": problem, "s": problem.get_severity_display()},
        body=description[:500],
        url=problem.get_absolute_url(),
    )
    return problem


@transaction.atomic
def update_problem(*, by, problem: Problem, status=None, **fields) -> Problem:
    """Change a problem's text, severity, owner, resolution or links (an ERP resending it). A
    closed problem is final; a new status goes through ``change_problem_status`` and its
    transitions (with ``resolution`` as the reason)."""
    _require_member(by, problem.partnership)
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    moving = status is not None and status != problem.status
    resolution = fields.pop("resolution", "") if moving else None
    if fields and problem.status == Problem.Status.CLOSED:
        raise ValidationError(_("This problem is closed; raise a new one."))
    owner = fields.get("owner")
    if owner is not None and owner.pk not in partnership_people(problem.partnership):
        raise ValidationError({"owner": _("The owner must be a member of either side.")})
    for field in ("product", "production_run", "audit", "decision_request"):
        obj = fields.get(field)
        if obj is not None and _partnership_of(obj) != problem.partnership_id:
            raise ValidationError({field: _("Link only objects of this partnership.")})
    if fields:
        for name, value in fields.items():
            setattr(problem, name, value)
        problem.full_clean()
        problem.save()
    if moving:
        problem = change_problem_status(
            by=by, problem=problem, status=status, resolution=resolution or ""
        )
    return problem


def _partnership_of(obj) -> int | None:
    if hasattr(obj, "partnership_id"):
        return obj.partnership_id
    return None


@transaction.atomic
def comment_on_problem(*, by, problem: Problem, text: str, attachment=None) -> ProblemComment:
    """A comment; ``@name`` or ``@email`` mentions notify the people of the partnership named."""
    _require_member(by, problem.partnership)
    if not text.strip():
        raise ValidationError({"text": _("Write a comment.")})
    # The status as it is now (locked, as change_problem_status does), not as the caller saw it.
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    if problem.status == Problem.Status.CLOSED:
        raise ValidationError(_("This problem is closed; raise a new one or reopen it."))
    if attachment is not None and attachment.size > MAX_ATTACHMENT_BYTES:
        raise ValidationError({"attachment": _("The file is larger than 10 MB.")})
    comment = ProblemComment.objects.create(
        problem=problem,
        author=by,
        text=text.strip(),
        attachment=attachment or "",
        attachment_name=(attachment.name.rsplit("/", 1)[-1][:200] if attachment else ""),
    )
    mentioned = resolve_mentions(text, problem.partnership)
    comment.mentions.set(mentioned)
    Problem.objects.filter(pk=problem.pk).update(updated_at=timezone.now())
    if mentioned:
        notify(
            [u for u in mentioned if u != by],
            partnership=problem.partnership,
            subject=_("%(who)s mentioned you in %(p)s") % {"who": by, "p": problem},
            body=text[:500],
            url=problem.get_absolute_url(),
        )
    return comment


def resolve_mentions(text: str, partnership) -> list:
    """@first.last, @firstname or @email — only people of this partnership can be mentioned."""
    # "Over to you, @anna." — a full stop after a name is punctuation, not part of it.
    tokens = {t.lower().rstrip(".") for t in MENTION.findall(text)}
    if not tokens:
        return []
    people = User.objects.filter(pk__in=partnership_people(partnership))
    found = []
    for user in people:
        names = {
            user.email.lower(),
            user.email.split("@")[0].lower(),
            user.first_name.lower(),
            f"{user.first_name}.{user.last_name}".lower(),
        }
        if tokens & {n for n in names if n}:
            found.append(user)
    return found


@transaction.atomic
def change_problem_status(*, by, problem: Problem, status: str, resolution: str = "") -> Problem:
    """open → investigating → resolved → closed; nothing is deleted, a closure needs a resolution."""
    _require_member(by, problem.partnership)
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    if status not in TRANSITIONS.get(problem.status, set()):
        raise ValidationError(
            {
                "status": _("A problem cannot go from %(a)s to %(b)s.")
                % {"a": problem.get_status_display(), "b": status}
            }
        )
    if status in ("resolved", "closed") and not (resolution.strip() or problem.resolution):
        raise ValidationError({"resolution": _("Describe the resolution.")})
    problem.status = status
    if resolution.strip():
        problem.resolution = resolution.strip()
    problem.save()
    ProblemComment.objects.create(
        problem=problem,
        author=by,
        text=_("Status: %(s)s. %(r)s")
        % {"s": problem.get_status_display(), "r": resolution.strip()},
    )
    notify(
        [problem.owner, problem.raised_by],
        partnership=problem.partnership,
        subject=_("%(p)s is now %(s)s") % {"p": problem, "s": problem.get_status_display().lower()},
        body=resolution,
        url=problem.get_absolute_url(),
    )
    return problem


# --- Goals ---------------------------------------------------------------------------------


@transaction.atomic
def save_goal(*, by, partnership, goal: Goal | None = None, **fields) -> Goal:
    _require_member(by, partnership)
    goal = goal or Goal(partnership=partnership)
    if goal.partnership_id != partnership.pk:
        raise PermissionDenied
    for name, value in fields.items():
        setattr(goal, name, value)
    if goal.owner_id and goal.owner_id not in partnership_people(partnership):
        raise ValidationError({"owner": _("The owner must be a member of either side.")})
    goal.full_clean()
    goal.save()
    if "current" in fields and goal.current is not None:
        GoalMeasurement.objects.update_or_create(
            goal=goal, date=timezone.localdate(), defaults={"value": goal.current}
        )
    return goal


@transaction.atomic
def record_measurement(*, by, goal: Goal, date, value) -> GoalMeasurement:
    _require_member(by, goal.partnership)
    measurement, _created = GoalMeasurement.objects.update_or_create(
        goal=goal, date=date, defaults={"value": value}
    )
    latest = goal.measurements.order_by("-date").first()
    goal.current = latest.value
    goal.save(update_fields=["current", "updated_at"])  # through save(): the audit trail
    return measurement


def feed_meetings(user):
    """Everything on a user's calendar feed: meetings they organise or attend, in their scope."""
    return (
        Meeting.objects.for_user(user)
        .filter(Q(organiser=user) | Q(attendees=user))
        .select_related("organiser")
        .prefetch_related("attendees")
        .distinct()
    )
