"""Organisation management: invitations by e-mail (real SMTP), roles, removal."""

import re

import pytest
from django.urls import reverse

from partnership.models import Invitation, Membership, Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _link(body):
    return re.search(r"https?://\S+/invitations/\S+/", body).group(0)


@pytest.mark.django_db(transaction=True)  # the e-mail leaves on commit, as in production
def test_admin_invites_a_colleague_who_signs_up_and_joins(world, client, smtp_sink, settings):
    settings.SITE_URL = "http://testserver"
    client.force_login(world.oem_admin)
    response = client.post(
        reverse("invite_member", args=[world.oem.pk]),
        {"email": "New.Colleague@OEM.example", "role": "quality"},
    )
    assert response.status_code == 302
    assert len(smtp_sink.messages) == 1
    message = smtp_sink.messages[0]
    assert message["To"] == "new.colleague@oem.example"
    assert world.oem.name in message["Subject"]
    link = _link(smtp_sink.bodies()[0])

    # The invitee has no account yet: the page offers sign-up with the address filled in.
    client.logout()
    path = link.replace("http://testserver", "")
    page = client.get(path)
    assert page.status_code == 200 and "Create account" in page.content.decode()

    invitee = UserFactory(email="new.colleague@oem.example")
    client.force_login(invitee)
    response = client.post(path)
    assert response.status_code == 302
    membership = Membership.objects.get(user=invitee)
    assert membership.organization == world.oem and membership.role == Role.QUALITY
    # Single use.
    assert client.post(path).status_code == 410
    assert Membership.objects.filter(user=invitee).count() == 1


def test_invitation_for_another_address_is_refused(world, client):
    invitation = Invitation.objects.create(
        organization=world.oem, email="someone@oem.example", role=Role.BUYER
    )
    client.force_login(world.account_manager)
    response = client.post(invitation.get_absolute_url(), follow=True)
    assert "someone@oem.example" in response.content.decode()
    assert not Membership.objects.filter(
        user=world.account_manager, organization=world.oem
    ).exists()


def test_expired_or_revoked_invitation_answers_410(world, client):
    from datetime import timedelta

    from django.utils import timezone

    expired = Invitation.objects.create(
        organization=world.oem,
        email="late@oem.example",
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert client.get(expired.get_absolute_url()).status_code == 410


@pytest.mark.parametrize("username", ["buyer", "oem_viewer", "account_manager"])
def test_only_an_admin_of_that_organisation_can_invite(world, client, username):
    client.force_login(getattr(world, username))
    response = client.post(
        reverse("invite_member", args=[world.oem.pk]), {"email": "x@oem.example", "role": "buyer"}
    )
    # Members who are not admins: 403; members of another organisation: 404.
    assert response.status_code == (404 if username == "account_manager" else 403)
    assert not Invitation.objects.exists()


def test_invite_with_bad_input_shows_field_errors_and_sends_nothing(world, client, smtp_sink):
    client.force_login(world.oem_admin)
    url = reverse("invite_member", args=[world.oem.pk])
    response = client.post(url, {"email": "not-an-address", "role": "emperor"})
    assert response.status_code == 400
    form = response.context["invite_form"]
    assert "email" in form.errors and "role" in form.errors
    response = client.post(url, {"email": world.buyer.email, "role": "buyer"})
    assert response.status_code == 400
    assert "already a member" in str(response.context["invite_form"].errors["email"])
    assert not Invitation.objects.exists() and not smtp_sink.messages


def test_admin_changes_a_role_but_the_last_admin_cannot_step_down(world, client):
    client.force_login(world.oem_admin)
    buyer_membership = Membership.objects.get(user=world.buyer)
    client.post(
        reverse("change_member_role", args=[world.oem.pk, buyer_membership.pk]), {"role": "viewer"}
    )
    buyer_membership.refresh_from_db()
    assert buyer_membership.role == Role.VIEWER

    own = Membership.objects.get(user=world.oem_admin)
    response = client.post(
        reverse("change_member_role", args=[world.oem.pk, own.pk]), {"role": "buyer"}, follow=True
    )
    own.refresh_from_db()
    assert own.role == Role.ADMIN
    assert "at least one admin" in response.content.decode()


def test_admin_removes_a_member_and_their_key_contact_role(world, client):
    world.ours.oem_contact = world.buyer
    world.ours.save()
    client.force_login(world.oem_admin)
    membership = Membership.objects.get(user=world.buyer)
    client.post(reverse("remove_member", args=[world.oem.pk, membership.pk]))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    world.ours.refresh_from_db()
    assert world.ours.oem_contact is None


def test_member_list_is_shown_to_members_only(world, client):
    client.force_login(world.account_manager)  # partner, not member, of the OEM
    page = client.get(reverse("organization_detail", args=[world.oem.pk])).content.decode()
    assert world.oem.name in page and world.buyer.email not in page.split("Members")[-1]
    client.force_login(world.buyer)
    page = client.get(reverse("organization_detail", args=[world.oem.pk])).content.decode()
    assert world.oem_viewer.email in page


def test_login_with_password_works_for_factory_users(world, client):
    response = client.post(
        reverse("account_login"), {"login": world.buyer.email, "password": PASSWORD}
    )
    assert response.status_code == 302


@pytest.mark.django_db(transaction=True)
def test_notifications_are_emailed_as_html_and_text_unless_muted(world, smtp_sink):
    from partnership.models import NotificationSettings
    from partnership.notifications import notify

    NotificationSettings.objects.create(user=world.oem_viewer, email_enabled=False)
    notify(
        [world.buyer, world.oem_viewer],
        partnership=world.ours,
        subject="Capacity critical",
        body="Week 5",
        url="/partnerships/1/capacity/",
    )
    assert [m["To"] for m in smtp_sink.messages] == [world.buyer.email]
    types = [p.get_content_type() for p in smtp_sink.messages[0].walk()]
    assert "text/plain" in types and "text/html" in types
    assert world.oem_viewer.notifications.count() == 1  # still told in the app
