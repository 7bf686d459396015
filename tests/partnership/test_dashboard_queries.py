"""The dashboard reads the organisation's partnerships once (issue #9) and lists each meeting
once however many of its attendees there are."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from comms.models import Meeting
from tests.factories import PartnershipFactory


def meeting(world, title, organiser, attendees=(), partnership=None):
    start = timezone.now() + dt.timedelta(days=2)
    m = Meeting.objects.create(
        partnership=partnership or world.ours,
        title=title,
        start=start,
        end=start + dt.timedelta(hours=1),
        time_zone="UTC",
        organiser=organiser,
    )
    m.attendees.set(attendees)
    return m


# Two of these are the partnership list's own (count and page; it filters, sorts and pages).
@pytest.mark.parametrize(("user", "queries"), [("buyer", 16), ("account_manager", 15)])
def test_dashboard_queries_are_fixed(world, client, user, queries, django_assert_num_queries):
    side = {"buyer": "oem", "account_manager": "ems"}[user]
    user = getattr(world, user)
    client.force_login(user)
    client.get(reverse("dashboard"))
    with django_assert_num_queries(queries):
        client.get(reverse("dashboard"))
    for i in range(5):
        PartnershipFactory(**{side: getattr(world, side)})
        meeting(world, f"Review {i}", world.buyer, [world.buyer, world.account_manager])
    with django_assert_num_queries(queries):
        page = client.get(reverse("dashboard")).content.decode()
    assert page.count('data-testid="partnership-card"') == 6


def test_meetings_tile_lists_each_meeting_once(world, client):
    everyone = [world.buyer, world.oem_admin, world.account_manager, world.ems_admin]
    meeting(world, "Quarterly business review", world.buyer, everyone)
    meeting(world, "Line walk", world.account_manager, [world.buyer])
    meeting(world, "EMS internal", world.account_manager, [world.ems_admin])
    meeting(world, "Their meeting", world.outsider, [], partnership=world.theirs)
    client.force_login(world.buyer)
    page = client.get(reverse("dashboard")).content.decode()
    assert page.count("Quarterly business review") == 1
    assert "Line walk" in page
    assert "EMS internal" not in page and "Their meeting" not in page
