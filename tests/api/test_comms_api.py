"""Communications API: meetings with occurrences, calendar files, agenda and minutes; action
items; the problem log; goals — every endpoint scoped (foreign ids 404, foreign ids in bodies a
400 that reveals nothing), viewers read only, and bad input a 400 that saves nothing."""

import datetime as dt
import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone
from icalendar import Calendar

from comms import services
from comms.models import (
    ActionItem,
    AgendaItem,
    Goal,
    GoalMeasurement,
    Meeting,
    Minutes,
    Problem,
    ProblemComment,
    Reminder,
)
from partnership.models import ApiToken, Role
from schedules import services as schedule_services
from tests.comms import conftest as comms_fixtures
from tests.factories import EMSFactory, PartnershipFactory, member

pytestmark = pytest.mark.django_db

# The comms app's fixtures.
ems_engineer = comms_fixtures.ems_engineer
weekly = comms_fixtures.weekly

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NOT_FOUND = {"status": 404, "code": "not_found", "detail": "Not found."}


def api(client, user):
    """An HTTP client authenticating like a partner's system: with a personal token."""
    _token, key = ApiToken.issue(user, "x")
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
    return client


def post(client, url, data=None):
    return client.post(url, data or {}, content_type="application/json")


def put(client, url, data):
    return client.put(url, data, content_type="application/json")


def patch(client, url, data):
    return client.patch(url, data, content_type="application/json")


def ids(response):
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def next_tuesday_at_nine() -> dt.datetime:
    today = dt.date.today()
    tuesday = today + dt.timedelta(days=(1 - today.weekday()) % 7 or 7)
    return dt.datetime.combine(tuesday, dt.time(9, 0), BERLIN)


def today():
    return timezone.localdate()


@pytest.fixture
def theirs(world):
    """A meeting, problem (with a comment), action item and goal of world.theirs."""
    their_ems = member(world.other_ems, Role.ACCOUNT_MANAGER, email="am@elsewhere.example")
    start = dt.datetime(2030, 1, 8, 9, 0, tzinfo=dt.UTC)
    meeting = services.schedule_meeting(
        by=world.outsider,
        partnership=world.theirs,
        title="Secret meeting",
        start=start,
        end=start + timedelta(hours=1),
        time_zone="UTC",
        rrule="FREQ=WEEKLY;COUNT=4",
        attendees=[their_ems],
    )
    problem = services.raise_problem(
        by=their_ems,
        partnership=world.theirs,
        title="Secret problem",
        description="x",
        severity="high",
    )
    services.comment_on_problem(by=their_ems, problem=problem, text="Secret comment")
    action = services.add_action_item(
        by=world.outsider,
        partnership=world.theirs,
        title="Secret action",
        owner=their_ems,
        due_date=dt.date(2030, 1, 1),
        meeting=meeting,
    )
    goal = services.save_goal(
        by=world.outsider,
        partnership=world.theirs,
        horizon="short",
        title="Secret goal",
        metric="OTD",
        baseline=80,
        target=95,
        due_date=dt.date(2030, 1, 1),
        owner=world.outsider,
    )
    services.record_measurement(by=world.outsider, goal=goal, date=today(), value=85)
    return meeting, problem, action, goal, their_ems


@pytest.fixture
def problem(world):
    return services.raise_problem(
        by=world.account_manager,
        partnership=world.ours,
        title="Solder voids on U7",
        description="X-ray shows voids above 25 % on the QFN.",
        severity="high",
    )


@pytest.fixture
def action(world, weekly):
    return services.add_action_item(
        by=world.buyer,
        partnership=world.ours,
        title="Send the X-ray images",
        owner=world.account_manager,
        due_date=today() + timedelta(days=7),
        meeting=weekly,
    )


@pytest.fixture
def goal(world):
    return services.save_goal(
        by=world.buyer,
        partnership=world.ours,
        horizon="short",
        title="On-time delivery above 95 %",
        metric="OTD",
        unit="%",
        baseline=88,
        target=96,
        due_date=today() + timedelta(days=180),
        owner=world.account_manager,
    )


@pytest.fixture
def second(world):
    """Another partnership of our OEM, with its own EMS member: in the buyer's scope, but not
    in ``world.ours``."""
    partnership = PartnershipFactory(oem=world.oem, ems=EMSFactory(name="Second Source s.r.o."))
    return partnership, member(partnership.ems, Role.ACCOUNT_MANAGER, email="am@second.example")


def meeting_body(world, **overrides):
    start = next_tuesday_at_nine()
    return {
        "partnership": world.ours.pk,
        "title": "Weekly operations call",
        "kind": "operations",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "time_zone": "Europe/Berlin",
        "rrule": "FREQ=WEEKLY;COUNT=12",
        "conference_url": "https://meet.example.com/ops",
        "attendees": [world.account_manager.pk],
        **overrides,
    }


# --- Meetings: schedule, calendar file, occurrences -----------------------------------------


