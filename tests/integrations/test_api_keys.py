"""Organisation API keys: issued by admins, shown once, hashed; Bearer/X-Api-Key; scopes per
domain on top of the service user's role and the partnership scoping; expiry, revocation,
last use; per-key throttling with 429 + Retry-After; the admin page."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework import throttling as drf_throttling

from contracts.models import DecisionRequest
from integrations import services
from integrations.models import ApiKey
from integrations.permissions import domain_of
from partnership.models import Membership, Notification, Role, User
from tests.contracts import conftest as contract_fixtures

pytestmark = pytest.mark.django_db

draft = contract_fixtures.draft
active_contract = contract_fixtures.active_contract

SUBSTITUTION = {
    "title": "Replace C12 with a non-AVL capacitor",
    "category": "component_substitution",
    "description": "Murata part on allocation; TDK equivalent from a new distributor.",
    "outside_avl": True,
}


def issue(world, organization=None, *, role=Role.ACCOUNT_MANAGER, scopes=("*:read",), **kw):
    organization = organization or world.ems
    admin = {world.ems.pk: world.ems_admin, world.oem.pk: world.oem_admin}.get(
        organization.pk, world.outsider
    )
    return services.issue_api_key(
        by=admin, organization=organization, name="ERP sync", scopes=list(scopes), role=role, **kw
    )


def bearer(client, plaintext):
    client.defaults.pop("HTTP_X_API_KEY", None)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {plaintext}"
    return client


def raise_request(client, partnership):
    return client.post(
        "/api/v1/decision-requests/",
        {"partnership": partnership.pk, **SUBSTITUTION},
        content_type="application/json",
    )


# --- Issuing -------------------------------------------------------------------------------


def test_admin_creates_a_key_shown_once_and_stored_hashed(world, client):
    client.force_login(world.ems_admin)
    url = reverse("organization_api_keys", args=[world.ems.pk])
    response = client.post(
        url,
        {
            "name": "SAP sync",
            "role": Role.ACCOUNT_MANAGER,
            "scopes": ["contracts:write", "schedules:read"],
            "expires_in_days": "90",
        },
    )
    assert response.status_code == 200
    plaintext = response.context["new_key"]
    assert plaintext.startswith("ppk_") and plaintext in response.content.decode()

    key = ApiKey.objects.get(organization=world.ems)
    assert key.key_hash == ApiKey.hash_key(plaintext)
    assert plaintext not in (key.key_hash, key.key_prefix) and plaintext.startswith(key.key_prefix)
    assert key.scopes == ["contracts:write", "schedules:read"] and key.created_by == world.ems_admin
    assert timedelta(days=89) < key.expires_at - timezone.now() <= timedelta(days=90)

    service_user = key.acting_user
    assert service_user.is_active and not service_user.has_usable_password()
    assert service_user.email.endswith(f"@{world.ems.slug}.keys.invalid")
    assert service_user.first_name == "SAP sync"
    assert Membership.objects.get(user=service_user).role == Role.ACCOUNT_MANAGER
    assert not client.login(email=service_user.email, password="")

    page = client.get(url).content.decode()
    assert plaintext not in page  # never again
    assert key.key_prefix in page and "schedules:read" in page


def test_only_admins_issue_keys_and_never_admin_keys(world):
    with pytest.raises(PermissionDenied):
        services.issue_api_key(
            by=world.account_manager,
            organization=world.ems,
            name="x",
            scopes=["*:read"],
            role=Role.VIEWER,
        )
    with pytest.raises(PermissionDenied):  # an admin of another organisation
        services.issue_api_key(
            by=world.outsider, organization=world.ems, name="x", scopes=["*:read"], role="viewer"
        )
    with pytest.raises(ValidationError) as exc:
        issue(world, role=Role.ADMIN, scopes=["*:write", "nonsense:read", "contracts:delete"])
    assert set(exc.value.message_dict) == {"role", "scopes"}
    assert "contracts:delete" in str(exc.value.message_dict["scopes"])
    with pytest.raises(ValidationError) as exc:
        issue(world, scopes=[], expires_at=timezone.now() - timedelta(days=1))
    assert set(exc.value.message_dict) == {"scopes", "expires_at"}
    assert not ApiKey.objects.exists()
    assert not User.objects.filter(email__endswith=".keys.invalid").exists()


# --- Authentication ------------------------------------------------------------------------


def test_bearer_and_x_api_key_headers_both_authenticate(world, client):
    _key, plaintext = issue(world)
    body = bearer(client, plaintext).get("/api/v1/partnerships/").json()
    assert [row["id"] for row in body["results"]] == [world.ours.pk]

    client.defaults.pop("HTTP_AUTHORIZATION")
    response = client.get("/api/v1/partnerships/", HTTP_X_API_KEY=plaintext)
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [world.ours.pk]
    # The API root is readable with any key.
    assert client.get("/api/v1/", HTTP_X_API_KEY=plaintext).status_code == 200


def test_expired_revoked_unknown_and_malformed_keys_get_401(world, client):
    _expired, expired = issue(world, expires_at=timezone.now() + timedelta(days=1))
    ApiKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked, revoked_plain = issue(world)
    services.revoke_api_key(by=world.ems_admin, key=revoked)
    revoked.acting_user.refresh_from_db()
    assert not revoked.acting_user.is_active

    for plaintext in (expired, revoked_plain, "ppk_made-up"):
        for headers in (
            {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"},
            {"HTTP_X_API_KEY": plaintext},
        ):
            response = client.get("/api/v1/partnerships/", **headers)
            assert response.status_code == 401, (plaintext, headers)
            body = response.json()
            assert body["code"] == "authentication_failed"
            assert body["detail"] == "Invalid, expired or revoked API key."
            assert response["WWW-Authenticate"].startswith("Bearer")
    for header in ("not-a-key", "ppk_a ppk_b"):
        response = client.get("/api/v1/partnerships/", HTTP_X_API_KEY=header)
        assert response.status_code == 401
    response = client.get("/api/v1/partnerships/", HTTP_AUTHORIZATION="Bearer")
    assert response.status_code == 401


def test_last_used_at_is_recorded_at_most_once_a_minute(world, client):
    key, plaintext = issue(world)
    assert key.last_used_at is None
    bearer(client, plaintext).get("/api/v1/partnerships/")
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=10)
    client.get("/api/v1/partnerships/")
    key.refresh_from_db()
    assert key.last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=5))
    client.get("/api/v1/partnerships/")
    key.refresh_from_db()
    assert key.last_used_at > first


# --- Scopes, roles, isolation --------------------------------------------------------------


def test_scopes_limit_a_key_to_its_domains_and_access(world, client, active_contract):
    _key, plaintext = issue(world, scopes=["contracts:read"])
    api = bearer(client, plaintext)
    body = api.get("/api/v1/contracts/").json()
    assert [row["id"] for row in body["results"]] == [active_contract.pk]

    response = raise_request(api, world.ours)
    assert response.status_code == 403
    assert response.json() == {
        "status": 403,
        "code": "insufficient_scope",
        "detail": "This API key lacks the scope contracts:write (it has: contracts:read).",
    }
    response = api.get("/api/v1/products/")
    assert response.status_code == 403
    assert "schedules:read" in response.json()["detail"]
    assert not DecisionRequest.objects.exists()


def test_a_read_scope_key_may_dry_run_routing_but_not_write(world, client, active_contract):
    """``route`` POSTs facts but stores nothing: ``contracts:read`` is enough for it."""
    _key, plaintext = issue(world, scopes=["contracts:read"])
    api = bearer(client, plaintext)
    events = list(DecisionRequest.objects.values_list("pk", flat=True))
    response = api.post(
        f"/api/v1/contracts/{active_contract.pk}/route/",
        {"category": "component_substitution", "outside_avl": True},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["mode"] in {"ems_decides", "consult_oem", "oem_approval"}
    assert list(DecisionRequest.objects.values_list("pk", flat=True)) == events
    # Bad facts are still a field error, and other POSTs still need the write scope.
    bad = api.post(
        f"/api/v1/contracts/{active_contract.pk}/route/",
        {"category": "nonsense"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "category" in bad.json()["errors"]
    assert raise_request(api, world.ours).status_code == 403
    # A key without any contracts scope may not call it at all.
    _key, schedules_only = issue(world, scopes=["schedules:read"])
    response = bearer(client, schedules_only).post(
        f"/api/v1/contracts/{active_contract.pk}/route/",
        {"category": "component_substitution"},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_a_write_key_acts_as_its_service_user(world, client, active_contract):
    key, plaintext = issue(world, scopes=["*:write"])
    response = raise_request(bearer(client, plaintext), world.ours)
    assert response.status_code == 201, response.content
    decision = DecisionRequest.objects.get()
    assert decision.raised_by == key.acting_user
    assert response.json()["raised_by"]["id"] == key.acting_user.pk


def test_the_service_users_role_still_applies(world, client, active_contract):
    _key, plaintext = issue(world, role=Role.VIEWER, scopes=["contracts:write"])
    response = raise_request(bearer(client, plaintext), world.ours)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    # An OEM key may not raise requests either (the EMS raises them), whatever its scopes.
    _key, oem_plain = issue(world, world.oem, role=Role.BUYER, scopes=["*:write"])
    assert raise_request(bearer(client, oem_plain), world.ours).status_code == 403
    assert not DecisionRequest.objects.exists()


def test_a_foreign_organisations_key_reaches_nothing_of_ours(world, client, active_contract):
    _key, plaintext = issue(world, world.other_oem, role=Role.BUYER, scopes=["*:write"])
    api = bearer(client, plaintext)
    partnerships = api.get("/api/v1/partnerships/").json()
    assert [row["id"] for row in partnerships["results"]] == [world.theirs.pk]
    assert api.get("/api/v1/contracts/").json()["count"] == 0
    assert api.get("/api/v1/decision-requests/").json()["count"] == 0
    for url in (
        f"/api/v1/partnerships/{world.ours.pk}/",
        f"/api/v1/contracts/{active_contract.pk}/",
        f"/api/v1/organizations/{world.oem.pk}/",
    ):
        response = api.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"status": 404, "code": "not_found", "detail": "Not found."}
    assert raise_request(api, world.ours).status_code == 400  # unknown partnership
    assert not DecisionRequest.objects.exists()


def test_every_registered_viewset_belongs_to_a_domain():
    from partnership.api.urls import router

    assert router.registry
    for prefix, viewset, _basename in router.registry:
        assert domain_of(viewset) in ApiKey.DOMAINS, prefix

    class Elsewhere:
        pass

    class Explicit:
        api_domain = "webhooks"

    assert domain_of(Elsewhere) is None  # tests.* is no domain: keys are refused there
    assert domain_of(Explicit) == "webhooks"


# --- Throttling ----------------------------------------------------------------------------


def test_a_key_over_its_rate_gets_429_with_retry_after(world, client):
    key, plaintext = issue(world)
    key.throttle_rate = "3/min"
    key.save()
    _other, other_plain = issue(world)
    api = bearer(client, plaintext)
    for _ in range(3):
        assert api.get("/api/v1/partnerships/").status_code == 200
    response = api.get("/api/v1/partnerships/")
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 60
    body = response.json()
    assert body["status"] == 429 and body["code"] == "throttled"
    assert body["retry_after"] == retry_after and str(retry_after) in body["detail"]
    # Limits are per key.
    assert bearer(client, other_plain).get("/api/v1/partnerships/").status_code == 200


def test_the_user_rate_does_not_apply_to_keys(world, client, monkeypatch):
    monkeypatch.setattr(drf_throttling.UserRateThrottle, "rate", "2/min", raising=False)
    _key, plaintext = issue(world)
    for _ in range(4):
        response = client.get("/api/v1/partnerships/", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        assert response.status_code == 200
    client.force_login(world.buyer)
    statuses = [client.get("/api/v1/partnerships/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


# --- The admin page ------------------------------------------------------------------------


def test_admin_revokes_a_key_in_the_ui(world, client):
    key, plaintext = issue(world)
    client.force_login(world.ems_admin)
    page = client.get(reverse("organization_api_keys", args=[world.ems.pk]))
    assert page.status_code == 200 and key.key_prefix in page.content.decode()
    detail = client.get(reverse("organization_detail", args=[world.ems.pk])).content.decode()
    assert reverse("organization_api_keys", args=[world.ems.pk]) in detail

    url = reverse("revoke_organization_api_key", args=[world.ems.pk, key.pk])
    response = client.post(url)
    assert response.status_code == 302
    key.refresh_from_db()
    key.acting_user.refresh_from_db()
    assert key.revoked_at and not key.acting_user.is_active
    assert "revoked" in client.get(response.url).content.decode()
    client.logout()
    assert bearer(client, plaintext).get("/api/v1/partnerships/").status_code == 401


def test_non_admins_get_403_and_other_organisations_404(world, client):
    key, _plaintext = issue(world)
    list_url = reverse("organization_api_keys", args=[world.ems.pk])
    revoke_url = reverse("revoke_organization_api_key", args=[world.ems.pk, key.pk])
    data = {"name": "x", "role": "viewer", "scopes": ["*:read"], "expires_in_days": ""}

    client.force_login(world.account_manager)  # member, not admin
    assert client.get(list_url).status_code == 403
    assert client.post(list_url, data).status_code == 403
    assert client.post(revoke_url).status_code == 403
    detail = client.get(reverse("organization_detail", args=[world.ems.pk])).content.decode()
    assert list_url not in detail

    for outsider in (world.oem_admin, world.outsider):  # partner's admin, stranger's admin
        client.force_login(outsider)
        assert client.get(list_url).status_code == 404
        assert client.post(list_url, data).status_code == 404
        assert client.post(revoke_url).status_code == 404
    # Another organisation's key under one's own organisation's URL: 404 too.
    client.force_login(world.oem_admin)
    url = reverse("revoke_organization_api_key", args=[world.oem.pk, key.pk])
    assert client.post(url).status_code == 404

    key.refresh_from_db()
    assert key.revoked_at is None and ApiKey.objects.count() == 1
    client.logout()
    assert client.get(list_url).status_code == 302  # to the login page


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"scopes": []}, {"scopes"}),
        ({"scopes": ["contracts:read", "payroll:write"]}, {"scopes"}),
        ({"name": "", "role": "admin"}, {"name", "role"}),
        ({"expires_in_days": "7000"}, {"expires_in_days"}),
    ],
)
def test_bad_input_gives_field_errors_and_creates_nothing(world, client, data, fields):
    client.force_login(world.ems_admin)
    valid = {"name": "MES", "role": "planner", "scopes": ["schedules:write"], "expires_in_days": ""}
    response = client.post(reverse("organization_api_keys", args=[world.ems.pk]), {**valid, **data})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == fields
    assert response.context["new_key"] is None
    assert not ApiKey.objects.exists()
    assert not User.objects.filter(email__endswith=".keys.invalid").exists()


def test_service_users_are_not_notified(world):
    from partnership.notifications import notify

    key, _plaintext = issue(world)
    rows = notify([key.acting_user, world.account_manager], partnership=world.ours, subject="Hi")
    assert [r.user for r in rows] == [world.account_manager]
    assert not Notification.objects.filter(user=key.acting_user).exists()


def test_schema_documents_api_keys(world, client):
    client.force_login(world.buyer)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    scheme = schema["components"]["securitySchemes"]["apiKeyAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
