import datetime as dt

import pytest

from contracts import services
from partnership.models import Role
from tests.factories import member


@pytest.fixture
def draft(world):
    """A draft (version 1) drafted by the OEM buyer from the template, with an effective date."""
    contract = services.create_draft(by=world.buyer, partnership=world.ours)
    return services.update_terms(
        by=world.buyer, contract=contract, effective_from=dt.date(2026, 1, 1)
    )


@pytest.fixture
def active_contract(world, draft):
    """The template contract, proposed by the OEM and signed by both sides: routing is live."""
    services.propose(by=world.buyer, contract=draft)
    services.sign(by=world.buyer, contract=draft)
    services.sign(by=world.account_manager, contract=draft)
    draft.refresh_from_db()
    assert draft.status == draft.Status.ACTIVE
    return draft


@pytest.fixture
def oem_quality(world):
    return member(world.oem, Role.QUALITY, email="quality@oem.example")


@pytest.fixture
def ems_planner(world):
    return member(world.ems, Role.PLANNER, email="planner@ems.example")
