"""End-to-end in Chromium with real SMTP: an OEM buyer schedules a weekly teleconference with
two EMS attendees (both get a parseable .ics with the RRULE), publishes minutes with two action
items, and a problem raised by the EMS is discussed and resolved."""

import datetime as dt
import os

import pytest
from icalendar import Calendar
from playwright.sync_api import Browser, Page, expect

from comms.models import Meeting, Problem
from partnership.demo import DEMO_PASSWORD, load_demo_data
from partnership.models import Partnership
from tests.helpers import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    load_demo_data()
    return live_server


def session(browser: Browser, base: str, email: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(base + "/")
    return page


def test_teleconference_minutes_and_problem(demo, browser: Browser, output_path: str, smtp_sink):
    base = demo.url
    p = Partnership.objects.get(oem__slug="nordwind", ems__slug="vistula")
    oem = session(browser, base, "buyer@nordwind.example")
    oem.goto(base + f"/partnerships/{p.pk}/meetings/")
    oem.fill("input[name=title]", "Weekly NPI teleconference")
    oem.fill("input[name=date]", (dt.date.today() + dt.timedelta(days=7)).isoformat())
    oem.fill("input[name=start_time]", "09:00")
    oem.fill("input[name=end_time]", "09:45")
    oem.select_option("select[name=time_zone]", "Europe/Berlin")
    oem.select_option("select[name=repeat]", "FREQ=WEEKLY")
    oem.fill("input[name=occurrences]", "10")
    oem.fill("input[name=conference_url]", "https://meet.example.com/npi")
    oem.get_by_label("Magdalena Zielińska").check()
    oem.get_by_label("Paweł Szymański").check()
    oem.get_by_role("button", name="Schedule and invite").click()
    expect(oem.locator(".messages")).to_contain_text("Meeting scheduled")
    meeting = Meeting.objects.get(partnership=p)

    wait_for(lambda: len(smtp_sink.messages) >= 2, describe=lambda: str(len(smtp_sink.messages)))
    invites = {m["To"]: m for m in smtp_sink.messages if "Invitation" in m["Subject"]}
    assert set(invites) == {"account.manager@vistula.example", "planner@vistula.example"}
    for message in invites.values():
        ics = next(part for part in message.walk() if part.get_content_type() == "text/calendar")
        event = Calendar.from_ical(ics.get_payload(decode=True)).walk("VEVENT")[0]
        assert event["RRULE"]["FREQ"] == ["WEEKLY"] and event["RRULE"]["COUNT"] == [10]
        assert str(event["UID"]) == meeting.ical_uid

    # Minutes with two action items, published to the attendees.
    oem.fill("textarea[name=decisions]", "First articles of IO-12 by week 4.")
    oem.get_by_role("button", name="Save minutes").click()
    for title, owner in (
        ("Send DFM report", "Magdalena Zielińska"),
        ("Approve stencil data", "Anna Keller"),
    ):
        oem.fill("input[name=title]", title)
        oem.fill("input[name=owner]", owner)  # a search field: the name resolves
        oem.fill("input[name=due_date]", (dt.date.today() + dt.timedelta(days=10)).isoformat())
        oem.get_by_role("button", name="Add action").click()
    before = len(smtp_sink.messages)
    oem.get_by_role("button", name="Publish minutes to attendees").click()
    expect(oem.locator(".messages")).to_contain_text("Minutes sent")
    wait_for(lambda: sum("Minutes" in m["Subject"] for m in smtp_sink.messages[before:]) >= 3)
    os.makedirs(output_path, exist_ok=True)
    oem.screenshot(path=os.path.join(output_path, "meeting-minutes.png"), full_page=True)

    # The EMS raises a problem; the OEM comments; the EMS resolves and closes it.
    ems = session(browser, base, "account.manager@vistula.example")
    ems.goto(base + f"/partnerships/{p.pk}/problems/")
    ems.fill("input[name=title]", "Gerber paste layer missing for IO-12")
    ems.select_option("select[name=severity]", "high")
    ems.fill("textarea[name=description]", "Cannot order the stencil without the paste layer.")
    ems.get_by_role("button", name="Raise problem").click()
    problem = Problem.objects.get(partnership=p)
    oem.goto(base + problem.get_absolute_url())
    oem.fill("textarea[name=text]", "@Magdalena uploaded rev B with paste layers.")
    oem.get_by_role("button", name="Comment").click()
    ems.goto(base + problem.get_absolute_url())
    expect(ems.locator("#discussion")).to_contain_text("uploaded rev B")
    ems.fill("textarea[name=resolution]", "Stencil ordered from rev B data.")
    ems.get_by_role("button", name="Mark resolved").click()
    ems.get_by_role("button", name="Close").click()
    expect(ems.locator("[data-testid=problem-status]")).to_have_text("Closed")
    ems.screenshot(path=os.path.join(output_path, "problem-closed.png"), full_page=True)
    problem.refresh_from_db()
    assert (
        problem.status == "closed"
        and problem.comments.filter(mentions__email="account.manager@vistula.example").exists()
    )


def test_an_action_is_done_from_the_list_with_its_filters_kept(demo, browser: Browser):
    """The list's "Done" buttons share one form through their form attribute: Chromium
    submits the row's item with it, and comes back to the filtered list."""
    from comms.models import ActionItem

    base = demo.url
    item = ActionItem.objects.filter(status="open").select_related("owner").first()
    page = session(browser, base, item.owner.email)
    page.goto(base + f"/partnerships/{item.partnership_id}/actions/?q={item.title[:12]}")
    row = page.locator("tr", has_text=item.title)
    row.get_by_role("button", name="Done").click()
    expect(page.locator(".messages")).to_contain_text("Action updated")
    assert "?q=" in page.url  # back on the filtered list
    item.refresh_from_db()
    assert item.status == "done"