def test_weekly_meeting_through_the_api_gives_an_ics_with_rrule_and_vtimezone(
    world, client, ems_engineer
):
    api(client, world.buyer)
    body = meeting_body(world, attendees=[world.account_manager.pk, ems_engineer.pk])
    response = post(client, "/api/v1/meetings/", body)
    assert response.status_code == 201, response.content
    created = response.json()
    meeting = Meeting.objects.get()
    assert created["id"] == meeting.pk
    assert created["organiser"]["id"] == world.buyer.pk
    assert sorted(created["attendees"]) == sorted([world.account_manager.pk, ems_engineer.pk])
    assert {c["email"] for c in created["attendee_contacts"]} == {
        "am@ems.example",
        "engineer@ems.example",
    }
    assert (created["rrule"], created["time_zone"], created["status"]) == (
        "FREQ=WEEKLY;COUNT=12",
        "Europe/Berlin",
        "scheduled",
    )
    assert when(created["start"]) == next_tuesday_at_nine()
    assert created["uid"] == meeting.ical_uid and created["sequence"] == 0
    # The agenda was proposed and reminders planned, as for the page.
    assert Reminder.objects.filter(meeting=meeting).exists()

    response = client.get(f"/api/v1/meetings/{meeting.pk}/ics/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(response.content)
    (event,) = cal.walk("VEVENT")
    assert event["RRULE"]["FREQ"] == ["WEEKLY"] and event["RRULE"]["COUNT"] == [12]
    assert str(event["UID"]) == meeting.ical_uid
    timezones = [c for c in cal.walk() if c.name == "VTIMEZONE"]
    assert [str(tz["TZID"]) for tz in timezones] == ["Europe/Berlin"]
    attendees = event["ATTENDEE"] if isinstance(event["ATTENDEE"], list) else [event["ATTENDEE"]]
    assert {str(a).lower() for a in attendees} == {
        "mailto:am@ems.example",
        "mailto:engineer@ems.example",
    }

    # Every occurrence stays at 09:00 in Berlin, whatever the UTC offset.
    response = client.get(f"/api/v1/meetings/{meeting.pk}/occurrences/", {"limit": 12})
    assert response.status_code == 200, response.content
    rows = response.json()
    assert len(rows) == 12
    local = [when(r["start"]).astimezone(BERLIN) for r in rows]
    assert {(t.hour, t.minute, t.weekday()) for t in local} == {(9, 0, 1)}
    assert all(not r["moved"] and r["meeting"] == meeting.pk for r in rows)
    assert [when(r["original_start"]) for r in rows] == [when(r["start"]) for r in rows]
    first = client.get(f"/api/v1/meetings/{meeting.pk}/occurrences/", {"limit": 2}).json()
    assert [r["start"] for r in first] == [r["start"] for r in rows[:2]]


def test_ems_member_schedules_with_their_own_zone_by_default(world, client):
    world.account_manager.time_zone = "Asia/Shanghai"
    world.account_manager.save()
    api(client, world.account_manager)
    body = meeting_body(world, rrule="", attendees=[world.buyer.pk])
    del body["time_zone"]
    response = post(client, "/api/v1/meetings/", body)
    assert response.status_code == 201, response.content
    assert response.json()["time_zone"] == "Asia/Shanghai"
    assert response.json()["rrule"] == ""


def test_rescheduled_occurrence_shows_up_moved_and_cancelled_one_disappears(world, client, weekly):
    api(client, world.account_manager)
    url = f"/api/v1/meetings/{weekly.pk}"
    before = client.get(f"{url}/occurrences/", {"limit": 20}).json()
    assert len(before) == 12
    second_start = when(before[1]["original_start"])
    new_start = second_start + timedelta(days=1, hours=2)

    response = post(
        client,
        f"{url}/reschedule-occurrence/",
        {
            "occurrence": second_start.isoformat(),
            "start": new_start.isoformat(),
            "end": (new_start + timedelta(minutes=45)).isoformat(),
        },
    )
    assert response.status_code == 201, response.content
    override = response.json()
    assert override["parent"] == weekly.pk and override["id"] != weekly.pk
    assert when(override["recurrence_id"]) == second_start
    assert when(override["start"]) == new_start

    after = client.get(f"{url}/occurrences/", {"limit": 20}).json()
    assert len(after) == 12
    moved = [r for r in after if r["moved"]]
    assert len(moved) == 1
    assert moved[0]["meeting"] == override["id"]
    assert when(moved[0]["start"]) == new_start
    assert when(moved[0]["end"]) == new_start + timedelta(minutes=45)
    assert when(moved[0]["original_start"]) == second_start
    assert second_start not in {when(r["start"]) for r in after}
    # The moved meeting is listed too, with its series.
    assert ids(client.get("/api/v1/meetings/")) == sorted([weekly.pk, override["id"]])
    # The series' calendar file carries the moved occurrence.
    cal = Calendar.from_ical(client.get(f"{url}/ics/").content)
    events = cal.walk("VEVENT")
    assert len(events) == 2
    assert sum(1 for e in events if "RECURRENCE-ID" in e) == 1

    # The same occurrence cannot be moved twice; the moved meeting is edited directly.
    again = post(
        client,
        f"{url}/reschedule-occurrence/",
        {
            "occurrence": second_start.isoformat(),
            "start": new_start.isoformat(),
            "end": (new_start + timedelta(hours=1)).isoformat(),
        },
    )
    assert again.status_code == 400 and set(again.json()["errors"]) == {"occurrence"}

    third_start = when(after[2]["original_start"])
    response = post(client, f"{url}/cancel-occurrence/", {"occurrence": third_start.isoformat()})
    assert response.status_code == 200, response.content
    assert [when(x) for x in response.json()["exdates"]] == [third_start]
    rows = client.get(f"{url}/occurrences/", {"limit": 20}).json()
    assert len(rows) == 11 and third_start not in {when(r["start"]) for r in rows}
    assert Meeting.objects.count() == 2


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"occurrence": "shift"}, {"occurrence"}),  # not an occurrence of the series
        ({"end": "before"}, {"end"}),
        ({"start": "2030-01-01T09:00:00"}, {"start"}),  # no offset
        ({"occurrence": "soon"}, {"occurrence"}),
    ],
)
def test_bad_reschedules_give_field_errors_and_save_nothing(world, client, weekly, change, fields):
    first = weekly.start
    start = first + timedelta(days=1)
    data = {
        "occurrence": first.isoformat(),
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }
    values = {
        "shift": (first + timedelta(minutes=30)).isoformat(),
        "before": (start - timedelta(minutes=1)).isoformat(),
    }
    data.update({k: values.get(v, v) for k, v in change.items()})
    api(client, world.buyer)
    response = post(client, f"/api/v1/meetings/{weekly.pk}/reschedule-occurrence/", data)
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields
    assert Meeting.objects.count() == 1
    weekly.refresh_from_db()
    assert weekly.sequence == 0


