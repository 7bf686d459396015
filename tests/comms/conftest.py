import datetime as dt
import zoneinfo

import pytest

from comms import services
from partnership.models import Role
from tests.factories import member

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@pytest.fixture
def ems_engineer(world):
    return member(world.ems, Role.QUALITY, email="engineer@ems.example", time_zone="Asia/Shanghai")


@pytest.fixture
def weekly(world, ems_engineer):
    """A weekly Tuesday 09:00 Europe/Berlin teleconference, 12 times, with two EMS attendees."""
    today = dt.date.today()
    tuesday = today + dt.timedelta(days=(1 - today.weekday()) % 7 or 7)
    start = dt.datetime.combine(tuesday, dt.time(9, 0), BERLIN)
    return services.schedule_meeting(
        by=world.buyer,
        partnership=world.ours,
        title="Weekly operations call",
        kind="operations",
        start=start,
        end=start + dt.timedelta(hours=1),
        time_zone="Europe/Berlin",
        rrule="FREQ=WEEKLY;COUNT=12",
        conference_url="https://meet.example.com/ops",
        attendees=[world.account_manager, ems_engineer],
    )
