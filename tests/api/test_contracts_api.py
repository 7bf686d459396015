"""Contracts API: scoped reads, RACI/rules/PDF/route actions, decision requests raised,
answered, commented and withdrawn over HTTP — and every foreign id answering 404."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contracts import template_data
from contracts.models import Contract, DecisionEvent, DecisionRequest
from partnership.models import ApiToken
from tests.contracts import conftest as contract_fixtures

pytestmark = pytest.mark.django_db

# The contracts app's fixtures (``draft``: template draft; ``active_contract``: signed by both).
draft = contract_fixtures.draft
active_contract = contract_fixtures.active_contract

SUBSTITUTION_OUTSIDE_AVL = {
    "title": "Replace C12 with a non-AVL capacitor",
    "category": "component_substitution",
    "description": "Murata part on allocation; TDK equivalent from a new distributor.",
    "outside_avl": True,
}


def api(client, user):
    """An HTTP client authenticating like an ERP: with a personal token."""
    _token, key = ApiToken.issue(user, "erp")
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
    return client


def post(client, url, data):
    return client.post(url, data, content_type="application/json")


def raise_request(client, partnership, **data):
    return post(
        client,
        "/api/v1/decision-requests/",
        {"partnership": partnership.pk, **SUBSTITUTION_OUTSIDE_AVL, **data},
    )


@pytest.fixture
def decision(world, active_contract):
    """An open request awaiting the OEM's approval (clause 7.2), raised through the services."""
    from contracts import services

    return services.raise_decision_request(
        by=world.account_manager, partnership=world.ours, **SUBSTITUTION_OUTSIDE_AVL
    )


# --- Contracts -------------------------------------------------------------------------------


def test_contracts_are_listed_and_shown_within_scope_only(world, client, active_contract):
    api(client, world.buyer)
    body = client.get("/api/v1/contracts/").json()
    assert [row["id"] for row in body["results"]] == [active_contract.pk]
    row = body["results"][0]
    assert row["partnership"] == world.ours.pk and row["status"] == "active"
    assert [(b["from_week"], b["to_week"]) for b in row["flex_bands"]] == [
        (f, t) for f, t, _up, _down in template_data.FLEX_BANDS
    ]
    detail = client.get(f"/api/v1/contracts/{active_contract.pk}/").json()
    assert detail["content_hash"] == active_contract.content_hash

    outsider = api(client, world.outsider)
    assert outsider.get("/api/v1/contracts/").json()["count"] == 0
    probe = outsider.get("/api/v1/contracts/", {"partnership": world.ours.pk}).json()
    assert probe["count"] == 0
    response = outsider.get(f"/api/v1/contracts/{active_contract.pk}/")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "code": "not_found", "detail": "Not found."}


def test_contract_filters_and_updated_since(world, client, active_contract):
    api(client, world.account_manager)
    assert client.get("/api/v1/contracts/", {"status": "draft"}).json()["count"] == 0
    assert client.get("/api/v1/contracts/", {"status": "active"}).json()["count"] == 1
    mine = client.get("/api/v1/contracts/", {"partnership": world.ours.pk}).json()
    assert mine["count"] == 1
    later = (timezone.now() + timedelta(minutes=5)).isoformat()
    earlier = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert client.get("/api/v1/contracts/", {"updated_since": later}).json()["count"] == 0
    assert client.get("/api/v1/contracts/", {"updated_since": earlier}).json()["count"] == 1
    bad = client.get("/api/v1/contracts/", {"status": "bogus", "updated_since": "yesterday"})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"status", "updated_since"}


def test_matrix_and_rules_in_plain_language(world, client, active_contract):
    api(client, world.oem_viewer)
    matrix = client.get(f"/api/v1/contracts/{active_contract.pk}/matrix/").json()
    assert [(r["area"], r["activity"], r["oem"], r["ems"]) for r in matrix] == [
        (str(a), str(act), o, e) for a, act, o, e in template_data.MATRIX
    ]
    rules = client.get(f"/api/v1/contracts/{active_contract.pk}/rules/").json()
    assert len(rules) == len(template_data.RULES)
    by_clause = {r["clause_ref"]: r for r in rules}
    rule = active_contract.rules.get(clause_ref="7.2")
    assert by_clause["7.2"]["description"] == rule.describe()
    assert by_clause["7.2"]["outcome"] == "oem_approval" and by_clause["7.2"]["if_outside_avl"]