def test_meetings_are_scoped_and_filtered(world, client, weekly, theirs):
    their_meeting = theirs[0]
    single_start = dt.datetime(2031, 6, 3, 14, 0, tzinfo=dt.UTC)
    single = services.schedule_meeting(
        by=world.buyer,
        partnership=world.ours,
        title="Quarterly business review",
        kind="business",
        start=single_start,
        end=single_start + timedelta(hours=3),
        time_zone="Europe/Berlin",
    )
    api(client, world.buyer)
    assert ids(client.get("/api/v1/meetings/")) == sorted([weekly.pk, single.pk])
    assert ids(client.get("/api/v1/meetings/", {"partnership": world.theirs.pk})) == []
    assert ids(client.get("/api/v1/meetings/", {"partnership": world.ours.pk})) == sorted(
        [weekly.pk, single.pk]
    )
    assert ids(client.get("/api/v1/meetings/", {"kind": "business"})) == [single.pk]
    assert ids(client.get("/api/v1/meetings/", {"status": "cancelled"})) == []
    assert ids(client.get("/api/v1/meetings/", {"search": "quarterly"})) == [single.pk]

    def window(start, end):
        return ids(
            client.get("/api/v1/meetings/", {"from": start.isoformat(), "to": end.isoformat()})
        )

    third_week = weekly.start + timedelta(weeks=2)
    assert window(third_week - timedelta(minutes=30), third_week + timedelta(minutes=1)) == [
        weekly.pk
    ]
    # Between two occurrences, and after the series' 12th: nothing.
    assert window(third_week + timedelta(days=1), third_week + timedelta(days=2)) == []
    assert window(weekly.start + timedelta(weeks=12), weekly.start + timedelta(weeks=20)) == []
    assert window(single_start - timedelta(days=1), single_start + timedelta(minutes=1)) == [
        single.pk
    ]
    assert window(single_start + timedelta(hours=3), single_start + timedelta(days=1)) == []
    upcoming = client.get("/api/v1/meetings/", {"from": timezone.now().isoformat()})
    assert ids(upcoming) == sorted([weekly.pk, single.pk])
    # A cancelled occurrence is not in the window any more.
    services.cancel_occurrence(by=world.buyer, meeting=weekly, occurrence_start=third_week)
    assert window(third_week - timedelta(minutes=30), third_week + timedelta(minutes=1)) == []

    bad = client.get("/api/v1/meetings/", {"kind": "party", "from": "tomorrow"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"kind", "from"}

    response = client.get(f"/api/v1/meetings/{their_meeting.pk}/")
    assert response.status_code == 404 and response.json() == NOT_FOUND

    api(client, world.outsider)
    assert ids(client.get("/api/v1/meetings/")) == [their_meeting.pk]
    assert ids(client.get("/api/v1/meetings/", {"partnership": world.ours.pk})) == []


def test_every_meeting_endpoint_answers_404_to_outsiders(world, client, weekly):
    services.save_minutes(by=world.buyer, meeting=weekly, notes="Yield 98.2 %", decisions="")
    api(client, world.outsider)
    base = f"/api/v1/meetings/{weekly.pk}"
    start = weekly.start.isoformat()
    for url in (
        f"{base}/",
        f"{base}/occurrences/",
        f"{base}/ics/",
        f"{base}/minutes/",
        f"{base}/agenda/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json() == NOT_FOUND, url
    # A calendar client asking for the file gets the same JSON error body.
    response = client.get(f"{base}/ics/", HTTP_ACCEPT="text/calendar")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == NOT_FOUND
    for method, url, data in (
        (patch, f"{base}/", {"title": "Hijacked"}),
        (post, f"{base}/cancel/", {}),
        (post, f"{base}/cancel-occurrence/", {"occurrence": start}),
        (
            post,
            f"{base}/reschedule-occurrence/",
            {"occurrence": start, "start": start, "end": weekly.end.isoformat()},
        ),
        (put, f"{base}/minutes/", {"notes": "x", "decisions": "y"}),
        (post, f"{base}/publish-minutes/", {}),
        (post, f"{base}/agenda/", {"title": "Hijacked"}),
    ):
        response = method(client, url, data)
        assert response.status_code == 404, url
        assert response.json() == NOT_FOUND, url
    weekly.refresh_from_db()
    assert (weekly.title, weekly.status, weekly.sequence, weekly.exdates) == (
        "Weekly operations call",
        "scheduled",
        0,
        [],
    )
    assert Meeting.objects.count() == 1
    minutes = Minutes.objects.get(meeting=weekly)
    assert (minutes.notes, minutes.published_at) == ("Yield 98.2 %", None)
    assert not AgendaItem.objects.filter(meeting=weekly, title="Hijacked").exists()


def test_foreign_attendees_and_partnerships_give_400_that_reveals_nothing(
    world, client, ems_engineer, second
):
    _other_partnership, other_member = second
    api(client, world.buyer)

    def schedule(**changes):
        return post(client, "/api/v1/meetings/", meeting_body(world, **changes))

    foreign = schedule(attendees=[world.account_manager.pk, world.outsider.pk])
    unknown = schedule(attendees=[world.account_manager.pk, 99999999])
    assert foreign.status_code == unknown.status_code == 400
    assert set(foreign.json()["errors"]) == {"attendees"}
    assert foreign.json() == unknown.json()
    # Someone of another of the buyer's partnerships: in scope, but not in this partnership.
    elsewhere = schedule(attendees=[other_member.pk])
    assert elsewhere.status_code == 400 and set(elsewhere.json()["errors"]) == {"attendees"}
    foreign_partnership = schedule(partnership=world.theirs.pk)
    unknown_partnership = schedule(partnership=99999999)
    assert foreign_partnership.status_code == 400
    assert set(foreign_partnership.json()["errors"]) == {"partnership"}
    assert foreign_partnership.json() == unknown_partnership.json()
    assert not Meeting.objects.exists()

    # The same when changing the attendees of a meeting.
    meeting = post(client, "/api/v1/meetings/", meeting_body(world)).json()
    response = patch(client, f"/api/v1/meetings/{meeting['id']}/", {"attendees": [ems_engineer.pk]})
    assert response.status_code == 200, response.content
    for stranger in (world.outsider.pk, other_member.pk):
        response = patch(client, f"/api/v1/meetings/{meeting['id']}/", {"attendees": [stranger]})
        assert response.status_code == 400 and set(response.json()["errors"]) == {"attendees"}
    assert list(Meeting.objects.get().attendees.all()) == [ems_engineer]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"end": "before"}, {"end"}),
        ({"end": "start"}, {"end"}),
        ({"rrule": "FREQ=HOURLY;COUNT=3"}, {"rrule"}),
        ({"rrule": "FREQ=WEEKLY"}, {"rrule"}),  # no end
        ({"rrule": "FREQ=WEEKLY;COUNT=9999"}, {"rrule"}),
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX;COUNT=3"}, {"rrule"}),
        ({"start": "2030-01-08T09:00:00"}, {"start"}),  # no UTC offset
        ({"start": "next tuesday"}, {"start"}),
        ({"time_zone": "Mars/Olympus_Mons"}, {"time_zone"}),
        ({"kind": "party"}, {"kind"}),
        ({"title": ""}, {"title"}),
        ({"conference_url": "not a url"}, {"conference_url"}),
        ({"attendees": "everyone"}, {"attendees"}),
    ],
)
def test_bad_meetings_give_field_errors_and_save_nothing(world, client, changes, fields):
    body = meeting_body(world)
    start = when(body["start"])
    values = {
        "before": (start - timedelta(hours=1)).isoformat(),
        "start": body["start"],
    }
    body.update({k: values.get(v, v) if isinstance(v, str) else v for k, v in changes.items()})
    api(client, world.buyer)
    response = post(client, "/api/v1/meetings/", body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert set(response.json()["errors"]) == fields
    assert not Meeting.objects.exists()
    assert not AgendaItem.objects.exists() and not Reminder.objects.exists()


def test_patch_changes_the_whole_series_and_cancel_ends_it(world, client, weekly):
    api(client, world.buyer)
    url = f"/api/v1/meetings/{weekly.pk}/"
    later = weekly.start + timedelta(hours=1)
    response = patch(client, url, {"title": "Weekly ops", "start": later.isoformat()})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"end"}
    response = patch(
        client,
        url,
        {
            "title": "Weekly ops",
            "start": later.isoformat(),
            "end": (later + timedelta(minutes=30)).isoformat(),
            "rrule": "FREQ=WEEKLY;COUNT=6",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["rrule"], body["sequence"]) == (
        "Weekly ops",
        "FREQ=WEEKLY;COUNT=6",
        1,
    )
    assert when(body["start"]).astimezone(BERLIN).hour == 10
    assert len(body["attendees"]) == 2  # left out: unchanged
    assert len(client.get(f"{url}occurrences/", {"limit": 50}).json()) == 6
    bad_rule = patch(client, url, {"rrule": "FREQ=SECONDLY;COUNT=3"})
    assert bad_rule.status_code == 400 and set(bad_rule.json()["errors"]) == {"rrule"}
    weekly.refresh_from_db()
    assert (weekly.rrule, weekly.sequence) == ("FREQ=WEEKLY;COUNT=6", 1)

    assert put(client, url, meeting_body(world)).status_code == 405
    assert client.delete(url).status_code == 405

    response = post(client, f"{url}cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert client.get(f"{url}occurrences/").json() == []
    assert not Reminder.objects.filter(meeting=weekly, sent_at__isnull=True).exists()
    cal = Calendar.from_ical(client.get(f"{url}ics/").content)
    assert str(cal.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    response = patch(client, url, {"title": "Back again"})
    assert response.status_code == 400
    assert Meeting.objects.get().title == "Weekly ops"
    assert ids(client.get("/api/v1/meetings/", {"status": "cancelled"})) == [weekly.pk]


def test_minutes_and_agenda(world, client, weekly):
    api(client, world.account_manager)
    url = f"/api/v1/meetings/{weekly.pk}"
    empty = client.get(f"{url}/minutes/")
    assert empty.status_code == 200
    assert empty.json()["notes"] == "" and empty.json()["published"] is False
    nothing = post(client, f"{url}/publish-minutes/")
    assert nothing.status_code == 400 and "non_field_errors" in nothing.json()["errors"]
    assert not Minutes.objects.filter(published_at__isnull=False).exists()

    missing = put(client, f"{url}/minutes/", {"notes": "Only notes"})
    assert missing.status_code == 400 and set(missing.json()["errors"]) == {"decisions"}
    response = put(
        client,
        f"{url}/minutes/",
        {"notes": "Line 3 yield at 98.2 %.", "decisions": "Second shift from week 14."},
    )
    assert response.status_code == 200, response.content
    assert response.json()["decisions"] == "Second shift from week 14."
    response = post(client, f"{url}/publish-minutes/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["published"] is True and body["published_by"]["id"] == world.account_manager.pk
    assert client.get(f"{url}/minutes/").json()["published_at"] == body["published_at"]

    proposed = client.get(f"{url}/agenda/").json()
    response = post(client, f"{url}/agenda/", {"title": "  Yield on line 3 "})
    assert response.status_code == 201, response.content
    assert response.json()["title"] == "Yield on line 3"
    agenda = client.get(f"{url}/agenda/").json()
    assert [i["title"] for i in agenda] == [i["title"] for i in proposed] + ["Yield on line 3"]
    blank = post(client, f"{url}/agenda/", {"title": "   "})
    assert blank.status_code == 400 and set(blank.json()["errors"]) == {"title"}
    assert len(client.get(f"{url}/agenda/").json()) == len(agenda)


# --- Viewers --------------------------------------------------------------------------------


def test_viewers_read_but_cannot_write(world, client, weekly, problem, action, goal):
    api(client, world.oem_viewer)
    assert ids(client.get("/api/v1/meetings/")) == [weekly.pk]
    assert ids(client.get("/api/v1/problems/")) == [problem.pk]
    assert ids(client.get("/api/v1/action-items/")) == [action.pk]
    assert ids(client.get("/api/v1/goals/")) == [goal.pk]
    m = f"/api/v1/meetings/{weekly.pk}"
    start = weekly.start.isoformat()
    due = str(today() + timedelta(days=3))
    for method, url, data in (
        (post, "/api/v1/meetings/", meeting_body(world)),
        (patch, f"{m}/", {"title": "Viewer's meeting"}),
        (post, f"{m}/cancel/", {}),
        (post, f"{m}/cancel-occurrence/", {"occurrence": start}),
        (
            post,
            f"{m}/reschedule-occurrence/",
            {"occurrence": start, "start": start, "end": weekly.end.isoformat()},
        ),
        (put, f"{m}/minutes/", {"notes": "x", "decisions": ""}),
        (post, f"{m}/publish-minutes/", {}),
        (post, f"{m}/agenda/", {"title": "x"}),
        (
            post,
            "/api/v1/action-items/",
            {"partnership": world.ours.pk, "title": "x", "due_date": due},
        ),
        (patch, f"/api/v1/action-items/{action.pk}/", {"status": "done"}),
        (
            post,
            "/api/v1/problems/",
            {"partnership": world.ours.pk, "title": "x", "description": "y", "severity": "low"},
        ),
        (post, f"/api/v1/problems/{problem.pk}/comments/", {"text": "x"}),
        (post, f"/api/v1/problems/{problem.pk}/status/", {"status": "investigating"}),
        (
            post,
            "/api/v1/goals/",
            {
                "partnership": world.ours.pk,
                "horizon": "long",
                "title": "x",
                "metric": "PPM",
                "baseline": "500",
                "target": "50",
                "due_date": due,
            },
        ),
        (patch, f"/api/v1/goals/{goal.pk}/", {"target": "99"}),
        (post, f"/api/v1/goals/{goal.pk}/measurements/", {"value": "90"}),
    ):
        response = method(client, url, data)
        assert response.status_code == 403, (url, response.content)
        assert response.json()["code"] == "permission_denied"
    weekly.refresh_from_db()
    assert (weekly.title, weekly.status, weekly.sequence) == (
        "Weekly operations call",
        "scheduled",
        0,
    )
    assert Meeting.objects.count() == 1 and not Minutes.objects.exists()
    assert ActionItem.objects.get().status == "open" and Problem.objects.get().status == "open"
    assert ProblemComment.objects.count() == 0
    assert Goal.objects.get().target == 96 and not GoalMeasurement.objects.exists()


# --- Action items ---------------------------------------------------------------------------


def test_action_items_are_added_filtered_and_closed_by_their_owner(
    world, client, weekly, problem, ems_engineer
):
    api(client, world.buyer)
    due = str(today() + timedelta(days=7))
    response = post(
        client,
        "/api/v1/action-items/",
        {
            "partnership": world.ours.pk,
            "title": "Send the X-ray images",
            "owner": world.account_manager.pk,
            "due_date": due,
            "meeting": weekly.pk,
        },
    )
    assert response.status_code == 201, response.content
    item = response.json()
    assert (item["owner"], item["meeting"], item["problem"], item["status"]) == (
        world.account_manager.pk,
        weekly.pk,
        None,
        "open",
    )
    assert item["created_by"]["id"] == world.buyer.pk
    own = post(
        client,
        "/api/v1/action-items/",
        {
            "partnership": world.ours.pk,
            "title": "Check stencil",
            "due_date": due,
            "problem": problem.pk,
        },
    )
    assert own.status_code == 201 and own.json()["owner"] == world.buyer.pk
    own = own.json()

    everything = sorted([item["id"], own["id"]])
    assert ids(client.get("/api/v1/action-items/")) == everything
    assert ids(client.get("/api/v1/action-items/", {"mine": "true"})) == [own["id"]]
    assert ids(client.get("/api/v1/action-items/", {"mine": "false"})) == everything
    assert ids(client.get("/api/v1/action-items/", {"owner": world.account_manager.pk})) == [
        item["id"]
    ]
    assert ids(client.get("/api/v1/action-items/", {"meeting": weekly.pk})) == [item["id"]]
    assert ids(client.get("/api/v1/action-items/", {"problem": problem.pk})) == [own["id"]]
    assert ids(client.get("/api/v1/action-items/", {"partnership": world.ours.pk})) == everything
    bad = client.get("/api/v1/action-items/", {"status": "someday", "owner": "me"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"status", "owner"}

    url = f"/api/v1/action-items/{item['id']}/"
    # Neither owner, creator nor admin.
    api(client, ems_engineer)
    assert patch(client, url, {"status": "done"}).status_code == 403
    api(client, world.account_manager)
    assert ids(client.get("/api/v1/action-items/", {"mine": "true"})) == [item["id"]]
    bad = patch(client, url, {"status": "finished"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"status"}
    response = patch(client, url, {"status": "done"})
    assert response.status_code == 200 and response.json()["status"] == "done"
    assert ids(client.get("/api/v1/action-items/", {"status": "done"})) == [item["id"]]
    assert ids(client.get("/api/v1/action-items/", {"status": "open"})) == [own["id"]]
    assert put(client, url, {"status": "open"}).status_code == 405
    assert client.delete(url).status_code == 405
    assert ActionItem.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"owner": "outsider"}, {"owner"}),
        ({"owner": "unknown"}, {"owner"}),
        ({"owner": "second"}, {"owner"}),  # in scope, not a member of this partnership
        ({"meeting": "theirs"}, {"meeting"}),
        ({"meeting": "unknown"}, {"meeting"}),
        ({"meeting": "second"}, {"meeting"}),
        ({"problem": "theirs"}, {"problem"}),
        ({"partnership": "theirs"}, {"partnership"}),
        ({"due_date": "soon"}, {"due_date"}),
        ({"title": ""}, {"title"}),
    ],
)
def test_bad_action_items_give_field_errors_and_save_nothing(
    world, client, theirs, second, data, fields
):
    other_partnership, other_member = second
    their_meeting, their_problem = theirs[0], theirs[1]
    start = dt.datetime(2030, 3, 1, 9, 0, tzinfo=dt.UTC)
    other_meeting = services.schedule_meeting(
        by=world.buyer,
        partnership=other_partnership,
        title="Other",
        start=start,
        end=start + timedelta(hours=1),
        time_zone="UTC",
    )
    values = {
        "owner": {"outsider": world.outsider.pk, "unknown": 99999999, "second": other_member.pk},
        "meeting": {"theirs": their_meeting.pk, "unknown": 99999999, "second": other_meeting.pk},
        "problem": {"theirs": their_problem.pk},
        "partnership": {"theirs": world.theirs.pk},
    }
    body = {
        "partnership": world.ours.pk,
        "title": "Send samples",
        "due_date": str(today() + timedelta(days=3)),
    }
    body.update({k: values.get(k, {}).get(v, v) for k, v in data.items()})
    api(client, world.buyer)
    before = ActionItem.objects.count()
    response = post(client, "/api/v1/action-items/", body)
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields
    assert ActionItem.objects.count() == before


def test_foreign_meeting_or_owner_in_an_action_is_indistinguishable_from_unknown(
    world, client, theirs
):
    api(client, world.buyer)
    due = str(today() + timedelta(days=3))

    def add(**data):
        body = {"partnership": world.ours.pk, "title": "x", "due_date": due, **data}
        return post(client, "/api/v1/action-items/", body).json()

    assert add(meeting=theirs[0].pk) == add(meeting=99999999)
    assert add(problem=theirs[1].pk) == add(problem=99999999)
    assert add(owner=theirs[4].pk) == add(owner=99999999)


def test_action_items_are_scoped(world, client, action, theirs):
    their_action = theirs[2]
    api(client, world.buyer)
    assert ids(client.get("/api/v1/action-items/")) == [action.pk]
    assert ids(client.get("/api/v1/action-items/", {"partnership": world.theirs.pk})) == []
    assert ids(client.get("/api/v1/action-items/", {"meeting": theirs[0].pk})) == []
    response = client.get(f"/api/v1/action-items/{their_action.pk}/")
    assert response.status_code == 404 and response.json() == NOT_FOUND

    api(client, world.outsider)
    assert ids(client.get("/api/v1/action-items/")) == [their_action.pk]
    url = f"/api/v1/action-items/{action.pk}/"
    assert client.get(url).json() == NOT_FOUND
    response = patch(client, url, {"status": "cancelled"})
    assert response.status_code == 404 and response.json() == NOT_FOUND
    action.refresh_from_db()
    assert action.status == "open"


# --- Problems -------------------------------------------------------------------------------


def test_problem_goes_open_investigating_resolved_closed_and_is_never_deleted(world, client):
    api(client, world.account_manager)
    response = post(
        client,
        "/api/v1/problems/",
        {
            "partnership": world.ours.pk,
            "title": "Solder voids on U7",
            "description": "X-ray shows voids above 25 % on the QFN.",
            "severity": "high",
            "owner": world.buyer.pk,
        },
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["number"], created["reference"], created["status"]) == (1, "P-0001", "open")
    assert created["owner"] == world.buyer.pk
    assert created["raised_by"]["id"] == world.account_manager.pk
    url = f"/api/v1/problems/{created['id']}"

    def status(to, resolution=None):
        data = {"status": to} if resolution is None else {"status": to, "resolution": resolution}
        return post(client, f"{url}/status/", data)

    assert status("investigating").json()["status"] == "investigating"
    no_resolution = status("resolved")
    assert no_resolution.status_code == 400
    assert set(no_resolution.json()["errors"]) == {"resolution"}
    assert Problem.objects.get().status == "investigating"
    resolved = status("resolved", "New stencil with window-pane apertures.")
    assert resolved.status_code == 200, resolved.content
    assert resolved.json()["resolution"] == "New stencil with window-pane apertures."
    api(client, world.buyer)
    closed = status("closed")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    reopened = status("open")
    assert reopened.status_code == 400 and set(reopened.json()["errors"]) == {"status"}
    unknown = status("solved")
    assert unknown.status_code == 400 and set(unknown.json()["errors"]) == {"status"}

    comments = client.get(f"{url}/comments/").json()
    assert len(comments) == 3 and all(c["text"].startswith("Status:") for c in comments)
    closed_comment = post(client, f"{url}/comments/", {"text": "One more thing"})
    assert closed_comment.status_code == 400

    assert client.delete(f"{url}/").status_code == 405
    assert patch(client, f"{url}/", {"title": "x"}).status_code == 405
    assert put(client, f"{url}/", {"title": "x"}).status_code == 405
    assert Problem.objects.get().status == "closed"


def test_problem_comments_resolve_mentions(world, client, problem, ems_engineer):
    api(client, world.buyer)
    url = f"/api/v1/problems/{problem.pk}/comments/"
    response = post(client, url, {"text": "@am and @engineer@ems.example, please send the X-rays"})
    assert response.status_code == 201, response.content
    comment = response.json()
    assert comment["author"]["id"] == world.buyer.pk and comment["problem"] == problem.pk
    assert sorted(m["id"] for m in comment["mentions"]) == sorted(
        [world.account_manager.pk, ems_engineer.pk]
    )
    # Nobody outside the partnership can be mentioned.
    outsider = post(client, url, {"text": "@admin@foreign.example have a look"}).json()
    assert outsider["mentions"] == []
    blank = post(client, url, {"text": "   "})
    assert blank.status_code == 400 and set(blank.json()["errors"]) == {"text"}
    listed = client.get(url).json()
    assert [c["id"] for c in listed] == [comment["id"], outsider["id"]]


def test_problem_links_must_be_of_the_same_partnership_and_in_scope(world, client, theirs, second):
    other_partnership, _other_member = second
    product = schedule_services.save_product(
        by=world.buyer, partnership=world.ours, part_number="MB-200", revision="C", name="Board"
    )
    monday = today() - timedelta(days=today().weekday())
    run = schedule_services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=500,
        planned_launch=monday + timedelta(weeks=6),
        due_date=monday + timedelta(weeks=8),
    )
    their_product = schedule_services.save_product(
        by=world.outsider, partnership=world.theirs, part_number="FX-1", revision="A", name="F"
    )
    other_product = schedule_services.save_product(
        by=world.buyer, partnership=other_partnership, part_number="OT-1", revision="A", name="O"
    )
    api(client, world.buyer)

    def raise_(**links):
        return post(
            client,
            "/api/v1/problems/",
            {
                "partnership": world.ours.pk,
                "title": "Voids",
                "description": "X-ray",
                "severity": "medium",
                **links,
            },
        )

    foreign = raise_(product=their_product.pk)
    unknown = raise_(product=99999999)
    assert foreign.status_code == 400 and set(foreign.json()["errors"]) == {"product"}
    assert foreign.json() == unknown.json()
    elsewhere = raise_(product=other_product.pk)
    assert elsewhere.status_code == 400 and set(elsewhere.json()["errors"]) == {"product"}
    for field in ("production_run", "audit", "decision_request"):
        for value in (99999999, "abc"):
            response = raise_(**{field: value})
            assert response.status_code == 400 and set(response.json()["errors"]) == {field}
    owner = raise_(owner=world.outsider.pk)
    assert owner.status_code == 400 and set(owner.json()["errors"]) == {"owner"}
    assert not Problem.objects.filter(partnership=world.ours).exists()

    linked = raise_(product=product.pk, production_run=run.pk, audit=None)
    assert linked.status_code == 201, linked.content
    body = linked.json()
    assert (body["product"], body["production_run"], body["audit"]) == (product.pk, run.pk, None)
    assert body["owner"] == world.buyer.pk  # left out: the one who raised it


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"severity": "catastrophic"}, {"severity"}),
        ({"severity": None}, {"severity"}),
        ({"title": ""}, {"title"}),
        ({"description": ""}, {"description"}),
        ({"partnership": "theirs"}, {"partnership"}),
        ({"partnership": "abc", "severity": "meh"}, {"partnership", "severity"}),
    ],
)
def test_bad_problems_give_field_errors_and_save_nothing(world, client, data, fields):
    body = {
        "partnership": world.ours.pk,
        "title": "Voids",
        "description": "X-ray",
        "severity": "high",
    }
    body.update({k: world.theirs.pk if v == "theirs" else v for k, v in data.items()})
    api(client, world.account_manager)
    response = post(client, "/api/v1/problems/", body)
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields
    assert not Problem.objects.exists()


