import pytest
from icalendar import Calendar

from comms import ics
from comms.models import Reminder

pytestmark = pytest.mark.django_db


def test_weekly_meeting_plans_reminders_and_builds_an_invite(weekly):
    assert Reminder.objects.filter(meeting=weekly).count() > 0
    cal = Calendar.from_ical(ics.invitation(weekly))
    event = cal.walk("VEVENT")[0]
    assert event["RRULE"]["FREQ"] == ["WEEKLY"]
    assert any(c.name == "VTIMEZONE" for c in cal.walk())
