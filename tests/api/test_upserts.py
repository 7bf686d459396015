"""Upsert by external_id for every synced type: one PUT per object, bulk calls all or nothing
with row errors by index, writes through the apps' services, and no way into another
organisation's partnership."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audits.models import Finding
from comms.models import ActionItem, Goal, Meeting, Problem
from contracts.models import DecisionRequest
from integrations import services as key_services
from partnership.models import Role
from schedules.models import Product, ProductionRun
from tests.audits import conftest as audit_fixtures
from tests.contracts import conftest as contract_fixtures

pytestmark = pytest.mark.django_db

draft = contract_fixtures.draft
active_contract = contract_fixtures.active_contract
oem_quality = audit_fixtures.oem_quality
process_template = audit_fixtures.process_template
process_audit = audit_fixtures.process_audit

START = (timezone.now() + dt.timedelta(days=10)).replace(microsecond=0)


def key(world, organization, role, scopes=("*:write",)):
    admin = {world.oem.pk: world.oem_admin, world.ems.pk: world.ems_admin}.get(
        organization.pk, world.outsider
    )
    _key, plaintext = key_services.issue_api_key(
        by=admin, organization=organization, name="ERP", scopes=list(scopes), role=role
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def put(client, auth, url, body):
    return client.put(url, body, content_type="application/json", **auth)


def post(client, auth, url, body):
    return client.post(url, body, content_type="application/json", **auth)


@pytest.fixture
def oem(world):
    return key(world, world.oem, Role.BUYER)


@pytest.fixture
def ems(world):
    return key(world, world.ems, Role.ACCOUNT_MANAGER)


@pytest.fixture
def foreign(world):
    return key(world, world.other_oem, Role.BUYER)


def meeting_row(world, **extra):
    return {
        "title": "Weekly operations review",
        "start": START.isoformat(),
        "end": (START + dt.timedelta(hours=1)).isoformat(),
        "time_zone": "Europe/Berlin",
        "attendees": [world.buyer.pk, world.account_manager.pk],
        **extra,
    }


# --- Single upserts ---------------------------------------------------------------------------


def test_meeting_put_creates_invites_then_changes_only_when_different(
    world, client, oem, mailoutbox, django_capture_on_commit_callbacks
):
    url = "/api/v1/meetings/by-external-id/SAP-MTG-1/"
    body = {"partnership": world.ours.pk, **meeting_row(world)}
    with django_capture_on_commit_callbacks(execute=True):
        created = put(client, oem, url, body)
    assert created.status_code == 201, created.content
    meeting = Meeting.objects.get(external_id="SAP-MTG-1")
    assert created.json()["id"] == meeting.pk and created.json()["external_id"] == "SAP-MTG-1"
    invited = {m.to[0] for m in mailoutbox}
    assert {world.buyer.email, world.account_manager.email} <= invited
    sent, stamp = len(mailoutbox), meeting.updated_at

    with django_capture_on_commit_callbacks(execute=True):
        again = put(client, oem, url, {**body, "rrule": ""})
    assert again.status_code == 200
    meeting.refresh_from_db()
    assert (meeting.sequence, meeting.updated_at, len(mailoutbox)) == (0, stamp, sent)

    with django_capture_on_commit_callbacks(execute=True):
        moved = put(client, oem, url, {"partnership": world.ours.pk, "title": "Ops review"})
    assert moved.status_code == 200 and moved.json()["title"] == "Ops review"
    meeting.refresh_from_db()
    assert meeting.sequence == 1 and meeting.start == START  # fields left out stay
    assert len(mailoutbox) > sent
    assert any("Updated invitation" in m.subject for m in mailoutbox[sent:])


def test_single_put_errors_are_field_errors_and_change_nothing(world, client, oem):
    url = "/api/v1/meetings/by-external-id/SAP-MTG-2/"
    bad = put(
        client,
        oem,
        url,
        {"partnership": world.ours.pk, **meeting_row(world, end=START.isoformat())},
    )
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"end"}
    missing = put(client, oem, url, {"title": "No partnership"})
    assert missing.status_code == 400 and set(missing.json()["errors"]) == {"partnership"}
    assert not Meeting.objects.exists()


def test_product_and_run_put_use_the_bulk_rules(world, client, oem):
    created = put(
        client,
        oem,
        "/api/v1/products/by-external-id/MAT-100/",
        {"partnership": world.ours.pk, "part_number": "PCB-100", "name": "Main board"},
    )
    assert created.status_code == 201, created.content
    assert created.json()["readiness"]  # the NPI checklist, as for any new product
    updated = put(
        client,
        oem,
        "/api/v1/products/by-external-id/MAT-100/",
        {"partnership": world.ours.pk, "name": "Main board rev B"},
    )
    assert updated.status_code == 200 and updated.json()["name"] == "Main board rev B"
    run = put(
        client,
        oem,
        "/api/v1/production-runs/by-external-id/PO-1/",
        {
            "partnership": world.ours.pk,
            "product_external_id": "MAT-100",
            "quantity": 500,
            "planned_launch": "2030-03-04",
            "due_date": "2030-03-01",
        },
    )
    assert run.status_code == 400 and set(run.json()["errors"]) == {"due_date"}
    assert not ProductionRun.objects.exists()
    assert Product.objects.get(external_id="MAT-100").name == "Main board rev B"


def test_decision_request_upsert_routes_once_and_keeps_its_facts(
    world, client, ems, active_contract
):
    url = "/api/v1/decision-requests/by-external-id/ECO-7/"
    body = {
        "partnership": world.ours.pk,
        "title": "Alternate capacitor",
        "category": "component_substitution",
        "outside_avl": True,
    }
    created = put(client, ems, url, body)
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "awaiting_oem" and created.json()["rule"] is not None
    assert put(client, ems, url, body).status_code == 200
    changed = put(client, ems, url, {**body, "outside_avl": False, "title": "Other"})
    assert changed.status_code == 400
    assert set(changed.json()["errors"]) == {"outside_avl", "title"}
    decision = DecisionRequest.objects.get()
    assert decision.outside_avl and decision.title == "Alternate capacitor"


def test_problem_upsert_moves_through_the_transitions(world, client, ems):
    url = "/api/v1/problems/by-external-id/NCR-9/"
    body = {
        "partnership": world.ours.pk,
        "title": "Solder voids on U3",
        "description": "X-ray shows voids above 25%.",
        "severity": "high",
    }
    created = put(client, ems, url, body)
    assert created.status_code == 201, created.content
    assert created.json()["number"] == 1 and created.json()["status"] == "open"
    closing = put(client, ems, url, {"partnership": world.ours.pk, "status": "closed"})
    assert closing.status_code == 400 and set(closing.json()["errors"]) == {"status"}
    resolved = put(
        client,
        ems,
        url,
        {"partnership": world.ours.pk, "status": "resolved", "resolution": "New stencil."},
    )
    assert resolved.status_code == 200, resolved.content
    problem = Problem.objects.get()
    assert (problem.status, problem.resolution) == ("resolved", "New stencil.")
    assert problem.comments.filter(text__startswith="Status:").count() == 1


def test_finding_upsert_is_for_oem_auditors_in_their_audit(
    world, client, process_audit, oem_quality
):
    auditor = key(world, world.oem, Role.QUALITY)
    url = "/api/v1/findings/by-external-id/QM-1/"
    body = {
        "partnership": world.ours.pk,
        "audit": process_audit.pk,
        "classification": "minor",
        "description": "Expired solder paste in the fridge.",
    }
    created = put(client, auditor, url, body)
    assert created.status_code == 201, created.content
    finding = Finding.objects.get()
    assert finding.partnership_id == world.ours.pk and finding.response_due
    fixed = put(client, auditor, url, {"partnership": world.ours.pk, "classification": "major"})
    assert fixed.status_code == 200 and fixed.json()["classification"] == "major"
    ems_key = key(world, world.ems, Role.QUALITY)
    assert put(client, ems_key, url, body).status_code == 403
    finding.refresh_from_db()
    assert finding.classification == "major"


# --- Bulk -------------------------------------------------------------------------------------


def test_bulk_is_all_or_nothing_with_errors_by_row(world, client, ems):
    rows = [
        {"external_id": "A-1", "title": "Ship labels", "due_date": "2030-01-10"},
        {"external_id": "A-2", "title": "", "due_date": "2030-01-10"},
        {"external_id": "A-1", "title": "Duplicate", "due_date": "2030-01-10"},
        {
            "external_id": "A-4",
            "title": "Owner elsewhere",
            "owner": world.outsider.pk,
            "due_date": "2030-01-10",
        },
        {"title": "No key"},
        "not an object",
    ]
    response = post(
        client,
        ems,
        "/api/v1/action-items/bulk-upsert/",
        {"partnership": world.ours.pk, "items": rows},
    )
    assert response.status_code == 400
    errors = response.json()["errors"]["items"]
    assert set(errors) == {"1", "2", "3", "4", "5"}
    assert set(errors["1"]) == {"title"} and set(errors["2"]) == {"external_id"}
    assert set(errors["3"]) == {"owner"} and set(errors["4"]) == {"external_id"}
    assert not ActionItem.objects.exists()


def test_bulk_creates_updates_and_leaves_equal_rows_alone(world, client, ems):
    url = "/api/v1/goals/bulk-upsert/"
    rows = [
        {
            "external_id": f"G-{n}",
            "horizon": "short",
            "title": f"OTD line {n}",
            "metric": "OTD",
            "baseline": "90.00",
            "target": "98.00",
            "due_date": "2030-06-30",
        }
        for n in range(3)
    ]
    first = post(client, ems, url, {"partnership": world.ours.pk, "items": rows})
    assert first.status_code == 200, first.content
    assert (first.json()["created"], first.json()["updated"]) == (3, 0)
    stamps = dict(Goal.objects.values_list("external_id", "updated_at"))
    rows[1] = {**rows[1], "current": "93.5"}
    second = post(client, ems, url, {"partnership": world.ours.pk, "items": rows})
    body = second.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 1, 2)
    assert [i["result"] for i in body["items"]] == ["unchanged", "updated", "unchanged"]
    goal = Goal.objects.get(external_id="G-1")
    assert goal.measurements.get().value == goal.current  # save_goal's measurement
    assert Goal.objects.get(external_id="G-0").updated_at == stamps["G-0"]


def test_a_thousand_action_items_in_one_call(world, client, ems):
    rows = [
        {"external_id": f"ACT-{n:04d}", "title": f"Action {n}", "due_date": "2030-01-10"}
        for n in range(1000)
    ]
    response = post(
        client,
        ems,
        "/api/v1/action-items/bulk-upsert/",
        {"partnership": world.ours.pk, "items": rows},
    )
    assert response.status_code == 200, response.content[:500]
    assert response.json()["created"] == 1000
    assert ActionItem.objects.filter(partnership=world.ours).count() == 1000


def test_viewers_and_read_keys_change_nothing(world, client):
    viewer = key(world, world.oem, Role.VIEWER)
    reader = key(world, world.oem, Role.BUYER, scopes=["*:read"])
    row = {"partnership": world.ours.pk, "title": "T", "description": "D", "severity": "low"}
    assert put(client, viewer, "/api/v1/problems/by-external-id/X/", row).status_code == 403
    assert put(client, reader, "/api/v1/problems/by-external-id/X/", row).status_code == 403
    assert not Problem.objects.exists()


# --- Isolation --------------------------------------------------------------------------------

RESOURCES = {
    "meetings": Meeting,
    "problems": Problem,
    "action-items": ActionItem,
    "goals": Goal,
    "findings": Finding,
    "decision-requests": DecisionRequest,
    "products": Product,
    "production-runs": ProductionRun,
}


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_a_foreign_key_cannot_upsert_into_our_partnership(world, client, foreign, resource):
    model = RESOURCES[resource]
    before = model.objects.count()
    one = put(
        client,
        foreign,
        f"/api/v1/{resource}/by-external-id/EXT-1/",
        {"partnership": world.ours.pk, "title": "x"},
    )
    assert one.status_code == 400
    assert one.json()["errors"]["partnership"] == ["No partnership of yours has this id."]
    bulk = post(
        client,
        foreign,
        f"/api/v1/{resource}/bulk-upsert/",
        {"partnership": world.ours.pk, "items": [{"external_id": "EXT-1", "title": "x"}]},
    )
    assert bulk.status_code == 400 and "partnership" in bulk.json()["errors"]
    assert model.objects.count() == before


def test_the_same_external_id_elsewhere_is_another_object(world, client, ems, foreign):
    ours = put(
        client,
        ems,
        "/api/v1/problems/by-external-id/NCR-1/",
        {"partnership": world.ours.pk, "title": "Ours", "description": "D", "severity": "low"},
    )
    assert ours.status_code == 201
    theirs = put(
        client,
        foreign,
        "/api/v1/problems/by-external-id/NCR-1/",
        {"partnership": world.theirs.pk, "title": "Theirs", "description": "D", "severity": "low"},
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != ours.json()["id"]
    assert Problem.objects.get(partnership=world.ours).title == "Ours"
    # Nor can a foreign key read ours by listing or by id.
    assert client.get(f"/api/v1/problems/{ours.json()['id']}/", **foreign).status_code == 404


def test_foreign_links_in_rows_are_row_errors(world, client, ems, foreign):
    theirs = put(
        client,
        foreign,
        "/api/v1/problems/by-external-id/P-1/",
        {"partnership": world.theirs.pk, "title": "T", "description": "D", "severity": "low"},
    )
    response = post(
        client,
        ems,
        "/api/v1/action-items/bulk-upsert/",
        {
            "partnership": world.ours.pk,
            "items": [
                {
                    "external_id": "A",
                    "title": "T",
                    "due_date": "2030-01-01",
                    "problem": theirs.json()["id"],
                }
            ],
        },
    )
    assert response.status_code == 400
    assert response.json()["errors"]["items"]["0"]["problem"] == [
        "No problem of yours has this id."
    ]
    assert not ActionItem.objects.exists()


def test_external_ids_are_unique_per_partnership_in_the_database(
    world, client, ems, process_audit, oem_quality
):
    auditor = key(world, world.oem, Role.QUALITY)
    bodies = {
        "meetings": (ems, [meeting_row(world), meeting_row(world)]),
        "problems": (ems, [{"title": "T", "description": "D", "severity": "low"}] * 2),
        "action-items": (ems, [{"title": "T", "due_date": "2030-01-01"}] * 2),
        "goals": (
            ems,
            [
                {
                    "horizon": "long",
                    "title": "PPM",
                    "metric": "PPM",
                    "baseline": "500",
                    "target": "100",
                    "due_date": "2031-01-01",
                }
            ]
            * 2,
        ),
        "findings": (
            auditor,
            [{"audit": process_audit.pk, "classification": "observation", "description": "D"}] * 2,
        ),
    }
    for resource, (auth, rows) in bodies.items():
        items = [{**row, "external_id": f"K-{n}"} for n, row in enumerate(rows)]
        response = post(
            client,
            auth,
            f"/api/v1/{resource}/bulk-upsert/",
            {"partnership": world.ours.pk, "items": items},
        )
        assert response.status_code == 200, (resource, response.content)
    for model in (Meeting, Problem, ActionItem, Goal, Finding):
        second = model.objects.get(external_id="K-1")
        with transaction.atomic(), pytest.raises(IntegrityError):
            model.objects.filter(pk=second.pk).update(external_id="K-0")
        model.objects.filter(pk=second.pk).update(external_id=None)  # NULLs never collide
        model.objects.filter(external_id="K-0").update(external_id=None)


# --- Bad input never breaks anything ------------------------------------------------------------

GARBAGE_ROW = {
    "external_id": "X-1",
    "title": {"nested": 1},
    "description": ["a"],
    "due_date": "not a date",
    "quantity": "many",
    "start": "yesterday",
    "end": 17,
    "attendees": "everyone",
    "audit": "abc",
    "category": 5,
    "severity": "apocalyptic",
    "status": None,
    "owner": -1,
    "product": 1.5,
    "baseline": "NaN",
    "part_number": None,
}


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_malformed_bodies_are_400_and_write_nothing(world, client, resource, oem_quality):
    auth = {
        "products": key(world, world.oem, Role.BUYER),
        "production-runs": key(world, world.oem, Role.BUYER),
        "findings": key(world, world.oem, Role.QUALITY),
    }.get(resource) or key(world, world.ems, Role.ACCOUNT_MANAGER)
    model = RESOURCES[resource]
    pk = world.ours.pk
    bulk_bodies = [
        [],
        "text",
        {"partnership": "x", "items": []},
        {"partnership": pk},
        {"partnership": pk, "items": "no"},
        {"partnership": pk, "items": []},
        {"partnership": pk, "items": [{}]},
        {"partnership": pk, "items": [{"external_id": ["a"]}, {"external_id": "y" * 101}]},
        {"partnership": pk, "items": [GARBAGE_ROW]},
    ]
    for body in bulk_bodies:
        response = post(client, auth, f"/api/v1/{resource}/bulk-upsert/", body)
        assert response.status_code in (400, 403), (body, response.content)
        assert response.json()["code"] in ("invalid", "parse_error", "permission_denied")
    for external_id, body in [
        ("X-1", {"partnership": pk, **GARBAGE_ROW}),
        ("X-1", ["not", "an", "object"]),
        ("y" * 101, {"partnership": pk}),
    ]:
        response = put(client, auth, f"/api/v1/{resource}/by-external-id/{external_id}/", body)
        assert response.status_code in (400, 403), (body, response.content)
    assert not model.objects.exists()


def test_a_retried_put_with_its_idempotency_key_is_replayed(world, client, ems):
    url = "/api/v1/goals/by-external-id/G-9/"
    body = {
        "partnership": world.ours.pk,
        "horizon": "long",
        "title": "PPM below 100",
        "metric": "PPM",
        "baseline": "400",
        "target": "100",
        "due_date": "2031-01-01",
    }
    first = client.put(
        url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1", **ems
    )
    again = client.put(
        url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1", **ems
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Goal.objects.count() == 1
