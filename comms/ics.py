"""iCalendar invitations and feeds (RFC 5545/5546) with the icalendar library: a stable UID,
SEQUENCE for updates, METHOD REQUEST/CANCEL, RRULE/EXDATE/RECURRENCE-ID, and VTIMEZONE data
so every attendee's calendar shows the right local time."""

import datetime as dt
import zoneinfo

from django.conf import settings
from icalendar import Calendar, Event, vCalAddress, vRecur, vText

PRODID = "-//OEM-EMS Partnership Portal//EN"


def _utc_until(rule: str, tz) -> str:
    """RFC 5545: with a TZID on DTSTART, UNTIL must be in UTC."""
    parts = rule.split(";")
    out = []
    for part in parts:
        if part.startswith("UNTIL=") and not part.endswith("Z"):
            raw = part[6:]
            local = (
                dt.datetime.strptime(raw, "%Y%m%dT%H%M%S")
                if "T" in raw
                else dt.datetime.strptime(raw, "%Y%m%d").replace(hour=23, minute=59, second=59)
            )
            part = "UNTIL=" + local.replace(tzinfo=tz).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out.append(part)
    return ";".join(out)


def _event(meeting, *, cancelled=False) -> Event:
    tz = zoneinfo.ZoneInfo(meeting.time_zone)
    event = Event()
    event.add("uid", meeting.ical_uid)
    event.add("sequence", meeting.sequence)
    event.add("dtstamp", dt.datetime.now(dt.UTC))
    event.add("dtstart", meeting.start.astimezone(tz))
    event.add("dtend", meeting.end.astimezone(tz))
    event.add("summary", meeting.title)
    body = meeting.description
    if meeting.conference_url:
        body = f"{body}\n\n{meeting.conference_url}".strip()
        event.add("url", meeting.conference_url)
    if body:
        event.add("description", body)
    if meeting.location or meeting.conference_url:
        event.add("location", meeting.location or meeting.conference_url)
    if meeting.parent_id and meeting.recurrence_id:
        event.add("recurrence-id", meeting.recurrence_id.astimezone(tz))
    elif meeting.rrule:
        event.add("rrule", vRecur.from_ical(_utc_until(meeting.rrule, tz)))
        for ex in meeting.exdates:
            event.add("exdate", dt.datetime.fromisoformat(ex).astimezone(tz))
    event.add("status", "CANCELLED" if cancelled or meeting.status == "cancelled" else "CONFIRMED")
    organiser = vCalAddress(f"mailto:{meeting.organiser.email}")
    organiser.params["cn"] = vText(str(meeting.organiser))
    event["organizer"] = organiser
    for person in meeting.attendees.all():
        attendee = vCalAddress(f"mailto:{person.email}")
        attendee.params["cn"] = vText(str(person))
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee, encode=0)
    if not meeting.conference_url:
        event.add("url", settings.SITE_URL.rstrip("/") + meeting.get_absolute_url())
    return event


def calendar(meetings, *, method: str | None = "REQUEST", cancelled=False) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    for meeting in meetings:
        cal.add_component(_event(meeting, cancelled=cancelled))
    cal.add_missing_timezones()
    return cal.to_ical()


def invitation(meeting, *, cancelled=False) -> bytes:
    """A series comes with its changed occurrences, so clients get the whole picture."""
    items = [meeting]
    if meeting.rrule and not meeting.parent_id:
        items += list(meeting.overrides.select_related("organiser").prefetch_related("attendees"))
    return calendar(items, method="CANCEL" if cancelled else "REQUEST", cancelled=cancelled)
