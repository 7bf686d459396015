"""Pages: dashboard, organisation switcher, partnership editing and history, profile, errors."""

import datetime as dt

import pytest
from django.urls import reverse

from partnership.models import Membership, Partnership, Role
from tests.factories import EMSFactory, PartnershipFactory

pytestmark = pytest.mark.django_db


def test_dashboard_lists_partnerships_with_status_and_filters(world, client):
    PartnershipFactory(oem=world.oem, ems=EMSFactory(name="Vistula Electronics"), status="prospect")
    client.force_login(world.buyer)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Baltic Assembly" in page and "Vistula Electronics" in page and "Prospect" in page
    filtered = client.get(reverse("dashboard"), {"status": "prospect"}).content.decode()
    assert "Vistula Electronics" in filtered and "Baltic Assembly" not in filtered
    searched = client.get(reverse("dashboard"), {"q": "baltic"}).content.decode()
    assert "Baltic Assembly" in searched and "Vistula Electronics" not in searched


def test_dashboard_with_an_invalid_filter_does_not_fail(world, client):
    client.force_login(world.buyer)
    response = client.get(reverse("dashboard"), {"status": "nonsense", "sort": "nope"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_dashboard_query_count_does_not_grow_with_data(
    world, client, django_assert_max_num_queries
):
    client.force_login(world.buyer)
    with django_assert_max_num_queries(25) as small:
        client.get(reverse("dashboard"))
    for _ in range(25):
        PartnershipFactory(oem=world.oem)
    with django_assert_max_num_queries(25) as large:
        assert (
            client.get(reverse("dashboard"))
            .content.decode()
            .count('data-testid="partnership-card"')
            == 26
        )
    assert len(large.captured_queries) == len(small.captured_queries)


def test_detail_query_count_is_bounded(world, client, django_assert_max_num_queries):
    client.force_login(world.buyer)
    with django_assert_max_num_queries(12):
        client.get(world.ours.get_absolute_url())


def test_organisation_switcher_changes_the_dashboard_and_rejects_foreign_orgs(world, client):
    Membership.objects.create(user=world.buyer, organization=world.other_oem, role=Role.BUYER)
    client.force_login(world.buyer)
    page = client.get(reverse("dashboard")).content.decode()
    assert 'name="organization"' in page  # the switcher is shown to multi-organisation users
    client.post(reverse("switch_organization"), {"organization": world.other_oem.pk})
    page = client.get(reverse("dashboard")).content.decode()
    assert world.other_ems.name in page and world.ems.name not in page
    stranger = PartnershipFactory().oem
    assert (
        client.post(reverse("switch_organization"), {"organization": stranger.pk}).status_code
        == 404
    )
    assert client.post(reverse("switch_organization"), {"organization": "x"}).status_code == 404
    # An open redirect is not possible through "next".
    response = client.post(
        reverse("switch_organization"),
        {"organization": world.oem.pk, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("dashboard")


def test_admin_edits_the_partnership_and_both_sides_see_the_history(world, client):
    client.force_login(world.ems_admin)
    url = reverse("partnership_edit", args=[world.ours.pk])
    response = client.post(
        url,
        {
            "status": "suspended",
            "start_date": "2024-02-01",
            "description": "Boards",
            "oem_contact": world.buyer.pk,
            "ems_contact": world.account_manager.pk,
        },
    )
    assert response.status_code == 302
    world.ours.refresh_from_db()
    assert world.ours.status == "suspended" and world.ours.oem_contact == world.buyer
    client.force_login(world.buyer)
    history = client.get(reverse("partnership_history", args=[world.ours.pk])).content.decode()
    assert (
        "status" in history and "suspended" in history and world.ems_admin.email in history
    ) or str(world.ems_admin) in history


def test_partnership_edit_rejects_bad_input_with_field_errors(world, client):
    client.force_login(world.oem_admin)
    url = reverse("partnership_edit", args=[world.ours.pk])
    response = client.post(
        url, {"status": "bankrupt", "start_date": "31/31/2024", "ems_contact": world.buyer.pk}
    )
    assert response.status_code == 400
    assert {"status", "start_date", "ems_contact"} <= set(response.context["form"].errors)
    world.ours.refresh_from_db()
    assert world.ours.status == Partnership.Status.ACTIVE


@pytest.mark.parametrize("username", ["buyer", "oem_viewer", "account_manager"])
def test_only_admins_edit_the_partnership(world, client, username):
    client.force_login(getattr(world, username))
    assert client.get(reverse("partnership_edit", args=[world.ours.pk])).status_code == 403
    assert (
        client.post(
            reverse("partnership_edit", args=[world.ours.pk]), {"status": "ended"}
        ).status_code
        == 403
    )
    world.ours.refresh_from_db()
    assert world.ours.status == Partnership.Status.ACTIVE


def test_times_are_shown_in_the_users_time_zone_else_the_organisations(world, client):
    Partnership.objects.filter(pk=world.ours.pk).update(
        updated_at=dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    )
    client.force_login(world.buyer)  # no own zone: the OEM's Europe/Berlin (UTC+1 in January)
    assert "15 Jan 2026, 13:00" in client.get(world.ours.get_absolute_url()).content.decode()
    client.post(
        reverse("profile"),
        {"first_name": "A", "last_name": "B", "time_zone": "Asia/Tokyo", "language": ""},
    )
    assert "15 Jan 2026, 21:00" in client.get(world.ours.get_absolute_url()).content.decode()


def test_profile_rejects_an_unknown_time_zone(world, client):
    client.force_login(world.buyer)
    response = client.post(reverse("profile"), {"time_zone": "Mars/Olympus", "language": "xx"})
    assert response.status_code == 400
    assert {"time_zone", "language"} <= set(response.context["form"].errors)


def test_organisation_admin_edits_the_profile_with_validation(world, client):
    client.force_login(world.oem_admin)
    url = reverse("organization_edit", args=[world.oem.pk])
    response = client.post(url, {"name": "", "founded_year": "1492", "time_zone": "Europe/Berlin"})
    assert response.status_code == 400
    assert {"name", "founded_year"} <= set(response.context["form"].errors)
    response = client.post(
        url, {"name": "Nordwind Medical AG", "country": "de", "time_zone": "Europe/Berlin"}
    )
    assert response.status_code == 302
    world.oem.refresh_from_db()
    assert world.oem.name == "Nordwind Medical AG" and world.oem.country == "DE"
    client.force_login(world.buyer)
    assert client.get(url).status_code == 403


def test_friendly_error_pages_without_debug(world, client, settings):
    settings.DEBUG = False
    client.force_login(world.buyer)
    response = client.get("/partnerships/999999/")
    assert response.status_code == 404
    assert "belongs to a partnership you are not part of" in response.content.decode()


def test_notifications_page_shows_own_unread_and_marks_them_read(world, client):
    from partnership.models import Notification
    from partnership.notifications import notify

    notify([world.buyer], partnership=world.ours, subject="DR-0001 needs your approval", url="/x/")
    notify([world.outsider], partnership=world.theirs, subject="Foreign secret")
    client.force_login(world.buyer)
    assert 'data-testid="unread-count">1<' in client.get(reverse("dashboard")).content.decode()
    page = client.get(reverse("notifications")).content.decode()
    assert "DR-0001 needs your approval" in page and "Foreign secret" not in page
    assert not Notification.objects.filter(user=world.buyer, read_at__isnull=True).exists()
    assert "unread-count" not in client.get(reverse("dashboard")).content.decode()


def test_role_dashboards_show_what_needs_attention(world, client):
    from contracts import services as contract_services

    draft = contract_services.create_draft(by=world.buyer, partnership=world.ours)
    contract_services.update_terms(
        by=world.buyer, contract=draft, effective_from=dt.date(2026, 1, 1)
    )
    contract_services.propose(by=world.buyer, contract=draft)
    contract_services.sign(by=world.buyer, contract=draft)
    contract_services.sign(by=world.account_manager, contract=draft)
    contract_services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        title="Alternate capacitor",
        category="deviation",
    )
    client.force_login(world.buyer)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Decisions awaiting you" in page and "Alternate capacitor" in page
    client.force_login(world.account_manager)
    page = client.get(reverse("dashboard")).content.decode()
    assert (
        "Requests you raised" in page
        and "Alternate capacitor" in page
        and "Capacity vs demand" in page
    )
    client.force_login(world.outsider)
    assert "Alternate capacitor" not in client.get(reverse("dashboard")).content.decode()