def test_pdf_is_served_as_pdf(world, client, active_contract):
    api(client, world.account_manager)
    response = client.get(f"/api/v1/contracts/{active_contract.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    # Asking for a PDF explicitly works too; errors stay JSON.
    response = client.get(
        f"/api/v1/contracts/{active_contract.pk}/pdf/", HTTP_ACCEPT="application/pdf"
    )
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    missing = client.get("/api/v1/contracts/999999/pdf/", HTTP_ACCEPT="application/pdf")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("application/json")
    assert missing.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("facts", "mode", "clause", "hours"),
    [
        ({"category": "component_substitution", "outside_avl": True}, "oem_approval", "7.2", 48),
        ({"category": "schedule_change", "delay_days": 12}, "oem_approval", "4.7", 24),
        ({"category": "schedule_change", "delay_days": 1}, "ems_decides", "4.5", 24),
        ({"category": "price_change", "price_change_pct": "3.00"}, "oem_approval", "5.3", 120),
    ],
)
def test_route_is_a_dry_run(world, client, active_contract, facts, mode, clause, hours):
    api(client, world.oem_viewer)  # read-only: anyone in the partnership may ask
    before = (DecisionRequest.objects.count(), DecisionEvent.objects.count())
    response = post(client, f"/api/v1/contracts/{active_contract.pk}/route/", facts)
    assert response.status_code == 200, response.content
    body = response.json()
    rule = active_contract.rules.get(clause_ref=clause)
    assert (body["mode"], body["rule"], body["clause_ref"], body["response_hours"]) == (
        mode,
        rule.pk,
        clause,
        hours,
    )
    assert body["silence_is_consent"] is False
    assert clause in body["explanation"] and rule.pk in body["matched_rules"]
    assert (DecisionRequest.objects.count(), DecisionEvent.objects.count()) == before


def test_route_falls_back_to_the_default_and_rejects_bad_facts(world, client, draft):
    api(client, world.buyer)
    draft.rules.filter(category="deviation").delete()
    body = post(client, f"/api/v1/contracts/{draft.pk}/route/", {"category": "deviation"}).json()
    assert body["rule"] is None and body["clause_ref"] is None
    assert body["mode"] == draft.default_decision_mode
    assert body["response_hours"] == draft.default_response_hours

    response = post(
        client,
        f"/api/v1/contracts/{draft.pk}/route/",
        {"category": "teleportation", "cost_impact": "-5", "delay_days": "soon"},
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"category", "cost_impact", "delay_days"}


def test_contract_endpoints_refuse_writes(world, client, active_contract):
    api(client, world.oem_admin)
    assert post(client, "/api/v1/contracts/", {"partnership": world.ours.pk}).status_code == 405
    assert client.delete(f"/api/v1/contracts/{active_contract.pk}/").status_code == 405
    assert Contract.objects.filter(pk=active_contract.pk).exists()


# --- Foreign and malformed ids ---------------------------------------------------------------