def test_problems_are_scoped_and_filtered(world, client, problem, theirs):
    their_problem = theirs[1]
    low = services.raise_problem(
        by=world.buyer,
        partnership=world.ours,
        title="Label misprint",
        description="Date code unreadable",
        severity="low",
    )
    services.change_problem_status(by=world.buyer, problem=low, status="investigating")
    api(client, world.buyer)
    both = sorted([problem.pk, low.pk])
    assert ids(client.get("/api/v1/problems/")) == both
    assert ids(client.get("/api/v1/problems/", {"partnership": world.theirs.pk})) == []
    assert ids(client.get("/api/v1/problems/", {"status": "investigating"})) == [low.pk]
    assert ids(client.get("/api/v1/problems/", {"severity": "high"})) == [problem.pk]
    assert ids(client.get("/api/v1/problems/", {"q": "VOIDS"})) == [problem.pk]
    assert ids(client.get("/api/v1/problems/", {"q": "date code"})) == [low.pk]
    assert ids(client.get("/api/v1/problems/", {"q": "Secret"})) == []
    bad = client.get("/api/v1/problems/", {"severity": "huge", "status": "gone"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"severity", "status"}

    api(client, world.outsider)
    assert ids(client.get("/api/v1/problems/")) == [their_problem.pk]
    assert ids(client.get("/api/v1/problems/", {"q": "voids"})) == []
    url = f"/api/v1/problems/{problem.pk}"
    for response in (
        client.get(f"{url}/"),
        client.get(f"{url}/comments/"),
        post(client, f"{url}/comments/", {"text": "Hello"}),
        post(client, f"{url}/status/", {"status": "investigating"}),
    ):
        assert response.status_code == 404 and response.json() == NOT_FOUND
    problem.refresh_from_db()
    assert problem.status == "open" and not problem.comments.exists()


# --- Goals ----------------------------------------------------------------------------------


def test_goals_are_set_changed_and_measured(world, client):
    api(client, world.account_manager)
    due = str(today() + timedelta(days=365))
    response = post(
        client,
        "/api/v1/goals/",
        {
            "partnership": world.ours.pk,
            "horizon": "long",
            "title": "PPM below 50",
            "metric": "PPM",
            "baseline": "480",
            "target": "50",
            "due_date": due,
        },
    )
    assert response.status_code == 201, response.content
    goal = response.json()
    assert (goal["owner"], goal["current"], goal["progress_pct"]) == (
        world.account_manager.pk,
        None,
        None,
    )
    url = f"/api/v1/goals/{goal['id']}/"
    response = patch(client, url, {"current": "265", "owner": world.buyer.pk})
    assert response.status_code == 200, response.content
    assert (response.json()["current"], response.json()["progress_pct"]) == ("265.00", 50)
    assert response.json()["owner"] == world.buyer.pk
    assert response.json()["partnership"] == world.ours.pk

    yesterday = str(today() - timedelta(days=1))
    response = post(client, f"{url}measurements/", {"date": yesterday, "value": "300"})
    assert response.status_code == 201, response.content
    response = post(client, f"{url}measurements/", {"value": "220.5"})
    assert response.status_code == 201 and response.json()["date"] == str(today())
    measurements = client.get(f"{url}measurements/").json()
    assert [(m["date"], m["value"]) for m in measurements] == [
        (yesterday, "300.00"),
        (str(today()), "220.50"),
    ]
    assert client.get(url).json()["current"] == "220.50"
    bad = post(client, f"{url}measurements/", {"value": "lots"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"value"}
    assert client.delete(url).status_code == 405
    assert put(client, url, {"title": "x"}).status_code == 405
    assert Goal.objects.count() == 1 and GoalMeasurement.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"baseline": "lots"}, {"baseline"}),
        ({"target": "1e20"}, {"target"}),
        ({"horizon": "forever"}, {"horizon"}),
        ({"due_date": "next year"}, {"due_date"}),
        ({"owner": "outsider"}, {"owner"}),
        ({"owner": "second"}, {"owner"}),
        ({"partnership": "theirs"}, {"partnership"}),
        ({"title": ""}, {"title"}),
    ],
)
def test_bad_goals_give_field_errors_and_save_nothing(world, client, second, data, fields):
    people = {"outsider": world.outsider.pk, "second": second[1].pk, "theirs": world.theirs.pk}
    body = {
        "partnership": world.ours.pk,
        "horizon": "short",
        "title": "OTD",
        "metric": "OTD",
        "baseline": "80",
        "target": "95",
        "due_date": str(today() + timedelta(days=90)),
    }
    body.update({k: people.get(v, v) for k, v in data.items()})
    api(client, world.buyer)
    response = post(client, "/api/v1/goals/", body)
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields
    assert not Goal.objects.exists()


