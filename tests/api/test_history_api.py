"""The audit trail through the API: read-only, paginated, filtered by time and type, scoped."""

import datetime as dt

import pytest
from django.utils import timezone

from partnership.models import ApiToken
from schedules import services as schedules
from schedules.services import monday

pytestmark = pytest.mark.django_db

START = monday(dt.date(2030, 3, 4))


@pytest.fixture
def run(world):
    product = schedules.save_product(
        by=world.buyer, partnership=world.ours, part_number="MB-200", name="Board"
    )
    return schedules.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=500,
        planned_launch=START,
        due_date=START + dt.timedelta(days=4),
    )


def url(partnership):
    return f"/api/v1/partnerships/{partnership.pk}/history/"


def test_the_ems_reads_who_changed_a_run_through_a_token(world, client, run):
    client.force_login(world.account_manager)
    client.post(run.get_absolute_url(), {"what": "propose", "launch": START, "due": "2030-03-20"})
    _token, key = ApiToken.issue(world.ems_admin, "ERP")
    client.logout()
    body = client.get(url(world.ours), HTTP_AUTHORIZATION=f"Token {key}").json()
    assert {"count", "next", "previous", "results"} <= set(body)
    kinds = [row["kind"] for row in body["results"]]
    assert kinds.count("run") == 2 and kinds.count("product") == 1
    assert kinds.count("readiness-item") == 7  # the product's NPI checklist
    newest = body["results"][0]
    assert (newest["kind"], newest["object_id"], newest["action"]) == ("run", run.pk, "changed")
    assert newest["user_id"] == world.account_manager.pk
    assert newest["organisation"] == world.ems.name
    changes = {c["field"]: c for c in newest["changes"]}
    assert changes["proposed_due"]["before"] == "" and changes["proposed_due"]["label"]
    assert dt.datetime.fromisoformat(newest["at"]) <= timezone.now()


def test_since_kind_and_pages_filter_the_trail(world, client, run):
    client.force_login(world.buyer)
    cutoff = timezone.now()
    schedules.propose_dates(by=world.account_manager, run=run, launch=START, due=START)
    recent = client.get(url(world.ours), {"since": cutoff.isoformat()}).json()
    assert recent["count"] == 1 and recent["results"][0]["kind"] == "run"
    assert client.get(url(world.ours), {"kind": "product"}).json()["count"] == 1
    first = client.get(url(world.ours), {"kind": "run", "page_size": 1}).json()
    second = client.get(first["next"]).json()
    assert first["count"] == 2 and len(first["results"]) == len(second["results"]) == 1
    assert first["results"][0]["action"] == "changed"
    assert second["results"][0]["action"] == "created"
    assert second["next"] is None
    for bad in ({"since": "yesterday"}, {"kind": "user"}, {"page": "9"}):
        response = client.get(url(world.ours), bad)
        assert response.status_code in (400, 404), bad
        assert response.json()["status"] == response.status_code
    assert client.get(url(world.ours), {"since": "yesterday"}).json()["errors"]["since"]


def test_history_cannot_be_written_and_stays_inside_the_partnership(world, client, run):
    client.force_login(world.ems_admin)
    for method in ("put", "patch", "delete", "post"):
        response = getattr(client, method)(url(world.ours), {}, content_type="application/json")
        assert response.status_code == 405, method
    assert client.get(url(world.theirs)).status_code == 404
    client.force_login(world.outsider)
    assert client.get(url(world.ours)).status_code == 404
    client.logout()
    assert client.get(url(world.ours)).status_code in (401, 403)


def test_the_history_endpoint_is_documented(world, client):
    client.force_login(world.buyer)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/partnerships/{id}/history/"]
    assert set(operation) == {"get", "parameters"} or set(operation) == {"get"}
    names = {p["name"] for p in operation["get"]["parameters"]}
    assert {"since", "kind", "page", "page_size"} <= names