def test_every_contract_endpoint_answers_404_for_foreign_ids(world, client, active_contract):
    api(client, world.outsider)
    base = f"/api/v1/contracts/{active_contract.pk}"
    for url in (f"{base}/", f"{base}/matrix/", f"{base}/rules/", f"{base}/pdf/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    response = post(client, f"{base}/route/", {"category": "deviation"})
    assert response.status_code == 404


def test_every_decision_endpoint_answers_404_for_foreign_ids(world, client, decision):
    events = decision.events.count()
    api(client, world.outsider)
    base = f"/api/v1/decision-requests/{decision.pk}"
    for url in (f"{base}/", f"{base}/events/"):
        assert client.get(url).status_code == 404, url
    for url, data in (
        (f"{base}/answer/", {"action": "reject", "text": "No."}),
        (f"{base}/comment/", {"text": "Hello from elsewhere"}),
        (f"{base}/withdraw/", {"text": ""}),
    ):
        response = post(client, url, data)
        assert response.status_code == 404, url
        assert response.json() == {"status": 404, "code": "not_found", "detail": "Not found."}
    assert client.get("/api/v1/decision-requests/").json()["count"] == 0
    probe = client.get("/api/v1/decision-requests/", {"partnership": world.ours.pk}).json()
    assert probe["count"] == 0
    decision.refresh_from_db()
    assert decision.status == DecisionRequest.Status.AWAITING_OEM
    assert decision.events.count() == events


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/contracts/abc/",
        "/api/v1/contracts/1.5/matrix/",
        "/api/v1/contracts/-1/rules/",
        "/api/v1/contracts/99999999999999999999/",
        "/api/v1/contracts/99999999999999999999/pdf/",
        "/api/v1/decision-requests/abc/",
        "/api/v1/decision-requests/abc/events/",
        "/api/v1/decision-requests/99999999999999999999/",
    ],
)
def test_malformed_ids_answer_404(world, client, url):
    api(client, world.buyer)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("action", ["answer", "comment", "withdraw"])
def test_malformed_ids_answer_404_on_actions(world, client, action):
    api(client, world.buyer)
    for pk in ("abc", "99999999999999999999"):
        response = post(client, f"/api/v1/decision-requests/{pk}/{action}/", {"text": "x"})
        assert response.status_code == 404
    response = post(client, "/api/v1/contracts/abc/route/", {"category": "deviation"})
    assert response.status_code == 404


def test_unauthenticated_requests_get_401(world, client, decision):
    for url in ("/api/v1/contracts/", f"/api/v1/decision-requests/{decision.pk}/events/"):
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


