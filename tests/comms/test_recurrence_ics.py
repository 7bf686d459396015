"""Recurring meetings in their own time zone, and the iCalendar invitations sent for them."""

import datetime as dt
import email.header
import re
import zoneinfo

import pytest
from dateutil.rrule import rrulestr
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from comms import ics, recurrence, services
from comms.models import Meeting, Reminder
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# Tuesday 20 October 2026; Europe/Berlin falls back from CEST to CET on Sunday 25 October.
AUTUMN = dt.datetime(2026, 10, 20, 9, 0, tzinfo=BERLIN)


@pytest.fixture
def schedule(world, ems_engineer):
    """schedule_meeting with sensible defaults: the buyer organises, two EMS people attend."""

    def _schedule(**fields):
        start = fields.pop("start", AUTUMN)
        defaults = {
            "by": world.buyer,
            "partnership": world.ours,
            "title": "Weekly operations call",
            "kind": "operations",
            "start": start,
            "end": start + dt.timedelta(hours=1),
            "time_zone": "Europe/Berlin",
            "rrule": "FREQ=WEEKLY;COUNT=4",
            "attendees": [world.account_manager, ems_engineer],
        }
        return services.schedule_meeting(**{**defaults, **fields})

    return _schedule


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


def starts(meeting):
    return [s for s, _e in recurrence.occurrences(meeting)]


def parse(payload: bytes) -> Calendar:
    return Calendar.from_ical(payload)


def as_list(value):
    return value if isinstance(value, list) else [value]


# --- Occurrences ----------------------------------------------------------------------------


def test_weekly_series_keeps_its_local_time_across_the_autumn_dst_change(schedule):
    meeting = schedule(start=AUTUMN, rrule="FREQ=WEEKLY;COUNT=4")

    occurrences = recurrence.occurrences(meeting)

    assert [s for s, _e in occurrences] == [
        utc(2026, 10, 20, 7),  # CEST, UTC+2
        utc(2026, 10, 27, 8),  # CET, UTC+1: same wall-clock time, an hour later in UTC
        utc(2026, 11, 3, 8),
        utc(2026, 11, 10, 8),
    ]
    assert {s.astimezone(BERLIN).time() for s, _e in occurrences} == {dt.time(9, 0)}
    assert all(e - s == dt.timedelta(hours=1) for s, e in occurrences)


def test_a_nonexistent_local_time_moves_forward_an_hour_on_the_spring_forward_day(schedule):
    # 29 March 2026 in Berlin jumps from 02:00 CET to 03:00 CEST: 02:30 does not exist that day.
    start = dt.datetime(2026, 3, 27, 2, 30, tzinfo=BERLIN)
    meeting = schedule(start=start, rrule="FREQ=DAILY;COUNT=4")

    local = [s.astimezone(BERLIN) for s in starts(meeting)]

    assert starts(meeting) == [
        utc(2026, 3, 27, 1, 30),
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 30),  # 03:30 CEST, right after the gap, not skipped
        utc(2026, 3, 30, 0, 30),  # back to 02:30, now CEST
    ]
    assert [(t.day, t.hour, t.minute) for t in local] == [
        (27, 2, 30),
        (28, 2, 30),
        (29, 3, 30),
        (30, 2, 30),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    day=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2030, 12, 31)),
    time=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    freq=st.sampled_from(["DAILY", "WEEKLY"]),
    count=st.integers(min_value=1, max_value=60),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Shanghai"]),
)
def test_every_occurrence_keeps_the_wall_clock_time_except_in_a_dst_gap(
    day, time, freq, count, zone
):
    """Pure expansion (an unsaved meeting): count kept, strictly increasing, same local time —
    unless that time does not exist on the day, then an hour later."""
    tz = zoneinfo.ZoneInfo(zone)
    start = recurrence._localise(dt.datetime.combine(day, time), tz)
    meeting = Meeting(
        start=start,
        end=start + dt.timedelta(minutes=45),
        time_zone=zone,
        rrule=f"FREQ={freq};COUNT={count}",
    )
    first_local = start.astimezone(tz).replace(tzinfo=None)
    step = dt.timedelta(days=1 if freq == "DAILY" else 7)

    out = recurrence.occurrences(meeting)

    assert len(out) == count
    for n, (s, e) in enumerate(out):
        assert s.tzinfo == UTC and e - s == dt.timedelta(minutes=45)
        wanted = first_local + n * step
        local = s.astimezone(tz).replace(tzinfo=None)
        exists = (
            dt.datetime.fromtimestamp(wanted.replace(tzinfo=tz).timestamp(), tz).replace(
                tzinfo=None
            )
            == wanted
        )
        assert local == (wanted if exists else wanted + dt.timedelta(hours=1))
    assert [s for s, _e in out] == sorted({s for s, _e in out})


