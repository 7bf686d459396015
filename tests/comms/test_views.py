"""Communication pages: isolation for every page, file and feed; forms; roles."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from icalendar import Calendar

from comms import services
from comms.models import ActionItem, CalendarFeed, Goal, Meeting, Problem
from partnership.models import Role
from tests.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def theirs(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    their_ems = member(world.other_ems, Role.ACCOUNT_MANAGER, email="am@elsewhere.example")
    start = dt.datetime(2030, 1, 8, 9, 0, tzinfo=dt.UTC)
    meeting = services.schedule_meeting(
        by=world.outsider,
        partnership=world.theirs,
        title="Secret meeting",
        start=start,
        end=start + dt.timedelta(hours=1),
        time_zone="UTC",
        attendees=[their_ems],
    )
    problem = services.raise_problem(
        by=their_ems,
        partnership=world.theirs,
        title="Secret problem",
        description="x",
        severity="high",
    )
    comment = services.comment_on_problem(
        by=their_ems,
        problem=problem,
        text="see file",
        attachment=SimpleUploadedFile("secret.txt", b"secret"),
    )
    goal = services.save_goal(
        by=world.outsider,
        partnership=world.theirs,
        horizon="short",
        title="Secret goal",
        metric="m",
        baseline=0,
        target=10,
        due_date=dt.date(2030, 1, 1),
        owner=world.outsider,
    )
    return meeting, problem, comment, goal


def test_every_comms_page_of_another_partnership_answers_404(world, client, theirs):
    meeting, problem, comment, goal = theirs
    for p in (world.theirs.pk, world.ours.pk):
        urls = [
            ("get", reverse("comms:meeting", args=[p, meeting.pk])),
            ("post", reverse("comms:meeting", args=[p, meeting.pk])),
            ("get", reverse("comms:meeting_ics", args=[p, meeting.pk])),
            ("get", reverse("comms:minutes_pdf", args=[p, meeting.pk])),
            ("get", reverse("comms:problem", args=[p, problem.pk])),
            ("post", reverse("comms:problem", args=[p, problem.pk])),
            ("get", reverse("comms:comment_file", args=[p, problem.pk, comment.pk])),
        ]
        if p == world.theirs.pk:
            urls += [
                (m, reverse(n, args=[p]))
                for n in ("comms:meetings", "comms:problems", "comms:goals", "comms:actions")
                for m in ("get", "post")
            ]
        for user in (world.buyer, world.account_manager, world.oem_viewer):
            client.force_login(user)
            for method, url in urls:
                response = getattr(client, method)(
                    url, {"what": "cancel", "title": "x", "goal": goal.pk}
                )
                assert response.status_code == 404, (user, method, url, response.status_code)
    assert Meeting.objects.get(pk=meeting.pk).status == "scheduled"
    client.force_login(world.buyer)
    assert "Secret" not in client.get(reverse("comms:my_actions")).content.decode()


def test_calendar_feed_lists_only_my_meetings_and_can_be_revoked(world, client, theirs, weekly):
    client.force_login(world.account_manager)
    client.post(reverse("calendar_settings"), {"what": "create-feed"})
    feed = CalendarFeed.objects.get(user=world.account_manager)
    client.logout()
    body = client.get(f"/calendar/{feed.token}.ics").content
    cal = Calendar.from_ical(body)
    titles = [str(e["SUMMARY"]) for e in cal.walk("VEVENT")]
    assert titles == ["Weekly operations call"]
    client.force_login(world.account_manager)
    client.post(reverse("calendar_settings"), {"what": "regenerate-feed"})
    assert client.get(f"/calendar/{feed.token}.ics").status_code == 404
    client.post(reverse("calendar_settings"), {"what": "revoke-feed"})
    assert not CalendarFeed.objects.exists()
    assert client.get("/calendar/not-a-token.ics").status_code == 404


def test_schedule_meeting_form_errors_and_success(world, client, ems_engineer):
    client.force_login(world.buyer)
    url = reverse("comms:meetings", args=[world.ours.pk])
    bad = client.post(
        url,
        {
            "title": "",
            "kind": "operations",
            "date": "2030-01-08",
            "start_time": "10:00",
            "end_time": "09:00",
            "time_zone": "Europe/Berlin",
            "repeat": "custom",
            "custom_rrule": "FREQ=HOURLY",
        },
    )
    assert bad.status_code == 400
    errors = bad.context["form"].errors
    assert "title" in errors and "end_time" in errors
    assert not Meeting.objects.exists()
    bad_rule = client.post(
        url,
        {
            "title": "Ops",
            "kind": "operations",
            "date": "2030-01-08",
            "start_time": "09:00",
            "end_time": "10:00",
            "time_zone": "Europe/Berlin",
            "repeat": "custom",
            "custom_rrule": "FREQ=HOURLY",
        },
    )
    assert bad_rule.status_code == 400
    assert "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY" in bad_rule.content.decode()
    ok = client.post(
        url,
        {
            "title": "Ops",
            "kind": "operations",
            "date": "2030-01-08",
            "start_time": "09:00",
            "end_time": "10:00",
            "time_zone": "Europe/Berlin",
            "repeat": "FREQ=WEEKLY",
            "occurrences": 4,
            "attendees": [world.account_manager.pk, ems_engineer.pk],
        },
    )
    meeting = Meeting.objects.get()
    assert ok["Location"] == meeting.get_absolute_url()
    assert meeting.rrule == "FREQ=WEEKLY;COUNT=4" and meeting.start == dt.datetime(
        2030, 1, 8, 8, 0, tzinfo=dt.UTC
    )
    page = client.get(meeting.get_absolute_url()).content.decode()
    assert "Next occurrences" in page


def test_minutes_actions_and_publish_through_the_page(world, client, weekly):
    client.force_login(world.buyer)
    url = weekly.get_absolute_url()
    assert "Write notes" in client.post(url, {"what": "publish"}, follow=True).content.decode()
    client.post(
        url, {"what": "minutes", "decisions": "Go with the new stencil", "notes": "All present"}
    )
    bad = client.post(
        url, {"what": "action", "title": "", "owner": world.outsider.pk, "due_date": "x"}
    )
    assert bad.status_code == 400 and {"title", "owner", "due_date"} <= set(
        bad.context["action_form"].errors
    )
    client.post(
        url,
        {
            "what": "action",
            "title": "Send trial results",
            "owner": world.account_manager.pk,
            "due_date": "2030-01-15",
        },
    )
    assert ActionItem.objects.filter(meeting=weekly, owner=world.account_manager).exists()
    client.post(url, {"what": "publish"})
    weekly.refresh_from_db()
    assert weekly.minutes.published_at is not None
    pdf = client.get(reverse("comms:minutes_pdf", args=[world.ours.pk, weekly.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    client.force_login(world.account_manager)
    mine = client.get(reverse("comms:my_actions")).content.decode()
    assert "Send trial results" in mine


def test_problem_raised_by_the_ems_is_discussed_and_resolved(world, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(world.account_manager)
    url = reverse("comms:problems", args=[world.ours.pk])
    bad = client.post(url, {"title": "", "severity": "apocalyptic", "description": ""})
    assert bad.status_code == 400 and {"title", "severity", "description"} <= set(
        bad.context["form"].errors
    )
    client.post(
        url, {"title": "Late ASN", "severity": "medium", "description": "Two shipments without ASN"}
    )
    problem = Problem.objects.get()
    assert problem.raised_by == world.account_manager and problem.number == 1
    client.force_login(world.buyer)
    client.post(
        problem.get_absolute_url(),
        {
            "what": "comment",
            "text": "@am@ems.example please check",
            "attachment": SimpleUploadedFile("log.txt", b"log"),
        },
    )
    assert problem.comments.get().mentions.get() == world.account_manager
    response = client.post(
        problem.get_absolute_url(), {"what": "status", "status": "resolved"}, follow=True
    )
    assert "Describe the resolution" in response.content.decode()
    client.post(
        problem.get_absolute_url(),
        {"what": "status", "status": "resolved", "resolution": "EDI fixed"},
    )
    client.post(problem.get_absolute_url(), {"what": "status", "status": "closed"})
    problem.refresh_from_db()
    assert problem.status == "closed" and problem.resolution == "EDI fixed"
    assert (
        client.post(
            problem.get_absolute_url(), {"what": "status", "status": "open"}, follow=True
        ).status_code
        == 200
    )
    assert Problem.objects.get().status == "closed"


def test_viewers_cannot_write(world, client, weekly):
    client.force_login(world.oem_viewer)
    assert (
        client.post(
            reverse("comms:problems", args=[world.ours.pk]),
            {"title": "x", "severity": "low", "description": "y"},
        ).status_code
        == 403
    )
    assert client.post(weekly.get_absolute_url(), {"what": "cancel"}).status_code == 403
    assert not Problem.objects.exists()
    weekly.refresh_from_db()
    assert weekly.status == "scheduled"


def test_goals_page_records_progress(world, client):
    client.force_login(world.buyer)
    url = reverse("comms:goals", args=[world.ours.pk])
    client.post(
        url,
        {
            "title": "OTD 97",
            "horizon": "short",
            "metric": "OTD",
            "unit": "%",
            "baseline": "90",
            "target": "97",
            "due_date": "2030-01-01",
            "owner": world.account_manager.pk,
        },
    )
    goal = Goal.objects.get()
    client.post(url, {"what": "measure", "goal": goal.pk, "value": "93.5"})
    assert (
        "Enter a number"
        in client.post(
            url, {"what": "measure", "goal": goal.pk, "value": "lots"}, follow=True
        ).content.decode()
    )
    goal.refresh_from_db()
    assert goal.current == 93.5 and goal.progress_pct == 50


def test_meeting_pages_have_bounded_queries(world, client, weekly, django_assert_max_num_queries):
    client.force_login(world.buyer)
    url = reverse("comms:meetings", args=[world.ours.pk])
    with django_assert_max_num_queries(30) as few:
        client.get(url)
    for n in range(5):
        start = dt.datetime(2030, 2, 1 + n, 9, tzinfo=dt.UTC)
        services.schedule_meeting(
            by=world.buyer,
            partnership=world.ours,
            title=f"M{n}",
            start=start,
            end=start + dt.timedelta(hours=1),
            time_zone="UTC",
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)


def test_done_buttons_share_one_form_and_keep_the_filters(world, client, weekly):
    import re

    item = ActionItem.objects.create(
        partnership=world.ours,
        meeting=weekly,
        title="Check the reflow profile",
        owner=world.account_manager,
        due_date=dt.date(2030, 1, 15),
    )
    client.force_login(world.account_manager)
    url = reverse("comms:actions", args=[world.ours.pk]) + "?q=reflow"
    html = client.get(url).content.decode()
    assert html.count('<form id="action-done" method="post">') == 1
    button = re.search(r'<button type="submit" form="action-done" name="item" value="(\d+)"', html)
    assert button and int(button.group(1)) == item.pk
    # What the browser sends for that button: the form's fields plus the button's value.
    response = client.post(url, {"status": "done", "item": item.pk})
    assert response.status_code == 302 and response["Location"].endswith("?q=reflow")
    item.refresh_from_db()
    assert item.status == "done"
    # Across partnerships (my actions), each row posts to its own partnership's list.
    mine = client.get(reverse("comms:my_actions") + "?status=").content.decode()
    assert 'form="action-done"' not in mine


def test_yes_no_filters_offer_any_yes_no(world, client):
    client.force_login(world.account_manager)
    html = client.get(reverse("comms:actions", args=[world.ours.pk])).content.decode()
    assert '<option value="" selected>Any</option>' in html and "Unknown" not in html
    world.account_manager.language = "pl"
    world.account_manager.save(update_fields=["language"])
    html = client.get(reverse("comms:actions", args=[world.ours.pk])).content.decode()
    assert '<option value="" selected>Wszystkie</option>' in html
    assert '<option value="true">Tak</option>' in html