def test_goals_are_scoped(world, client, goal, theirs):
    their_goal = theirs[3]
    api(client, world.buyer)
    assert ids(client.get("/api/v1/goals/")) == [goal.pk]
    assert ids(client.get("/api/v1/goals/", {"partnership": world.theirs.pk})) == []
    assert ids(client.get("/api/v1/goals/", {"horizon": "long"})) == []
    assert ids(client.get("/api/v1/goals/", {"owner": world.account_manager.pk})) == [goal.pk]
    assert client.get(f"/api/v1/goals/{their_goal.pk}/").status_code == 404
    assert client.get(f"/api/v1/goals/{their_goal.pk}/measurements/").status_code == 404
    response = patch(client, f"/api/v1/goals/{goal.pk}/", {"owner": world.outsider.pk})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"owner"}

    api(client, world.outsider)
    assert ids(client.get("/api/v1/goals/")) == [their_goal.pk]
    url = f"/api/v1/goals/{goal.pk}/"
    for response in (
        client.get(url),
        client.get(f"{url}measurements/"),
        patch(client, url, {"target": "1"}),
        post(client, f"{url}measurements/", {"value": "1"}),
    ):
        assert response.status_code == 404 and response.json() == NOT_FOUND
    goal.refresh_from_db()
    assert goal.target == 96 and goal.owner == world.account_manager
    assert not GoalMeasurement.objects.filter(goal=goal).exists()