def test_until_as_a_local_date_includes_that_days_occurrence(schedule):
    """UNTIL=20261110 ends the series on 10 November, *including* the meeting that day — as
    calendar clients read the invitation (UNTIL becomes 23:59:59 local time, in UTC)."""
    meeting = schedule(rrule="FREQ=WEEKLY;UNTIL=20261110")

    assert starts(meeting) == [
        utc(2026, 10, 20, 7),
        utc(2026, 10, 27, 8),
        utc(2026, 11, 3, 8),
        utc(2026, 11, 10, 8),
    ]
    event = parse(ics.invitation(meeting)).walk("VEVENT")[0]
    assert event["RRULE"]["UNTIL"] == [utc(2026, 11, 10, 22, 59, 59)]  # 23:59:59 CET
    assert "UNTIL=20261110T225959Z" in ics.invitation(meeting).decode()


def test_cancelling_one_occurrence_adds_an_exdate(world, schedule):
    meeting = schedule()
    sequence = meeting.sequence

    services.cancel_occurrence(
        by=world.buyer, meeting=meeting, occurrence_start=utc(2026, 10, 27, 8)
    )

    meeting.refresh_from_db()
    assert starts(meeting) == [utc(2026, 10, 20, 7), utc(2026, 11, 3, 8), utc(2026, 11, 10, 8)]
    assert meeting.sequence == sequence + 1
    event = parse(ics.invitation(meeting)).walk("VEVENT")[0]
    exdates = [d.dt for prop in as_list(event["EXDATE"]) for d in prop.dts]
    assert exdates == [dt.datetime(2026, 10, 27, 9, 0, tzinfo=BERLIN)]
    assert "EXDATE;TZID=Europe/Berlin:20261027T090000" in ics.invitation(meeting).decode()
    # Not an occurrence (any more): refused.
    with pytest.raises(ValidationError, match="no such occurrence"):
        services.cancel_occurrence(
            by=world.buyer, meeting=meeting, occurrence_start=utc(2026, 10, 27, 8)
        )
    with pytest.raises(ValidationError, match="no such occurrence"):
        services.cancel_occurrence(
            by=world.buyer, meeting=meeting, occurrence_start=utc(2026, 10, 27, 9)
        )


def test_rescheduling_one_occurrence_creates_an_override_with_a_recurrence_id(world, schedule):
    series = schedule()
    moved_start = dt.datetime(2026, 10, 28, 14, 0, tzinfo=BERLIN)

    override = services.reschedule_occurrence(
        by=world.buyer,
        meeting=series,
        occurrence_start=utc(2026, 10, 27, 8),
        start=moved_start,
        end=moved_start + dt.timedelta(minutes=30),
    )

    series.refresh_from_db()
    assert override.parent == series and override.recurrence_id == utc(2026, 10, 27, 8)
    assert override.ical_uid == series.uid and override.uid != series.uid
    assert set(override.attendees.all()) == set(series.attendees.all())
    assert starts(series) == [utc(2026, 10, 20, 7), utc(2026, 11, 3, 8), utc(2026, 11, 10, 8)]
    assert starts(override) == [moved_start.astimezone(UTC)]
    assert series.sequence == 1

    events = parse(ics.invitation(series)).walk("VEVENT")
    assert len(events) == 2
    main, changed = events
    assert str(main["UID"]) == str(changed["UID"]) == series.uid
    assert "RECURRENCE-ID" not in main and "RRULE" in main
    assert "RRULE" not in changed
    assert changed.decoded("RECURRENCE-ID") == dt.datetime(2026, 10, 27, 9, 0, tzinfo=BERLIN)
    assert changed["RECURRENCE-ID"].params["TZID"] == "Europe/Berlin"
    assert changed.decoded("DTSTART") == moved_start
    # The moved occurrence is no longer one of the series': it cannot be moved a second time.
    with pytest.raises(ValidationError, match="no such occurrence"):
        services.reschedule_occurrence(
            by=world.buyer,
            meeting=series,
            occurrence_start=utc(2026, 10, 27, 8),
            start=moved_start,
            end=moved_start + dt.timedelta(hours=1),
        )


