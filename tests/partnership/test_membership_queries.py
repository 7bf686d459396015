"""Partnership pages take the user's membership from the memberships the middleware reads for
the navigation (issue #9): one membership query per page, the same side as before."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from partnership.models import Role
from tests.factories import MembershipFactory


@pytest.mark.parametrize(
    "url_name", ["schedules:capacity", "schedules:runs", "comms:problems", "audits:audits"]
)
def test_one_membership_query_per_partnership_page(world, client, url_name):
    client.force_login(world.account_manager)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(url_name, args=[world.ours.pk]))
    assert response.status_code == 200
    reads = [q["sql"] for q in queries.captured_queries]
    assert sum(s.startswith('SELECT "partnership_membership"."id"') for s in reads) == 1


def test_a_member_of_both_sides_acts_as_the_oem_as_before(world, client):
    MembershipFactory(user=world.account_manager, organization=world.oem, role=Role.VIEWER)
    client.force_login(world.account_manager)
    response = client.get(reverse("schedules:capacity", args=[world.ours.pk]))
    assert response.context["membership"] == world.ours.membership_of(world.account_manager)
    assert response.context["membership"].organization == world.oem
    assert (response.context["side"], response.context["rights"]) == ("oem", frozenset())
    client.force_login(world.outsider)
    assert client.get(reverse("schedules:capacity", args=[world.ours.pk])).status_code == 404