# --- Decision requests: raising --------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "mode", "clause", "status"),
    [
        (
            {"category": "component_substitution", "outside_avl": True},
            "oem_approval",
            "7.2",
            "awaiting_oem",
        ),
        ({"category": "schedule_change", "delay_days": 12}, "oem_approval", "4.7", "awaiting_oem"),
        ({"category": "schedule_change", "delay_days": 1}, "ems_decides", "4.5", "decided_by_ems"),
    ],
)
def test_ems_raises_a_request_with_a_token_and_it_is_routed(
    world, client, active_contract, facts, mode, clause, status
):
    api(client, world.account_manager)
    response = post(
        client,
        "/api/v1/decision-requests/",
        {
            "partnership": world.ours.pk,
            "title": "Line 3 change",
            "external_id": "SAP-4711",
            **facts,
            # Whatever routing decides is read-only: these are ignored.
            "mode": "ems_decides" if mode != "ems_decides" else "oem_approval",
            "status": "approved",
            "due_at": "2000-01-01T00:00:00Z",
            "rule": None,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    decision = DecisionRequest.objects.get(pk=body["id"])
    rule = active_contract.rules.get(clause_ref=clause)
    assert (body["mode"], body["rule"], body["rule_clause"], body["status"]) == (
        mode,
        rule.pk,
        clause,
        status,
    )
    assert (decision.mode, decision.rule_id, decision.status) == (mode, rule.pk, status)
    assert body["reference"] == "DR-0001" and body["external_id"] == "SAP-4711"
    assert body["contract"] == active_contract.pk and body["partnership"] == world.ours.pk
    assert body["raised_by"]["id"] == world.account_manager.pk
    assert clause in body["routing_explanation"]
    if mode == "ems_decides":
        assert body["due_at"] is None and body["is_open"] is False
    else:
        assert body["is_open"] is True
        expected_due = decision.created_at + timedelta(hours=rule.response_hours)
        assert abs(decision.due_at - expected_due) < timedelta(seconds=5)
    events = client.get(f"/api/v1/decision-requests/{decision.pk}/events/").json()
    assert [e["kind"] for e in events] == ["raised", "routed"]
    assert events[0]["actor"]["id"] == world.account_manager.pk and events[1]["actor"] is None


def test_duplicate_external_id_is_a_field_error(world, client, active_contract):
    api(client, world.account_manager)
    assert raise_request(client, world.ours, external_id="ERP-1").status_code == 201
    response = raise_request(client, world.ours, external_id="ERP-1")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and set(body["errors"]) == {"external_id"}
    assert DecisionRequest.objects.filter(external_id="ERP-1").count() == 1
    # Requests without an external id never collide.
    assert raise_request(client, world.ours).status_code == 201
    assert raise_request(client, world.ours, external_id="").status_code == 201


@pytest.mark.parametrize("who", ["buyer", "oem_admin", "oem_viewer"])
def test_oem_side_cannot_raise_requests(world, client, active_contract, who):
    api(client, getattr(world, who))
    response = raise_request(client, world.ours)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not DecisionRequest.objects.exists()


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"category": "teleportation"}, {"category"}),
        ({"cost_impact": "-1.00"}, {"cost_impact"}),
        ({"delay_days": -3, "quantity": "many"}, {"delay_days", "quantity"}),
        ({"title": ""}, {"title"}),
        ({"partnership": None}, {"partnership"}),
        ({"partnership": "abc"}, {"partnership"}),
        ({"external_id": "x" * 101}, {"external_id"}),
    ],
)
def test_bad_input_gives_field_errors_and_creates_nothing(
    world, client, active_contract, data, fields
):
    api(client, world.account_manager)
    response = post(
        client,
        "/api/v1/decision-requests/",
        {"partnership": world.ours.pk, **SUBSTITUTION_OUTSIDE_AVL, **data},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["code"] == "invalid"
    assert set(body["errors"]) == fields
    assert not DecisionRequest.objects.exists() and not DecisionEvent.objects.exists()


def test_partnership_outside_scope_is_indistinguishable_from_unknown(
    world, client, active_contract
):
    api(client, world.account_manager)
    foreign = raise_request(client, world.theirs)
    unknown = post(
        client,
        "/api/v1/decision-requests/",
        {**SUBSTITUTION_OUTSIDE_AVL, "partnership": world.theirs.pk + 1000},
    )
    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json() == unknown.json()
    assert set(foreign.json()["errors"]) == {"partnership"}
    assert not DecisionRequest.objects.exists()


def test_no_active_contract_is_a_400(world, client, draft):
    api(client, world.account_manager)
    response = raise_request(client, world.ours)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "no active contract" in body["errors"]["non_field_errors"][0]
    assert not DecisionRequest.objects.exists()


# --- Decision requests: answering, comments, withdrawal --------------------------------------


def test_ems_cannot_answer_and_oem_buyer_approves_once(world, client, decision):
    url = f"/api/v1/decision-requests/{decision.pk}/answer/"
    api(client, world.account_manager)
    response = post(client, url, {"action": "approve"})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    api(client, world.oem_viewer)
    assert post(client, url, {"action": "approve"}).status_code == 403
    decision.refresh_from_db()
    assert decision.status == DecisionRequest.Status.AWAITING_OEM

    api(client, world.buyer)
    response = post(client, url, {"action": "approve", "text": "OK with the TDK part."})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "approved" and body["is_open"] is False
    assert body["answered_by"]["id"] == world.buyer.pk
    assert body["answer"] == "OK with the TDK part."

    again = post(client, url, {"action": "reject", "text": "Changed my mind."})
    assert again.status_code == 400
    assert set(again.json()["errors"]) == {"non_field_errors"}
    decision.refresh_from_db()
    assert decision.status == DecisionRequest.Status.APPROVED
    kinds = [
        e["kind"] for e in client.get(f"/api/v1/decision-requests/{decision.pk}/events/").json()
    ]
    assert kinds == ["raised", "routed", "approved"]


def test_answer_input_is_validated(world, client, decision):
    url = f"/api/v1/decision-requests/{decision.pk}/answer/"
    api(client, world.buyer)
    response = post(client, url, {"action": "shrug"})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"action"}
    # Acknowledging is for consultations; this one needs approval.
    response = post(client, url, {"action": "acknowledge"})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"action"}
    response = post(client, url, {"action": "reject", "text": "  "})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"text"}
    decision.refresh_from_db()
    assert decision.is_open and decision.events.count() == 2