# --- Validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        "COUNT=4",  # no FREQ
        "FREQ=WEEKLY",  # no end
        "FREQ=WEEKLY;BYDAY=TU",  # no end either
        "FREQ=WEEKLY;COUNT=501",  # too many
        "FREQ=WEEKLY;COUNT=0",
        "FREQ=WEEKLY;COUNT=ten",
        "FREQ=HOURLY;COUNT=4",  # not a meeting frequency
        "garbage",
        "FREQ=WEEKLY;COUNT=4;BYDAY=XX",
        "FREQ=WEEKLY;COUNT=4;COLOUR=RED",
        "FREQ=WEEKLY;UNTIL=someday",
        "FREQ=WEEKLY;COUNT=4;INTERVAL=0",  # the same start four times (or forever, see below)
        "FREQ=WEEKLY;COUNT=4;INTERVAL=0;BYDAY=MO",  # never advances: an endless expansion
        "FREQ=WEEKLY;COUNT=4;INTERVAL=-1",
        "FREQ=DAILY;UNTIL=20301231",  # > 500 occurrences: more than the portal expands
        "FREQ=MONTHLY;COUNT=4;BYMONTHDAY=31;BYMONTH=2",  # never happens
    ],
)
def test_invalid_rules_are_rejected_and_nothing_is_saved(schedule, rule):
    with pytest.raises(ValidationError) as excinfo:
        schedule(rrule=rule)

    assert list(excinfo.value.message_dict) == ["rrule"]
    assert not Meeting.objects.exists()
    assert not Reminder.objects.exists()


@pytest.mark.parametrize(
    ("rule", "normalised"),
    [
        ("", ""),
        ("rrule:freq=weekly;count=4", "FREQ=WEEKLY;COUNT=4"),
        ("FREQ=WEEKLY;COUNT=500", "FREQ=WEEKLY;COUNT=500"),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=20261231",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=20261231",
        ),
    ],
)
def test_valid_rules_are_normalised(schedule, rule, normalised):
    assert schedule(rrule=rule).rrule == normalised


def test_a_meeting_must_end_after_it_starts(schedule):
    for end in (AUTUMN, AUTUMN - dt.timedelta(minutes=1)):
        with pytest.raises(ValidationError) as excinfo:
            schedule(end=end)
        assert "end" in excinfo.value.message_dict
    assert not Meeting.objects.exists()


def test_attendees_must_belong_to_the_partnership(world, schedule):
    with pytest.raises(ValidationError) as excinfo:
        schedule(attendees=[world.account_manager, world.outsider])

    assert list(excinfo.value.message_dict) == ["attendees"]
    assert not Meeting.objects.exists()

    meeting = schedule()
    with pytest.raises(ValidationError):
        services.update_meeting(by=world.buyer, meeting=meeting, attendees=[world.outsider])
    meeting.refresh_from_db()
    assert meeting.sequence == 0 and world.outsider not in meeting.attendees.all()


# --- The invitation -------------------------------------------------------------------------


def test_the_invitation_is_a_request_with_timezone_rrule_and_people(world, ems_engineer, schedule):
    meeting = schedule(rrule="FREQ=WEEKLY;COUNT=4", conference_url="https://meet.example.com/x")
    payload = ics.invitation(meeting)
    cal = parse(payload)

    assert str(cal["METHOD"]) == "REQUEST"
    assert str(cal["VERSION"]) == "2.0"
    (event,) = cal.walk("VEVENT")
    assert str(event["UID"]) == meeting.uid
    assert int(event["SEQUENCE"]) == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event.decoded("DTSTART") == AUTUMN
    assert event.decoded("DTEND") == AUTUMN + dt.timedelta(hours=1)
    assert "DTSTART;TZID=Europe/Berlin:20261020T090000" in payload.decode()
    (vtimezone,) = [c for c in cal.walk("VTIMEZONE") if str(c["TZID"]) == "Europe/Berlin"]
    assert {c.name for c in vtimezone.subcomponents} == {"STANDARD", "DAYLIGHT"}
    assert event["RRULE"]["FREQ"] == ["WEEKLY"] and event["RRULE"]["COUNT"] == [4]
    assert str(event["ORGANIZER"]) == "mailto:buyer@oem.example"
    attendees = {str(a) for a in as_list(event["ATTENDEE"])}
    assert attendees == {"mailto:am@ems.example", "mailto:engineer@ems.example"}
    assert str(event["URL"]) == "https://meet.example.com/x"
    # What a calendar client expands from it is what the portal expands.
    expanded = rrulestr(event["RRULE"].to_ical().decode(), dtstart=event.decoded("DTSTART"))
    assert [d.astimezone(UTC) for d in expanded] == starts(meeting)


