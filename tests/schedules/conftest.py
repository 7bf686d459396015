import datetime as dt

import pytest

from schedules import services
from schedules.services import monday


@pytest.fixture
def this_monday():
    return monday(dt.date.today())


@pytest.fixture
def product(world):
    return services.save_product(
        by=world.buyer,
        partnership=world.ours,
        part_number="MB-200",
        revision="C",
        name="Monitor main board",
        units_per_hour=40,
    )


@pytest.fixture
def planner(world):
    from partnership.models import Role
    from tests.factories import member

    return member(world.ems, Role.PLANNER, email="planner@ems.example")