def test_comments_from_both_sides_but_not_viewers(world, client, decision):
    url = f"/api/v1/decision-requests/{decision.pk}/comment/"
    api(client, world.buyer)
    response = post(client, url, {"text": "Which distributor?"})
    assert response.status_code == 201
    assert response.json()["kind"] == "comment"
    assert response.json()["actor"]["id"] == world.buyer.pk
    api(client, world.account_manager)
    assert post(client, url, {"text": "Avnet, franchised."}).status_code == 201
    api(client, world.oem_viewer)
    assert post(client, url, {"text": "Me too"}).status_code == 403
    api(client, world.buyer)
    response = post(client, url, {})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"text"}
    texts = [e.text for e in decision.events.filter(kind="comment")]
    assert texts == ["Which distributor?", "Avnet, franchised."]


def test_only_the_ems_withdraws_an_open_request(world, client, decision):
    url = f"/api/v1/decision-requests/{decision.pk}/withdraw/"
    api(client, world.buyer)
    assert post(client, url, {}).status_code == 403
    api(client, world.account_manager)
    response = post(client, url, {"text": "Found stock after all."})
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    again = post(client, url, {})
    assert again.status_code == 400
    decision.refresh_from_db()
    assert decision.status == DecisionRequest.Status.WITHDRAWN
    assert decision.events.last().text == "Found stock after all."


# --- Decision requests: lists and filters ----------------------------------------------------


def test_decision_list_filters_and_updated_since(world, client, decision):
    from contracts import services

    decided = services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        title="Two-day slip on lot 12",
        category="schedule_change",
        delay_days=2,
        external_id="MES-12",
    )
    api(client, world.buyer)

    def ids(**params):
        response = client.get("/api/v1/decision-requests/", params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [decided.pk, decision.pk]  # newest first
    assert ids(ordering="id") == [decision.pk, decided.pk]
    assert ids(partnership=world.ours.pk) == [decided.pk, decision.pk]
    assert ids(partnership=world.theirs.pk) == []
    assert ids(status="awaiting_oem") == [decision.pk]
    assert ids(mode="ems_decides") == [decided.pk]
    assert ids(category="schedule_change") == [decided.pk]
    assert ids(open="true") == [decision.pk]
    assert ids(open="false") == [decided.pk]
    assert ids(external_id="MES-12") == [decided.pk]
    assert ids(q=decision.reference) == [decision.pk]
    assert ids(q="slip") == [decided.pk]

    now = timezone.now()
    assert ids(updated_since=(now + timedelta(minutes=1)).isoformat()) == []
    DecisionRequest.objects.filter(pk=decided.pk).update(updated_at=now - timedelta(days=2))
    since = (now - timedelta(days=1)).isoformat()
    assert ids(updated_since=since) == [decision.pk]

    bad = client.get("/api/v1/decision-requests/", {"mode": "whatever", "updated_since": "x"})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"mode", "updated_since"}


def test_schema_documents_the_contracts_api(world, client):
    client.force_login(world.buyer)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/contracts/{id}/matrix/",
        "/api/v1/contracts/{id}/rules/",
        "/api/v1/contracts/{id}/route/",
        "/api/v1/decision-requests/{id}/answer/",
        "/api/v1/decision-requests/{id}/comment/",
        "/api/v1/decision-requests/{id}/withdraw/",
        "/api/v1/decision-requests/{id}/events/",
    ):
        assert path in paths
    pdf = paths["/api/v1/contracts/{id}/pdf/"]["get"]["responses"]
    assert "application/pdf" in pdf["200"]["content"]
    create = paths["/api/v1/decision-requests/"]["post"]["responses"]
    assert {"201", "400", "401", "403", "404"} <= set(create)
    request_body = schema["components"]["schemas"]["DecisionRequestRequest"]["properties"]
    assert "mode" not in request_body and "status" not in request_body