def test_updates_keep_the_uid_and_raise_the_sequence(world, schedule):
    meeting = schedule()
    first = parse(ics.invitation(meeting)).walk("VEVENT")[0]

    services.update_meeting(by=world.buyer, meeting=meeting, title="Weekly ops (new time)")
    later = AUTUMN + dt.timedelta(hours=2)
    updated = services.update_meeting(
        by=world.buyer, meeting=meeting, start=later, end=later + dt.timedelta(hours=1)
    )

    second = parse(ics.invitation(updated)).walk("VEVENT")[0]
    assert str(second["UID"]) == str(first["UID"]) == meeting.uid
    assert (int(first["SEQUENCE"]), int(second["SEQUENCE"])) == (0, 2)
    assert str(second["SUMMARY"]) == "Weekly ops (new time)"
    assert second.decoded("DTSTART") == later


def test_a_cancelled_meeting_gives_a_cancel_with_status_cancelled(world, schedule):
    meeting = schedule()

    cancelled = services.cancel_meeting(by=world.buyer, meeting=meeting)

    cal = parse(ics.invitation(cancelled, cancelled=True))
    assert str(cal["METHOD"]) == "CANCEL"
    (event,) = cal.walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == meeting.uid and int(event["SEQUENCE"]) == 1
    # In a feed (no METHOD) the cancelled meeting shows as cancelled, too.
    assert str(parse(ics.calendar([cancelled], method=None)).walk("VEVENT")[0]["STATUS"]) == (
        "CANCELLED"
    )
    with pytest.raises(ValidationError, match="cancelled"):
        services.update_meeting(by=world.buyer, meeting=cancelled, title="Back again")


# --- Invitation e-mails over real SMTP (sent on commit) -------------------------------------


def subject_of(message):
    """The decoded, unfolded Subject."""
    raw = re.sub(r"\r?\n(?=[ \t])", "", message["Subject"])
    return str(email.header.make_header(email.header.decode_header(raw)))


def invite_part(message):
    (part,) = [p for p in message.walk() if p.get_filename() == "invite.ics"]
    return part


def mails_to(sink, address):
    return [m for m in sink.messages if m["To"] == address]


@pytest.mark.django_db(transaction=True)
def test_each_attendee_gets_one_invitation_in_their_own_time_zone(
    world, ems_engineer, smtp_sink, weekly
):
    wait_for(lambda: len(smtp_sink.messages) >= 2, describe=lambda: smtp_sink.messages)

    assert sorted(m["To"] for m in smtp_sink.messages) == ["am@ems.example", "engineer@ems.example"]
    for message in smtp_sink.messages:
        assert subject_of(message) == "[Partnership Portal] Invitation: Weekly operations call"
        part = invite_part(message)
        assert part.get_content_type() == "text/calendar"
        assert part.get_param("method") == "REQUEST"
        cal = parse(part.get_payload(decode=True))
        assert str(cal["METHOD"]) == "REQUEST"
        assert str(cal.walk("VEVENT")[0]["UID"]) == weekly.uid

    bodies = dict(zip([m["To"] for m in smtp_sink.messages], smtp_sink.bodies(), strict=True))
    # 09:00 in Berlin is 16:00 in Shanghai in winter (CET) and 15:00 in summer (CEST).
    shanghai_start = weekly.start.astimezone(SHANGHAI)
    shanghai_end = weekly.end.astimezone(SHANGHAI)
    assert shanghai_start.strftime("%H:%M") in {"15:00", "16:00"}
    assert (
        f"When: {shanghai_start:%A} {shanghai_start.day} {shanghai_start:%B %Y}, "
        f"{shanghai_start:%H:%M}–{shanghai_end:%H:%M} (Asia/Shanghai)"
    ) in bodies["engineer@ems.example"]
    # The account manager has no zone of their own: their organisation's (Europe/Warsaw).
    warsaw = weekly.start.astimezone(zoneinfo.ZoneInfo("Europe/Warsaw"))
    assert f"{warsaw.day} {warsaw:%B %Y}, 09:00–10:00 (Europe/Warsaw)" in bodies["am@ems.example"]
    # The upcoming occurrences are listed in the recipient's zone too.
    assert (
        f"{shanghai_start:%a} {shanghai_start.day} {shanghai_start:%b %Y %H:%M}"
        in bodies["engineer@ems.example"]
    )


