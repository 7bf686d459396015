"""Meeting reminders, planned in the database and sent exactly when due, and the upcoming
occurrences of a partnership's meetings. Bookkeeping, not business changes: reminder rows and
their ``sent_at`` emit no event."""

import logging
import smtplib
from collections import defaultdict
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from partnership.models import NotificationSettings

from .. import recurrence
from ..models import Meeting, Reminder, not_over
from .common import user_zone

logger = logging.getLogger(__name__)
# reminders are planned this far ahead; a daily task extends it
PLANNING_HORIZON = timedelta(days=35)


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