# --- Across the endpoints -------------------------------------------------------------------


def test_updated_since_follows_changes(world, client, weekly, problem, action, goal):
    api(client, world.buyer)
    earlier = (timezone.now() - timedelta(minutes=5)).isoformat()
    later = (timezone.now() + timedelta(minutes=5)).isoformat()
    for url, pk in (
        ("/api/v1/meetings/", weekly.pk),
        ("/api/v1/problems/", problem.pk),
        ("/api/v1/action-items/", action.pk),
        ("/api/v1/goals/", goal.pk),
    ):
        assert ids(client.get(url, {"updated_since": earlier})) == [pk], url
        assert ids(client.get(url, {"updated_since": later})) == [], url
        bad = client.get(url, {"updated_since": "last week"})
        assert bad.status_code == 400 and set(bad.json()["errors"]) == {"updated_since"}, url

    checkpoint = timezone.now().isoformat()
    for url in (
        "/api/v1/meetings/",
        "/api/v1/problems/",
        "/api/v1/action-items/",
        "/api/v1/goals/",
    ):
        assert ids(client.get(url, {"updated_since": checkpoint})) == [], url
    post(
        client,
        f"/api/v1/meetings/{weekly.pk}/cancel-occurrence/",
        {"occurrence": weekly.start.isoformat()},
    )
    post(client, f"/api/v1/problems/{problem.pk}/comments/", {"text": "Any news?"})
    api(client, world.account_manager)
    patch(client, f"/api/v1/action-items/{action.pk}/", {"status": "done"})
    post(client, f"/api/v1/goals/{goal.pk}/measurements/", {"value": "91"})
    for url, pk in (
        ("/api/v1/meetings/", weekly.pk),
        ("/api/v1/problems/", problem.pk),
        ("/api/v1/action-items/", action.pk),
        ("/api/v1/goals/", goal.pk),
    ):
        assert ids(client.get(url, {"updated_since": checkpoint})) == [pk], url


