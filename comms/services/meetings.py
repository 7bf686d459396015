"""Meetings and series: scheduling, changing, moving or cancelling one occurrence, cancelling;
and the invitations (.ics by e-mail) their events send (``comms.subscribers``)."""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from partnership import events
from partnership.models import User

from .. import ics, recurrence
from ..models import Meeting, Reminder
from .agenda import propose_agenda
from .common import partnership_people, require_member, user_zone
from .reminders import plan_reminders, replan_reminders


def clean_meeting(meeting: Meeting, attendees) -> None:
    """The rules of a meeting: it ends after it starts, a valid rule (stored normalised),
    attendees of either side of the partnership."""
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


def _refuse_cancelled(meeting: Meeting) -> None:
    if meeting.status == Meeting.Status.CANCELLED:
        raise ValidationError(_("This meeting is cancelled."))


@transaction.atomic
def schedule_meeting(*, by, partnership, attendees=(), **fields) -> Meeting:
    """A meeting or a series: its agenda starts from what is open, its reminders are planned,
    and its ``created`` event invites the attendees."""
    require_member(by, partnership)
    meeting = Meeting(partnership=partnership, organiser=by, **fields)
    if not meeting.time_zone:
        meeting.time_zone = str(user_zone(by))
    clean_meeting(meeting, attendees)
    meeting.save()
    meeting.attendees.set(attendees)
    propose_agenda(meeting)
    plan_reminders(meeting)
    events.emit("meeting", "created", meeting, by=by)
    return meeting


@transaction.atomic
def update_meeting(*, by, meeting: Meeting, attendees=None, **fields) -> Meeting:
    """Edit the meeting (or the whole series): SEQUENCE goes up, reminders are re-planned, and
    the ``changed`` event sends the attendees an update — removed attendees a cancellation.
    Nothing changes, nothing happens."""
    require_member(by, meeting.partnership)
    meeting = Meeting.objects.select_for_update().get(pk=meeting.pk)
    _refuse_cancelled(meeting)
    before = events.snapshot(meeting)
    attendees_before = set(meeting.attendees.values_list("pk", flat=True))
    for name, value in fields.items():
        setattr(meeting, name, value)
    new_attendees = list(attendees) if attendees is not None else list(meeting.attendees.all())
    clean_meeting(meeting, new_attendees)
    changed = events.changed_fields(meeting, before)
    attendees_after = {u.pk for u in new_attendees}
    if attendees_after != attendees_before:
        changed.append("attendees")
    if not changed:
        return meeting
    meeting.sequence += 1
    meeting.save()
    if "attendees" in changed:
        meeting.attendees.set(new_attendees)
    replan_reminders(meeting)
    events.emit(
        "meeting",
        "changed",
        meeting,
        by=by,
        changed=changed,
        removed=frozenset(attendees_before - attendees_after),
    )
    return meeting


def _series_for_occurrence(meeting: Meeting, occurrence_start, not_repeating: str) -> Meeting:
    series = Meeting.objects.select_for_update().get(pk=meeting.pk)
    _refuse_cancelled(series)
    if not series.rrule:
        raise ValidationError(not_repeating)
    if occurrence_start not in {s for s, _e in recurrence.occurrences(series)}:
        raise ValidationError({"occurrence": _("There is no such occurrence in this series.")})
    return series


@transaction.atomic
def reschedule_occurrence(
    *, by, meeting: Meeting, occurrence_start: dt.datetime, start: dt.datetime, end: dt.datetime
) -> Meeting:
    """Move one occurrence of a series: an override with the series' UID and a RECURRENCE-ID.
    Two events: the override is ``created``, and the series' ``occurrence_moved`` (SEQUENCE
    up) sends the attendees the updated series."""
    require_member(by, meeting.partnership)
    series = _series_for_occurrence(
        meeting, occurrence_start, _("This meeting does not repeat; edit it directly.")
    )
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
    clean_meeting(override, list(series.attendees.all()))
    override.save()
    override.attendees.set(series.attendees.all())
    series.sequence += 1
    series.save(update_fields=["sequence", "updated_at"])
    replan_reminders(series)
    plan_reminders(override)
    events.publish(
        [
            events.event("meeting", "created", override, by=by),
            events.event(
                "meeting",
                "occurrence_moved",
                series,
                by=by,
                occurrence=override,
                occurrence_start=occurrence_start,
            ),
        ]
    )
    return override


@transaction.atomic
def cancel_occurrence(*, by, meeting: Meeting, occurrence_start: dt.datetime) -> Meeting:
    """Cancel one occurrence of a series (an EXDATE): the series' ``occurrence_cancelled``."""
    require_member(by, meeting.partnership)
    series = _series_for_occurrence(
        meeting, occurrence_start, _("This meeting does not repeat; cancel the meeting instead.")
    )
    series.exdates = [*series.exdates, occurrence_start.astimezone(dt.UTC).isoformat()]
    series.sequence += 1
    series.save()
    replan_reminders(series)
    events.emit(
        "meeting",
        "occurrence_cancelled",
        series,
        by=by,
        changed=["exdates"],
        occurrence_start=occurrence_start,
    )
    return series


@transaction.atomic
def cancel_meeting(*, by, meeting: Meeting) -> Meeting:
    """Cancel the meeting or the whole series, its moved occurrences with it: a ``cancelled``
    event for each (the tombstones' and the attendees' CANCEL)."""
    require_member(by, meeting.partnership)
    meeting = Meeting.objects.select_for_update().get(pk=meeting.pk)
    if meeting.status == Meeting.Status.CANCELLED:
        raise ValidationError(_("This meeting is already cancelled."))
    meeting.status = Meeting.Status.CANCELLED
    meeting.sequence += 1
    meeting.save()
    # Its moved occurrences are cancelled with it, or the daily horizon extension would plan
    # (and send) their reminders again. One UPDATE; the audit trail records them from the
    # events (saved=False).
    overrides = list(meeting.overrides.exclude(status=Meeting.Status.CANCELLED))
    now = timezone.now()
    Meeting.objects.filter(pk__in=[o.pk for o in overrides]).update(
        status=Meeting.Status.CANCELLED, updated_at=now
    )
    for override in overrides:
        override.status, override.updated_at = Meeting.Status.CANCELLED, now
    Reminder.objects.filter(
        Q(meeting=meeting) | Q(meeting__parent=meeting), sent_at__isnull=True
    ).delete()
    events.publish(
        [
            events.event("meeting", "cancelled", meeting, by=by, changed=["status"]),
            *(
                events.event(
                    "meeting",
                    "cancelled",
                    override,
                    by=by,
                    changed=["status"],
                    saved=False,
                    with_series=meeting.pk,
                )
                for override in overrides
            ),
        ]
    )
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


def feed_meetings(user):
    """Everything on a user's calendar feed: meetings they organise or attend, in their scope."""
    return (
        Meeting.objects.for_user(user)
        .filter(Q(organiser=user) | Q(attendees=user))
        .select_related("organiser")
        .prefetch_related("attendees")
        .distinct()
    )