@pytest.mark.django_db(transaction=True)
def test_a_removed_attendee_gets_a_cancel_and_the_others_an_update(
    world, ems_engineer, smtp_sink, weekly
):
    wait_for(lambda: len(smtp_sink.messages) == 2, describe=lambda: smtp_sink.messages)
    smtp_sink.messages.clear()

    services.update_meeting(by=world.buyer, meeting=weekly, attendees=[ems_engineer])

    wait_for(lambda: len(smtp_sink.messages) == 2, describe=lambda: smtp_sink.messages)
    (removed,) = mails_to(smtp_sink, "am@ems.example")
    (kept,) = mails_to(smtp_sink, "engineer@ems.example")
    assert subject_of(removed) == "[Partnership Portal] Cancelled: Weekly operations call"
    assert invite_part(removed).get_param("method") == "CANCEL"
    cancel = parse(invite_part(removed).get_payload(decode=True))
    assert str(cancel["METHOD"]) == "CANCEL"
    assert str(cancel.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert int(cancel.walk("VEVENT")[0]["SEQUENCE"]) == 1
    assert str(cancel.walk("VEVENT")[0]["UID"]) == weekly.uid

    assert subject_of(kept) == "[Partnership Portal] Updated invitation: Weekly operations call"
    request = parse(invite_part(kept).get_payload(decode=True))
    assert str(request["METHOD"]) == "REQUEST"
    event = request.walk("VEVENT")[0]
    assert (str(event["UID"]), int(event["SEQUENCE"])) == (weekly.uid, 1)
    assert {str(a) for a in as_list(event["ATTENDEE"])} == {"mailto:engineer@ems.example"}


@pytest.mark.django_db(transaction=True)
def test_cancelling_the_meeting_mails_every_attendee_a_cancel(world, smtp_sink, weekly):
    wait_for(lambda: len(smtp_sink.messages) == 2, describe=lambda: smtp_sink.messages)
    smtp_sink.messages.clear()

    services.cancel_meeting(by=world.buyer, meeting=weekly)

    wait_for(lambda: len(smtp_sink.messages) == 2, describe=lambda: smtp_sink.messages)
    assert sorted(m["To"] for m in smtp_sink.messages) == ["am@ems.example", "engineer@ems.example"]
    for message in smtp_sink.messages:
        part = invite_part(message)
        assert part.get_param("method") == "CANCEL"
        cal = parse(part.get_payload(decode=True))
        assert str(cal["METHOD"]) == "CANCEL"
        assert str(cal.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"


def test_a_meeting_knows_when_its_last_occurrence_ends(schedule, world):
    """``last_end`` lets pages leave finished series out in SQL (#9): it must follow every
    change of the rule, the times or the zone."""
    series = schedule(rrule="FREQ=WEEKLY;COUNT=4")
    series.refresh_from_db()
    # four Tuesdays at 09:00 Berlin; the last is 10 November (CET, UTC+1), ending at 10:00
    assert series.last_end == utc(2026, 11, 10, 9, 0)
    services.update_meeting(by=world.buyer, meeting=series, rrule="FREQ=WEEKLY;COUNT=6")
    series.refresh_from_db()
    assert series.last_end == utc(2026, 11, 24, 9, 0)
    single = schedule(rrule="", start=AUTUMN + dt.timedelta(days=2))
    single.refresh_from_db()
    assert single.last_end == single.end


def test_the_meetings_page_lists_what_is_still_to_come(schedule, world, client):
    from django.urls import reverse
    from django.utils import timezone

    now = timezone.now()
    over = schedule(title="Finished series", start=now - dt.timedelta(weeks=10))
    going = schedule(title="Running series", start=now - dt.timedelta(weeks=2))
    assert over.last_end < now < going.last_end
    client.force_login(world.buyer)
    response = client.get(reverse("comms:meetings", args=[world.ours.pk]))
    titles = {o["meeting"].title for o in response.context["upcoming"]}
    assert titles == {"Running series"}
    assert len(response.context["upcoming"]) == 2  # weeks 3 and 4 of the four


def test_an_occurrence_moved_out_of_a_finished_series_is_still_upcoming(schedule, world):
    from django.utils import timezone

    now = timezone.now().replace(microsecond=0)
    series = schedule(title="Old series", start=now - dt.timedelta(weeks=5))
    last = starts(series)[-1]
    assert series.last_end < now  # the rule itself is over…
    tomorrow = now + dt.timedelta(days=1)
    services.reschedule_occurrence(
        by=world.buyer,
        meeting=series,
        occurrence_start=last,
        start=tomorrow,
        end=tomorrow + dt.timedelta(hours=1),
    )
    upcoming = services.upcoming_occurrences(world.ours, now=now)
    assert [(o["meeting"].pk, o["start"], o["moved"]) for o in upcoming] == [
        (series.pk, tomorrow, True)  # …but its last meeting was moved to tomorrow
    ]