def test_unauthenticated_requests_get_401(world, client, weekly, problem):
    for url in (
        "/api/v1/meetings/",
        f"/api/v1/meetings/{weekly.pk}/",
        f"/api/v1/meetings/{weekly.pk}/ics/",
        f"/api/v1/meetings/{weekly.pk}/occurrences/",
        "/api/v1/action-items/",
        "/api/v1/problems/",
        f"/api/v1/problems/{problem.pk}/comments/",
        "/api/v1/goals/",
    ):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json()["code"] == "not_authenticated"
    assert post(client, "/api/v1/meetings/", meeting_body(world)).status_code == 401
    assert Meeting.objects.count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/meetings/abc/",
        "/api/v1/meetings/99999999999999999999/",
        "/api/v1/meetings/1.5/ics/",
        "/api/v1/action-items/-1/",
        "/api/v1/problems/abc/comments/",
        "/api/v1/goals/99999999999999999999/measurements/",
    ],
)
def test_malformed_ids_answer_404(world, client, url):
    api(client, world.buyer)
    assert client.get(url).status_code == 404


def test_occurrence_window_and_limit(world, client, weekly):
    api(client, world.buyer)
    url = f"/api/v1/meetings/{weekly.pk}/occurrences/"
    third = weekly.start + timedelta(weeks=2)
    rows = client.get(
        url,
        {
            "from": (third - timedelta(minutes=1)).isoformat(),
            "to": (third + timedelta(weeks=2)).isoformat(),
        },
    ).json()
    assert [when(r["start"]) for r in rows] == [third, third + timedelta(weeks=1)]
    assert client.get(url, {"from": (weekly.start + timedelta(weeks=12)).isoformat()}).json() == []
    bad = client.get(url, {"limit": 0, "from": "whenever"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"limit", "from"}
    assert client.get(url, {"limit": 501}).status_code == 400


def test_lists_cost_a_fixed_number_of_queries(
    world, client, ems_engineer, django_assert_max_num_queries
):
    start = next_tuesday_at_nine()
    for n in range(6):
        meeting = services.schedule_meeting(
            by=world.buyer,
            partnership=world.ours,
            title=f"Call {n}",
            start=start + timedelta(days=n),
            end=start + timedelta(days=n, hours=1),
            time_zone="Europe/Berlin",
            attendees=[world.account_manager, ems_engineer],
        )
        services.add_action_item(
            by=world.buyer,
            partnership=world.ours,
            title=f"Action {n}",
            owner=world.account_manager,
            due_date=today(),
            meeting=meeting,
        )
        services.raise_problem(
            by=world.buyer, partnership=world.ours, title=f"P{n}", description="d", severity="low"
        )
        services.save_goal(
            by=world.buyer,
            partnership=world.ours,
            horizon="short",
            title=f"G{n}",
            metric="OTD",
            baseline=80,
            target=95,
            due_date=today(),
            owner=world.buyer,
        )
    api(client, world.buyer)
    for url in (
        "/api/v1/meetings/",
        "/api/v1/action-items/",
        "/api/v1/problems/",
        "/api/v1/goals/",
    ):
        with django_assert_max_num_queries(8):
            assert len(ids(client.get(url))) == 6, url
