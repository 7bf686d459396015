"""Tenant isolation: a user sees only partnerships their organisations are party to."""

import pytest
from django.urls import reverse

from partnership.models import Organization, Partnership
from tests.factories import PartnershipFactory

pytestmark = pytest.mark.django_db


def test_for_user_returns_only_partnerships_of_the_users_organisations(world):
    assert list(Partnership.objects.for_user(world.buyer)) == [world.ours]
    assert list(Partnership.objects.for_user(world.account_manager)) == [world.ours]
    assert list(Partnership.objects.for_user(world.outsider)) == [world.theirs]


def test_for_user_is_empty_for_anonymous_and_users_without_membership(world, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    lonely = django_user_model.objects.create_user("lonely@example.com", "x")
    assert not Partnership.objects.for_user(AnonymousUser()).exists()
    assert not Partnership.objects.for_user(lonely).exists()


def test_for_user_can_narrow_to_one_of_several_organisations(world):
    from partnership.models import Membership, Role

    Membership.objects.create(user=world.buyer, organization=world.other_oem, role=Role.BUYER)
    assert set(Partnership.objects.for_user(world.buyer)) == {world.ours, world.theirs}
    assert list(Partnership.objects.for_user(world.buyer, organization=world.oem)) == [world.ours]


def test_organisations_visible_are_own_and_partners_only(world):
    third = PartnershipFactory()  # unrelated pair
    visible = set(Organization.objects.for_user(world.buyer))
    assert visible == {world.oem, world.ems}
    assert third.oem not in visible


def foreign_urls(w):
    """Every page that takes an id, pointed at the other partnership's objects."""
    p, org = w.theirs, w.other_oem
    membership = org.memberships.first()
    return [
        ("get", reverse("partnership_detail", args=[p.pk])),
        ("get", reverse("partnership_edit", args=[p.pk])),
        ("post", reverse("partnership_edit", args=[p.pk])),
        ("get", reverse("partnership_history", args=[p.pk])),
        ("get", reverse("organization_detail", args=[org.pk])),
        ("get", reverse("organization_edit", args=[org.pk])),
        ("post", reverse("invite_member", args=[org.pk])),
        ("post", reverse("change_member_role", args=[org.pk, membership.pk])),
        ("post", reverse("remove_member", args=[org.pk, membership.pk])),
        ("get", reverse("partnership-detail", args=[p.pk])),
        ("get", reverse("organization-detail", args=[org.pk])),
    ]


@pytest.mark.parametrize(
    "username", ["buyer", "oem_admin", "oem_viewer", "account_manager", "ems_admin"]
)
def test_every_page_answers_404_for_a_foreign_partnership(world, login, username):
    client = login(getattr(world, username))
    for method, url in foreign_urls(world):
        response = getattr(client, method)(url, {"role": "admin", "email": "x@example.com"})
        assert response.status_code == 404, (method, url, response.status_code)
    world.other_oem.refresh_from_db()
    assert world.other_oem.memberships.count() == 1  # nothing changed


def test_a_foreign_object_is_not_leaked_in_lists(world, login):
    client = login(world.buyer)
    page = client.get(reverse("dashboard")).content.decode()
    assert world.ems.name in page
    assert world.other_ems.name not in page and world.other_oem.name not in page
    api = client.get("/api/v1/partnerships/").json()
    assert [row["id"] for row in api["results"]] == [world.ours.pk]
    orgs = client.get("/api/v1/organizations/").json()
    assert {row["name"] for row in orgs["results"]} == {world.oem.name, world.ems.name}


@pytest.mark.parametrize(
    "url",
    [
        "/partnerships/abc/",
        "/partnerships/99999999/",
        "/partnerships/-1/",
        "/organizations/0/",
        "/api/v1/partnerships/abc/",
        "/api/v1/partnerships/99999999999999999999/",
        "/api/v1/organizations/1%27%20OR%201=1/",
        "/invitations/not-a-token/",
    ],
)
def test_malformed_or_unknown_ids_answer_404_not_500(world, login, url):
    assert login(world.buyer).get(url).status_code == 404


def test_anonymous_users_are_sent_to_login(client, world):
    response = client.get(reverse("partnership_detail", args=[world.ours.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get("/api/v1/partnerships/").status_code in (401, 403)
