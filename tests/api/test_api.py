"""REST API: personal tokens, scoping, filtering, pagination, error bodies, schema and docs."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from partnership.models import ApiToken, Partnership
from tests.factories import PartnershipFactory, member

pytestmark = pytest.mark.django_db


def token_client(client, key):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
    return client


def test_token_is_shown_once_stored_hashed_and_authenticates(world, client):
    client.force_login(world.buyer)
    response = client.post(reverse("api_tokens"), {"name": "SAP sync", "expires_in_days": "30"})
    key = response.context["new_key"]
    assert key.startswith("pp_") and key in response.content.decode()
    token = ApiToken.objects.get(user=world.buyer)
    assert token.key_hash == ApiToken.hash_key(key) and key not in (
        token.key_hash,
        token.key_prefix,
    )
    assert key not in client.get(reverse("api_tokens")).content.decode()  # never again

    client.logout()
    api = token_client(client, key)
    body = api.get("/api/v1/partnerships/").json()
    assert [row["id"] for row in body["results"]] == [world.ours.pk]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_revoked_expired_and_unknown_tokens_are_refused(world, client):
    revoked, revoked_key = ApiToken.issue(world.buyer, "old")
    revoked.revoked_at = timezone.now()
    revoked.save()
    _expired, expired_key = ApiToken.issue(
        world.buyer, "late", expires_at=timezone.now() - timedelta(seconds=1)
    )
    for key in (revoked_key, expired_key, "pp_made-up"):
        response = token_client(client, key).get("/api/v1/partnerships/")
        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"


def test_user_revokes_a_token_in_the_ui_and_cannot_touch_anothers(world, client):
    token, key = ApiToken.issue(world.buyer, "ERP")
    other, _ = ApiToken.issue(world.account_manager, "MES")
    client.force_login(world.account_manager)
    assert client.post(reverse("revoke_api_token", args=[token.pk])).status_code == 404
    client.force_login(world.buyer)
    client.post(reverse("revoke_api_token", args=[token.pk]))
    token.refresh_from_db()
    other.refresh_from_db()
    assert token.revoked_at and not other.revoked_at
    client.logout()
    assert token_client(client, key).get("/api/v1/partnerships/").status_code == 401


def test_token_form_with_bad_input_shows_field_errors(world, client):
    client.force_login(world.buyer)
    response = client.post(reverse("api_tokens"), {"name": "", "expires_in_days": "7000"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name", "expires_in_days"}
    assert not ApiToken.objects.exists()


def test_partnership_detail_and_foreign_404_with_consistent_error_body(world, client):
    client.force_login(world.account_manager)
    body = client.get(f"/api/v1/partnerships/{world.ours.pk}/").json()
    assert body["oem"]["name"] == world.oem.name and body["ems"]["kind"] == "ems"
    response = client.get(f"/api/v1/partnerships/{world.theirs.pk}/")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "code": "not_found", "detail": "Not found."}


def test_filtering_search_ordering_and_pagination(world, client):
    for _ in range(3):
        PartnershipFactory(oem=world.oem, status=Partnership.Status.PROSPECT)
    client.force_login(world.buyer)
    prospects = client.get("/api/v1/partnerships/", {"status": "prospect"}).json()
    assert prospects["count"] == 3
    assert {row["status"] for row in prospects["results"]} == {"prospect"}
    found = client.get("/api/v1/partnerships/", {"search": world.ems.name}).json()
    assert [row["id"] for row in found["results"]] == [world.ours.pk]
    page = client.get("/api/v1/partnerships/", {"page_size": 2, "ordering": "-id"}).json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    ids = [row["id"] for row in page["results"]]
    assert ids == sorted(ids, reverse=True)
    # Filters can't be used to probe other partnerships.
    probe = client.get("/api/v1/partnerships/", {"oem": world.other_oem.pk}).json()
    assert probe["count"] == 0


def test_invalid_filter_values_give_field_errors_not_500(world, client):
    client.force_login(world.buyer)
    response = client.get("/api/v1/partnerships/", {"status": "bogus", "oem": "abc"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and set(body["errors"]) == {"status", "oem"}
    assert client.get("/api/v1/partnerships/", {"page": "999"}).status_code == 404


def test_read_only_endpoints_refuse_writes(world, client):
    client.force_login(world.oem_admin)
    response = client.delete(f"/api/v1/partnerships/{world.ours.pk}/")
    assert response.status_code == 405
    assert Partnership.objects.filter(pk=world.ours.pk).exists()


def test_schema_is_valid_openapi_and_docs_are_served_without_a_cdn(world, client):
    client.force_login(world.buyer)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/partnerships/{id}/" in schema["paths"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    for url in ("/api/docs/", "/api/redoc/"):
        html = client.get(url).content.decode()
        assert "/static/drf_spectacular_sidecar/" in html
        assert "cdn." not in html and "unpkg" not in html


def test_schema_generation_has_no_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_user_in_two_organisations_sees_both_via_api(world, client):
    extra = member(world.other_oem)  # a second membership for a fresh user
    from partnership.models import Membership, Role

    Membership.objects.create(user=extra, organization=world.oem, role=Role.BUYER)
    client.force_login(extra)
    ids = {row["id"] for row in client.get("/api/v1/partnerships/").json()["results"]}
    assert ids == {world.ours.pk, world.theirs.pk}


def test_viewers_are_refused_before_their_input_is_read(world, client):
    """A viewer's invalid body answers 403 (not a field error), a writer's answers 400."""
    from partnership.models import ApiToken

    _token, key = ApiToken.issue(world.oem_viewer, "viewer")
    response = client.post(
        "/api/v1/problems/", {}, content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}"
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "Viewers cannot change this."
    _token, key = ApiToken.issue(world.buyer, "buyer")
    response = client.post(
        "/api/v1/problems/", {}, content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}"
    )
    assert response.status_code == 400 and "partnership" in response.json()["errors"]
