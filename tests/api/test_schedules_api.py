"""Schedules API: products and readiness, runs and their actions, ERP bulk upserts (all or
nothing, row errors by index), capacity and load, demand publications, capacity alerts — each
endpoint scoped (foreign ids 404, foreign partnerships in bodies 400) and each write by role."""

import datetime as dt
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from partnership.models import ApiToken
from schedules import services
from schedules.models import (
    CapacityAlert,
    CapacityPlan,
    DemandChange,
    DemandLine,
    DemandPublication,
    PriorityRequest,
    Product,
    ProductionRun,
    ReadinessItem,
)
from schedules.services import monday
from tests.contracts import conftest as contract_fixtures

pytestmark = pytest.mark.django_db

draft = contract_fixtures.draft
active_contract = contract_fixtures.active_contract

BULK = 2000


def api(client, user):
    """An HTTP client authenticating like an ERP: with a personal token."""
    _token, key = ApiToken.issue(user, "erp")
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
    return client


def post(client, url, data=None):
    return client.post(url, data or {}, content_type="application/json")


def patch(client, url, data):
    return client.patch(url, data, content_type="application/json")


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def this_monday():
    return monday(dt.date.today())


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def make_product(world, partnership=None, **fields):
    by = world.buyer if partnership in (None, world.ours) else None
    if by is None:
        from partnership.models import Role
        from tests.factories import member

        by = member(partnership.oem, Role.BUYER)
    data = {"part_number": "MB-200", "revision": "C", "name": "Monitor main board", **fields}
    return services.save_product(by=by, partnership=partnership or world.ours, **data)


@pytest.fixture
def product(world):
    return make_product(world, external_id="SAP-MB-200", units_per_hour=40)


@pytest.fixture
def foreign_product(world):
    return make_product(world, world.theirs, part_number="FX-1", name="Foreign board")


def released(world, product):
    """Every readiness document uploaded by the OEM and approved by the EMS; then released."""
    for item in product.readiness.all():
        services.upload_readiness_file(
            by=world.buyer, item=item, upload=SimpleUploadedFile(f"{item.kind}.zip", b"PK..")
        )
        services.review_readiness_item(by=world.account_manager, item=item, approve=True)
    return services.release_for_launch(by=world.buyer, product=product)


@pytest.fixture
def run(world, product, this_monday):
    return services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=500,
        planned_launch=this_monday + timedelta(weeks=6),
        due_date=this_monday + timedelta(weeks=8),
        external_id="PO-1",
    )


@pytest.fixture
def foreign_run(world, foreign_product, this_monday):
    from partnership.models import Role
    from tests.factories import member

    return services.save_run(
        by=member(world.other_oem, Role.BUYER),
        partnership=world.theirs,
        product=foreign_product,
        quantity=10,
        planned_launch=this_monday,
        due_date=this_monday + timedelta(weeks=1),
    )


def publish_capacity(world, partnership, weeks, amount="1000"):
    by = world.account_manager
    if partnership != world.ours:
        from partnership.models import Role
        from tests.factories import member

        by = member(partnership.ems, Role.PLANNER)
    return services.publish_capacity(
        by=by,
        partnership=partnership,
        rows=[{"week": w.isoformat(), "amount": amount} for w in weeks],
    )


# --- Products -----------------------------------------------------------------------------------


def test_products_show_readiness_within_scope_only(world, client, product, foreign_product, media):
    item = product.readiness.get(kind=ReadinessItem.Kind.BOM)
    for name in ("bom-v1.csv", "bom-v2.csv"):
        services.upload_readiness_file(
            by=world.buyer, item=item, upload=SimpleUploadedFile(name, b"ref,mpn\n")
        )
    api(client, world.account_manager)
    assert ids(client.get("/api/v1/products/")) == [product.pk]
    body = client.get(f"/api/v1/products/{product.pk}/").json()
    assert body["partnership"] == world.ours.pk and body["external_id"] == "SAP-MB-200"
    assert body["launch_ready"] is False
    assert body["blockers"] == ReadinessItem.Kind.values
    readiness = {r["kind"]: r for r in body["readiness"]}
    assert set(readiness) == set(ReadinessItem.Kind.values)
    assert readiness["bom"]["status"] == "submitted" and readiness["bom"]["required"] is True
    assert (readiness["bom"]["latest_file_version"], readiness["bom"]["latest_file_name"]) == (
        2,
        "bom-v2.csv",
    )
    assert readiness["gerber"]["latest_file_version"] is None
    assert readiness["gerber"]["status"] == "missing"

    # Approved and optional items no longer block.
    services.review_readiness_item(by=world.account_manager, item=item, approve=True)
    ReadinessItem.objects.filter(product=product).exclude(kind="bom").update(required=False)
    body = client.get(f"/api/v1/products/{product.pk}/").json()
    assert body["launch_ready"] is True and body["blockers"] == []

    response = client.get(f"/api/v1/products/{foreign_product.pk}/")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "code": "not_found", "detail": "Not found."}


def test_product_list_has_constant_query_count(world, client, django_assert_max_num_queries):
    for n in range(20):
        make_product(world, part_number=f"P-{n}", name=f"Board {n}")
    api(client, world.buyer)
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/products/")
    assert response.json()["count"] == 20
    assert all(len(row["readiness"]) == 7 for row in response.json()["results"])


def test_oem_creates_and_changes_products_others_cannot(world, client):
    data = {
        "partnership": world.ours.pk,
        "part_number": "CB-7",
        "revision": "B",
        "name": "Controller board",
        "ipc_class": 3,
        "units_per_hour": "25.5",
        "external_id": "SAP-CB-7",
    }
    for who in ("account_manager", "ems_admin", "oem_viewer"):
        api(client, getattr(world, who))
        response = post(client, "/api/v1/products/", data)
        assert response.status_code == 403, who
        assert response.json()["code"] == "permission_denied"
    assert not Product.objects.exists()

    api(client, world.buyer)
    response = post(client, "/api/v1/products/", data)
    assert response.status_code == 201, response.content
    body = response.json()
    product = Product.objects.get(pk=body["id"])
    assert (body["ipc_class"], body["units_per_hour"], body["launch_ready"]) == (3, "25.50", False)
    assert len(body["readiness"]) == 7 and product.readiness.count() == 7
    assert product.history.count() == 1

    url = f"/api/v1/products/{product.pk}/"
    response = patch(client, url, {"name": "Controller board v2"})
    assert response.status_code == 200 and response.json()["name"] == "Controller board v2"
    response = client.put(url, {**data, "name": "Controller"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["name"] == "Controller"

    for who in ("account_manager", "oem_viewer"):
        api(client, getattr(world, who))
        assert patch(client, url, {"name": "Hijacked"}).status_code == 403
    product.refresh_from_db()
    assert product.name == "Controller"


def test_product_input_errors_are_field_errors(world, client, product):
    api(client, world.buyer)
    base = {"partnership": world.ours.pk, "part_number": "X-1", "name": "X"}
    for data, fields in (
        ({"external_id": "SAP-MB-200"}, {"external_id"}),
        ({"part_number": "MB-200", "revision": "C"}, {"part_number"}),
        ({"ipc_class": 4, "units_per_hour": "0"}, {"ipc_class", "units_per_hour"}),
        ({"name": ""}, {"name"}),
        ({"partnership": world.theirs.pk}, {"partnership"}),
        ({"partnership": 99999999}, {"partnership"}),
    ):
        response = post(client, "/api/v1/products/", {**base, **data})
        assert response.status_code == 400, data
        assert set(response.json()["errors"]) == fields, response.json()
    assert Product.objects.count() == 1
    # A foreign partnership cannot be told apart from an unknown one.
    foreign = post(client, "/api/v1/products/", {**base, "partnership": world.theirs.pk})
    unknown = post(client, "/api/v1/products/", {**base, "partnership": world.theirs.pk + 999})
    assert foreign.json() == unknown.json()
    # Nor can a product move out of its partnership.
    response = patch(client, f"/api/v1/products/{product.pk}/", {"partnership": world.theirs.pk})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"partnership"}


def test_product_filters(world, client, product, foreign_product):
    other = make_product(world, part_number="PSU-9", name="Power supply", external_id="SAP-PSU")
    api(client, world.buyer)
    assert ids(client.get("/api/v1/products/", {"partnership": world.ours.pk})) == [
        product.pk,
        other.pk,
    ]
    assert ids(client.get("/api/v1/products/", {"partnership": world.theirs.pk})) == []
    assert ids(client.get("/api/v1/products/", {"external_id": "SAP-PSU"})) == [other.pk]
    assert ids(client.get("/api/v1/products/", {"q": "power"})) == [other.pk]
    assert ids(client.get("/api/v1/products/", {"q": "MB-2"})) == [product.pk]
    Product.objects.filter(pk=product.pk).update(updated_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(client.get("/api/v1/products/", {"updated_since": since})) == [other.pk]
    bad = client.get("/api/v1/products/", {"updated_since": "last week", "partnership": "x"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"updated_since", "partnership"}


def test_release_for_launch(world, client, product, media):
    api(client, world.buyer)
    url = f"/api/v1/products/{product.pk}/release/"
    response = post(client, url)
    assert response.status_code == 400
    assert "Not launch-ready" in response.json()["errors"]["non_field_errors"][0]
    for item in product.readiness.all():
        services.upload_readiness_file(
            by=world.buyer, item=item, upload=SimpleUploadedFile(f"{item.kind}.pdf", b"%PDF")
        )
        services.review_readiness_item(by=world.account_manager, item=item, approve=True)
    api(client, world.oem_viewer)
    assert post(client, url).status_code == 403
    api(client, world.buyer)
    response = post(client, url)
    assert response.status_code == 200
    assert response.json()["released_at"] and response.json()["launch_ready"] is True


# --- Product bulk upsert --------------------------------------------------------------------


def product_items(n, *, name="Board", start=0):
    return [
        {
            "external_id": f"ERP-{i:05d}",
            "part_number": f"PN-{i:05d}",
            "revision": "A",
            "name": f"{name} {i}",
            "ipc_class": 2 + i % 2,
            "units_per_hour": "12.50",
        }
        for i in range(start, start + n)
    ]


def upsert(client, items, partnership, what="products"):
    started = time.perf_counter()
    response = post(
        client,
        f"/api/v1/{what}/bulk-upsert/",
        {"partnership": partnership.pk, "items": items},
    )
    return response, time.perf_counter() - started


def test_bulk_upsert_of_2000_products_creates_then_updates(
    world, client, django_assert_max_num_queries, capsys
):
    api(client, world.buyer)
    assert client.get("/api/v1/products/").json()["count"] == 0  # warm up: time the upsert only
    with django_assert_max_num_queries(20):  # no per-row queries
        response, seconds = upsert(client, product_items(BULK), world.ours)
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (BULK, 0, 0)
    assert Product.objects.filter(partnership=world.ours).count() == BULK
    assert ReadinessItem.objects.filter(product__partnership=world.ours).count() == BULK * 7
    assert Product.history.filter(history_type="+").count() == BULK
    by_ext = dict(Product.objects.values_list("external_id", "pk"))
    assert body["items"][1500] == {
        "index": 1500,
        "external_id": "ERP-01500",
        "id": by_ext["ERP-01500"],
        "result": "created",
    }
    with capsys.disabled():
        print(f"\n[bulk upsert] {BULK} new products in one call: {seconds:.2f} s")
    # The same NPI checklist as a product created one by one.
    readiness = client.get(f"/api/v1/products/{by_ext['ERP-00042']}/").json()["readiness"]
    reference = make_product(world, part_number="REF", name="Reference")
    expected = client.get(f"/api/v1/products/{reference.pk}/").json()["readiness"]
    strip = ("id", "updated_at")
    assert [{k: v for k, v in r.items() if k not in strip} for r in readiness] == [
        {k: v for k, v in r.items() if k not in strip} for r in expected
    ]
    reference.delete()

    before = dict(Product.objects.values_list("pk", "updated_at"))
    created_at = dict(Product.objects.values_list("pk", "created_at"))
    items = product_items(BULK, name="Renamed")
    for item in items[:1000]:  # half the ERP rows send only what they know
        del item["units_per_hour"], item["revision"]
    with django_assert_max_num_queries(20):
        response, seconds = upsert(client, items, world.ours)
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (0, BULK, 0)
    with capsys.disabled():
        print(f"[bulk upsert] {BULK} changed products in one call: {seconds:.2f} s")
    assert Product.objects.count() == BULK  # no duplicates
    assert ReadinessItem.objects.count() == BULK * 7
    assert set(Product.objects.values_list("name", flat=True)) == {
        f"Renamed {i}" for i in range(BULK)
    }
    assert dict(Product.objects.values_list("pk", "created_at")) == created_at
    assert all(u > before[pk] for pk, u in Product.objects.values_list("pk", "updated_at"))
    assert Product.history.filter(history_type="~").count() == BULK
    assert body["items"][7]["id"] == by_ext["ERP-00007"]

    # A retry changes nothing, not even updated_at.
    after = dict(Product.objects.values_list("pk", "updated_at"))
    response, _seconds = upsert(client, items, world.ours)
    assert response.json()["unchanged"] == BULK
    assert dict(Product.objects.values_list("pk", "updated_at")) == after


def test_bulk_upsert_with_one_bad_row_writes_nothing(world, client):
    api(client, world.buyer)
    items = product_items(BULK)
    items[1000]["ipc_class"] = 7
    items[1000]["units_per_hour"] = "-1"
    response, _seconds = upsert(client, items, world.ours)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["items"]
    assert list(body["errors"]["items"]) == ["1000"]
    assert set(body["errors"]["items"]["1000"]) == {"ipc_class", "units_per_hour"}
    assert not Product.objects.exists() and not ReadinessItem.objects.exists()

    # The same on updates: a bad row in the middle leaves every existing product as it was.
    assert upsert(client, product_items(100), world.ours)[0].status_code == 200
    items = product_items(100, name="Changed")
    items[50]["name"] = ""
    response, _seconds = upsert(client, items, world.ours)
    assert response.status_code == 400
    assert response.json()["errors"]["items"] == {"50": {"name": ["This field cannot be blank."]}}
    assert not Product.objects.filter(name__startswith="Changed").exists()


def test_bulk_upsert_row_errors(world, client, product):
    api(client, world.buyer)
    items = [
        {"external_id": "A", "part_number": "A-1", "name": "ok"},
        {"part_number": "NO-KEY", "name": "no external id"},
        {"external_id": "A", "part_number": "A-2", "name": "same key again"},
        {"external_id": "B", "part_number": "MB-200", "revision": "C", "name": "taken"},
        "not an object",
        {"external_id": "C", "name": None, "part_number": ["x"]},
        {"external_id": "D", "part_number": "D-1"},
        {"external_id": "E", "part_number": "A-1", "name": "same part as item 0"},
        {"external_id": "F", "part_number": "F-1", "name": "F", "units_per_hour": "1.234"},
        {"external_id": "x" * 101, "part_number": "G", "name": "G"},
    ]
    response, _seconds = upsert(client, items, world.ours)
    assert response.status_code == 400
    errors = response.json()["errors"]["items"]
    assert {k: set(v) for k, v in errors.items()} == {
        "4": {"non_field_errors"},
    }, "non-objects are refused before anything else"
    items[4] = {"external_id": "Z", "part_number": "Z", "name": "Z"}
    response, _seconds = upsert(client, items, world.ours)
    errors = response.json()["errors"]["items"]
    assert {k: set(v) for k, v in errors.items()} == {
        "0": {"part_number"},
        "1": {"external_id"},
        "2": {"external_id"},
        "3": {"part_number"},
        "5": {"name", "part_number"},
        "6": {"name"},
        "7": {"part_number"},
        "8": {"units_per_hour"},
        "9": {"external_id"},
    }
    assert list(errors) == sorted(errors, key=int)
    assert Product.objects.count() == 1

    for bad in ({"items": []}, {"items": {"a": 1}}, {}):
        response = post(
            client, "/api/v1/products/bulk-upsert/", {"partnership": world.ours.pk, **bad}
        )
        assert response.status_code == 400 and set(response.json()["errors"]) == {"items"}


def test_bulk_upsert_updates_products_created_in_the_portal(world, client, product):
    api(client, world.buyer)
    response, _seconds = upsert(
        client, [{"external_id": "SAP-MB-200", "name": "Main board (ERP name)"}], world.ours
    )
    assert response.status_code == 200
    assert response.json()["items"] == [
        {"index": 0, "external_id": "SAP-MB-200", "id": product.pk, "result": "updated"}
    ]
    product.refresh_from_db()
    assert (product.name, product.part_number, product.revision) == (
        "Main board (ERP name)",
        "MB-200",
        "C",
    )
    assert product.history.first().history_user == world.buyer


def test_bulk_upsert_by_role_and_scope(world, client, foreign_product):
    items = product_items(3)
    for who in ("account_manager", "ems_admin", "oem_viewer"):
        api(client, getattr(world, who))
        response, _seconds = upsert(client, items, world.ours)
        assert response.status_code == 403, who
    api(client, world.buyer)
    foreign, _seconds = upsert(client, items, world.theirs)
    unknown = post(
        client,
        "/api/v1/products/bulk-upsert/",
        {"partnership": world.theirs.pk + 999, "items": items},
    )
    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json() == unknown.json()
    assert set(foreign.json()["errors"]) == {"partnership"}
    assert Product.objects.filter(partnership=world.ours).count() == 0
    assert Product.objects.filter(partnership=world.theirs).count() == 1


# --- Production runs ------------------------------------------------------------------------


def test_runs_are_ordered_by_the_oem_only(world, client, product, foreign_product, this_monday):
    data = {
        "partnership": world.ours.pk,
        "product": product.pk,
        "quantity": 250,
        "planned_launch": str(this_monday + timedelta(weeks=4)),
        "due_date": str(this_monday + timedelta(weeks=5)),
        "external_id": "PO-77",
        "priority": 3,
    }
    for who in ("account_manager", "oem_viewer"):
        api(client, getattr(world, who))
        assert post(client, "/api/v1/production-runs/", data).status_code == 403, who
    api(client, world.buyer)
    response = post(client, "/api/v1/production-runs/", data)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["priority"], body["product_part_number"]) == (
        "planned",
        3,
        "MB-200",
    )
    assert body["product_external_id"] == "SAP-MB-200"

    for bad, fields in (
        ({"product": foreign_product.pk}, {"product"}),
        ({"partnership": world.theirs.pk}, {"partnership"}),
        ({"due_date": str(this_monday)}, {"due_date"}),
        ({"quantity": 0}, {"quantity"}),
        ({"external_id": "PO-77"}, {"external_id"}),
    ):
        response = post(client, "/api/v1/production-runs/", {**data, "external_id": None, **bad})
        assert response.status_code == 400, bad
        assert set(response.json()["errors"]) == fields, response.json()
    assert ProductionRun.objects.count() == 1

    url = f"/api/v1/production-runs/{body['id']}/"
    response = patch(client, url, {"quantity": 300, "status": "completed"})
    assert response.status_code == 200
    assert (response.json()["quantity"], response.json()["status"]) == (300, "planned")
    response = patch(client, url, {"priority": 4})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"priority"}
    api(client, world.account_manager)
    assert patch(client, url, {"quantity": 1}).status_code == 403


def test_run_lifecycle_through_the_actions(world, client, product, run, this_monday, media):
    base = f"/api/v1/production-runs/{run.pk}"
    api(client, world.account_manager)
    response = post(client, f"{base}/confirm/")
    assert response.status_code == 400
    assert "not released" in response.json()["errors"]["non_field_errors"][0]
    released(world, product)
    api(client, world.buyer)
    assert post(client, f"{base}/confirm/").status_code == 403  # the OEM cannot confirm
    api(client, world.account_manager)
    response = post(client, f"{base}/confirm/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "confirmed"
    assert response.json()["confirmed_by"]["id"] == world.account_manager.pk

    launch, due = this_monday + timedelta(weeks=7), this_monday + timedelta(weeks=9)
    dates = {"proposed_launch": str(launch), "proposed_due": str(due)}
    api(client, world.buyer)
    assert post(client, f"{base}/propose-dates/", dates).status_code == 403
    api(client, world.account_manager)
    bad = post(client, f"{base}/propose-dates/", {**dates, "proposed_due": str(this_monday)})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"proposed_due"}
    response = post(client, f"{base}/propose-dates/", dates)
    assert response.status_code == 200
    assert response.json()["status"] == "proposed"
    assert response.json()["proposed_launch"] == str(launch)

    assert post(client, f"{base}/answer-dates/", {"accept": True}).status_code == 403
    api(client, world.buyer)
    assert post(client, f"{base}/answer-dates/", {}).status_code == 400
    response = post(client, f"{base}/answer-dates/", {"accept": True})
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["planned_launch"], body["due_date"]) == (
        "confirmed",
        str(launch),
        str(due),
    )
    assert body["proposed_launch"] is None


def test_priority_requests(world, client, run, this_monday):
    url = f"/api/v1/production-runs/{run.pk}/request-priority/"
    data = {"priority": 4, "reason": "Field failure, units needed for swap."}
    api(client, world.account_manager)
    assert post(client, url, data).status_code == 403
    api(client, world.oem_viewer)
    assert post(client, url, data).status_code == 403
    api(client, world.buyer)
    response = post(client, url, {"priority": 9, "reason": ""})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"priority", "reason"}
    response = post(client, url, {**data, "requested_due": str(this_monday + timedelta(weeks=7))})
    assert response.status_code == 201, response.content
    request_id = response.json()["id"]
    assert response.json()["status"] == "pending"
    again = post(client, url, data)
    assert again.status_code == 400 and "already pending" in str(again.json())

    assert ids(client.get("/api/v1/priority-requests/", {"status": "pending"})) == [request_id]
    answer = f"/api/v1/priority-requests/{request_id}/answer/"
    assert post(client, answer, {"accept": True}).status_code == 403  # the OEM cannot answer
    api(client, world.account_manager)
    response = post(client, answer, {"accept": False})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"answer"}
    response = post(client, answer, {"accept": True, "answer": "Moved to line 2."})
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert response.json()["answered_by"]["id"] == world.account_manager.pk
    run.refresh_from_db()
    assert run.priority == 4 and run.due_date == this_monday + timedelta(weeks=7)
    assert post(client, answer, {"accept": True}).status_code == 400


def test_run_filters(world, client, run, foreign_run, product):
    other = services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=1,
        planned_launch=run.planned_launch + timedelta(weeks=10),
        due_date=run.due_date + timedelta(weeks=10),
    )
    api(client, world.account_manager)
    assert ids(client.get("/api/v1/production-runs/")) == [run.pk, other.pk]
    assert ids(client.get("/api/v1/production-runs/", {"external_id": "PO-1"})) == [run.pk]
    assert ids(client.get("/api/v1/production-runs/", {"partnership": world.theirs.pk})) == []
    assert ids(client.get("/api/v1/production-runs/", {"product_external_id": "SAP-MB-200"})) == [
        run.pk,
        other.pk,
    ]
    assert ids(
        client.get("/api/v1/production-runs/", {"launch_from": str(other.planned_launch)})
    ) == [other.pk]
    ProductionRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(client.get("/api/v1/production-runs/", {"updated_since": since})) == [other.pk]


# --- Run bulk upsert ------------------------------------------------------------------------


def run_items(n, product, this_monday, *, by="external_id", weeks=4):
    ref = (
        {"product_external_id": product.external_id}
        if by == "external_id"
        else {"product": product.pk}
    )
    return [
        {
            "external_id": f"PO-{i:05d}",
            **ref,
            "quantity": 100 + i,
            "planned_launch": str(this_monday + timedelta(weeks=weeks)),
            "due_date": str(this_monday + timedelta(weeks=weeks + 1)),
        }
        for i in range(n)
    ]


def test_bulk_upsert_of_runs(
    world, client, product, foreign_product, this_monday, media, django_assert_max_num_queries
):
    api(client, world.buyer)
    items = run_items(1000, product, this_monday)
    items[1::2] = run_items(1000, product, this_monday, by="id")[1::2]
    with django_assert_max_num_queries(20):
        response, _seconds = upsert(client, items, world.ours, "production-runs")
    assert response.status_code == 200, response.content[:500]
    assert response.json()["created"] == 1000
    assert ProductionRun.objects.filter(product=product).count() == 1000

    # The EMS confirms one; the ERP moves every run by a week: the confirmed one goes back.
    released(world, product)
    confirmed = ProductionRun.objects.get(external_id="PO-00010")
    services.confirm_run(by=world.account_manager, run=confirmed)
    moved = run_items(1000, product, this_monday, weeks=5)
    moved[20] = {"external_id": "PO-00020", "quantity": 120}  # unchanged
    response, _seconds = upsert(client, moved, world.ours, "production-runs")
    assert response.status_code == 200, response.content[:500]
    assert (response.json()["updated"], response.json()["unchanged"]) == (999, 1)
    confirmed.refresh_from_db()
    assert confirmed.status == "planned"
    assert confirmed.planned_launch == this_monday + timedelta(weeks=5)
    assert ProductionRun.objects.count() == 1000

    # Bad rows: all reported, nothing written.
    bad = run_items(1000, product, this_monday, weeks=6)
    bad[3]["due_date"] = str(this_monday)
    bad[4]["product"] = foreign_product.pk
    del bad[4]["product_external_id"]
    bad[5]["product_external_id"] = "NOPE"
    bad[6]["priority"] = 4
    bad[7]["quantity"] = 0
    bad.append({"external_id": "NEW", "quantity": 1})
    response, _seconds = upsert(client, bad, world.ours, "production-runs")
    assert response.status_code == 400
    errors = response.json()["errors"]["items"]
    assert {k: set(v) for k, v in errors.items()} == {
        "3": {"due_date"},
        "4": {"product"},
        "5": {"product_external_id"},
        "6": {"priority"},
        "7": {"quantity"},
        "1000": {"product", "planned_launch", "due_date"},
    }
    assert errors["4"]["product"] == ["Choose a product of this partnership."]
    assert not ProductionRun.objects.filter(planned_launch=this_monday + timedelta(weeks=6))
    assert not ProductionRun.objects.filter(external_id="NEW").exists()

    api(client, world.account_manager)
    assert upsert(client, items[:1], world.ours, "production-runs")[0].status_code == 403
    api(client, world.buyer)
    response, _seconds = upsert(client, items[:1], world.theirs, "production-runs")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"partnership"}


# --- Capacity -------------------------------------------------------------------------------


def test_capacity_is_published_by_the_ems_only(world, client, this_monday):
    weeks = [this_monday + timedelta(weeks=i) for i in range(3)]
    rows = [{"week": w.isoformat(), "amount": "800", "line": "SMT-1"} for w in weeks]
    data = {"partnership": world.ours.pk, "rows": rows}
    for who in ("buyer", "oem_admin", "oem_viewer"):
        api(client, getattr(world, who))
        assert post(client, "/api/v1/capacity/publish/", data).status_code == 403, who
    api(client, world.account_manager)
    response = post(client, "/api/v1/capacity/publish/", data)
    assert response.status_code == 200, response.content
    assert response.json() == {"partnership": world.ours.pk, "rows": 3}
    # Republishing upserts by week and line.
    rows[0]["amount"] = "900"
    rows.append({"week": f"{weeks[0]:%G}-W{weeks[0]:%V}", "amount": "50", "line": "THT"})
    assert post(client, "/api/v1/capacity/publish/", data).json()["rows"] == 4
    assert CapacityPlan.objects.count() == 4
    assert CapacityPlan.objects.get(week=weeks[0], line="SMT-1").amount == 900

    foreign = post(client, "/api/v1/capacity/publish/", {**data, "partnership": world.theirs.pk})
    assert foreign.status_code == 400 and set(foreign.json()["errors"]) == {"partnership"}


def test_capacity_with_a_bad_row_writes_nothing(world, client, this_monday):
    api(client, world.account_manager)
    rows = [
        {"week": (this_monday + timedelta(weeks=i)).isoformat(), "amount": "100"}
        for i in range(500)
    ]
    rows[250] = {"week": "someday", "amount": "-3"}
    rows[251]["unit"] = "pallets"
    rows[499]["week"] = rows[0]["week"]
    response = post(
        client, "/api/v1/capacity/publish/", {"partnership": world.ours.pk, "rows": rows}
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["rows"]
    assert {k: set(v) for k, v in errors["rows"].items()} == {
        "250": {"week", "amount"},
        "251": {"unit"},
        "499": {"week"},
    }
    assert not CapacityPlan.objects.exists()

    # Shapes the service cannot take are refused by index too, never a 500.
    rows = [{"week": rows[0]["week"], "amount": "1e15", "unit": 5, "external_id": "x" * 101}]
    response = post(
        client, "/api/v1/capacity/publish/", {"partnership": world.ours.pk, "rows": rows}
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]["rows"]["0"]) == {"amount", "unit", "external_id"}
    assert not CapacityPlan.objects.exists()


def test_capacity_list_filters_and_load(world, client, product, this_monday):
    weeks = [this_monday + timedelta(weeks=i) for i in range(6)]
    publish_capacity(world, world.ours, weeks)
    publish_capacity(world, world.theirs, weeks)
    services.publish_demand(
        by=world.buyer,
        partnership=world.ours,
        rows=[{"product": "MB-200", "week": weeks[1].isoformat(), "quantity": 1200}],
    )
    api(client, world.buyer)
    rows = client.get("/api/v1/capacity/").json()
    assert rows["count"] == 6 and {r["partnership"] for r in rows["results"]} == {world.ours.pk}
    window = {"week_from": str(weeks[2]), "week_to": str(weeks[3])}
    assert [r["week"] for r in client.get("/api/v1/capacity/", window).json()["results"]] == [
        str(weeks[2]),
        str(weeks[3]),
    ]
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert client.get("/api/v1/capacity/", {"updated_since": later}).json()["count"] == 0
    assert client.get("/api/v1/capacity/", {"partnership": world.theirs.pk}).json()["count"] == 0

    response = client.get("/api/v1/capacity/load/", {"partnership": world.ours.pk, "weeks": 4})
    assert response.status_code == 200
    load = response.json()
    assert [row["week"] for row in load] == [str(w) for w in weeks[:4]]
    assert load[1] == {
        "week": str(weeks[1]),
        "capacity": "1000.00",
        "demand": "1200.00",
        "unit": "units",
        "utilisation": "120.0",
    }
    assert load[0]["utilisation"] == "0.0"

    for params in (
        {"partnership": world.theirs.pk},
        {},
        {"partnership": world.ours.pk, "weeks": 0},
    ):
        response = client.get("/api/v1/capacity/load/", params)
        assert response.status_code == 400, params
    foreign = client.get("/api/v1/capacity/load/", {"partnership": world.theirs.pk}).json()
    unknown = client.get("/api/v1/capacity/load/", {"partnership": world.theirs.pk + 99}).json()
    assert foreign == unknown and set(foreign["errors"]) == {"partnership"}


# --- Demand ---------------------------------------------------------------------------------


def demand_rows(weeks, quantity=100, product="MB-200"):
    return [{"product": product, "week": w.isoformat(), "quantity": quantity} for w in weeks]


def test_demand_is_published_by_the_oem_with_a_changes_summary(
    world, client, product, active_contract, this_monday, django_capture_on_commit_callbacks
):
    weeks = [this_monday + timedelta(weeks=i) for i in range(30)]
    data = {"partnership": world.ours.pk, "rows": demand_rows(weeks), "note": "Q3 plan"}
    for who in ("account_manager", "ems_admin", "oem_viewer"):
        api(client, getattr(world, who))
        assert post(client, "/api/v1/demand-publications/", data).status_code == 403, who
    assert not DemandPublication.objects.exists()

    api(client, world.buyer)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, "/api/v1/demand-publications/", data)
    assert response.status_code == 201, response.content
    assert callbacks, "publishing queues an alert refresh after commit"
    body = response.json()
    assert (body["version"], body["lines_count"], body["note"]) == (1, 30, "Q3 plan")
    assert body["changes_summary"] == dict.fromkeys(DemandChange.Verdict.values, 0)
    assert body["published_by"]["id"] == world.buyer.pk

    # Version 2: +5% in week 1 (frozen), +50% in week 6 (beyond 10%), week 29 dropped (-100%).
    rows = demand_rows(weeks[:29])
    rows[1]["quantity"], rows[6]["quantity"] = 105, 150
    response = post(client, "/api/v1/demand-publications/", {**data, "rows": rows})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 2 and body["changes_count"] == 3
    assert sum(body["changes_summary"].values()) == 3
    assert body["changes_summary"]["within"] == 0
    assert body["open_breaches"] == sum(
        body["changes_summary"][v] for v in ("frozen", "increase_breach", "cancellation")
    )
    assert body["open_breaches"] >= 2

    pub = body["id"]
    changes = client.get(f"/api/v1/demand-publications/{pub}/changes/").json()
    assert changes["count"] == 3
    assert [c["week"] for c in changes["results"]] == [str(weeks[i]) for i in (1, 6, 29)]
    assert changes["results"][2]["new_quantity"] == 0

    lines = client.get(f"/api/v1/demand-publications/{pub}/lines/", {"page_size": 10}).json()
    assert lines["count"] == 29 and len(lines["results"]) == 10 and lines["next"]
    assert lines["results"][0]["product_part_number"] == "MB-200"

    ack = f"/api/v1/demand-publications/{pub}/acknowledge/"
    assert post(client, ack).status_code == 403  # the OEM does not acknowledge its own changes
    api(client, world.account_manager)
    response = post(client, ack)
    assert response.status_code == 200
    assert response.json() == {"acknowledged": body["open_breaches"]}
    assert client.get(f"/api/v1/demand-publications/{pub}/").json()["open_breaches"] == 0
    assert post(client, ack).json() == {"acknowledged": 0}


def test_demand_with_a_bad_row_writes_nothing(world, client, product, foreign_product, this_monday):
    api(client, world.buyer)
    weeks = [this_monday + timedelta(weeks=i) for i in range(3000)]
    rows = demand_rows(weeks)
    rows[1500]["quantity"] = -1
    rows[1501]["product"] = "FX-1"  # the other partnership's part number: unknown here
    rows[1502]["week"] = "W99"
    rows[2999]["quantity"] = 10**12
    data = {"partnership": world.ours.pk, "rows": rows}
    response = post(client, "/api/v1/demand-publications/", data)
    assert response.status_code == 400
    assert set(response.json()["errors"]["rows"]) == {"2999"}  # would overflow the column
    rows[2999]["quantity"] = 1
    response = post(client, "/api/v1/demand-publications/", data)
    assert response.status_code == 400
    errors = response.json()["errors"]["rows"]
    assert {k: set(v) for k, v in errors.items()} == {
        "1500": {"quantity"},
        "1501": {"product"},
        "1502": {"week"},
    }
    assert not DemandPublication.objects.exists() and not DemandLine.objects.exists()

    del rows[1500:1503]
    response = post(client, "/api/v1/demand-publications/", data)
    assert response.status_code == 201, response.content[:300]
    assert response.json()["lines_count"] == 2997

    foreign = post(client, "/api/v1/demand-publications/", {**data, "partnership": world.theirs.pk})
    assert foreign.status_code == 400 and set(foreign.json()["errors"]) == {"partnership"}
    empty = post(client, "/api/v1/demand-publications/", {**data, "rows": []})
    assert empty.status_code == 400 and set(empty.json()["errors"]) == {"rows"}


def test_demand_publication_retry_with_external_id_is_idempotent(
    world, client, product, this_monday
):
    api(client, world.buyer)
    data = {
        "partnership": world.ours.pk,
        "rows": demand_rows([this_monday]),
        "external_id": "FC-2027-05",
    }
    first = post(client, "/api/v1/demand-publications/", data)
    assert first.status_code == 201
    again = post(client, "/api/v1/demand-publications/", data)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert DemandPublication.objects.count() == 1
    listed = client.get("/api/v1/demand-publications/", {"external_id": "FC-2027-05"}).json()
    assert [p["id"] for p in listed["results"]] == [first.json()["id"]]


def test_demand_above_capacity_opens_alerts(world, client, product, this_monday):
    weeks = [this_monday + timedelta(weeks=i) for i in range(4)]
    api(client, world.account_manager)
    rows = [{"week": w.isoformat(), "amount": "1000"} for w in weeks]
    assert (
        post(
            client, "/api/v1/capacity/publish/", {"partnership": world.ours.pk, "rows": rows}
        ).status_code
        == 200
    )
    api(client, world.buyer)
    rows = [
        {"product": product.external_id, "week": w.isoformat(), "quantity": q}
        for w, q in zip(weeks, [500, 950, 1200, 100], strict=True)
    ]
    response = post(
        client, "/api/v1/demand-publications/", {"partnership": world.ours.pk, "rows": rows}
    )
    assert response.status_code == 201
    assert client.get("/api/v1/capacity-alerts/").json()["count"] == 0
    # The API queues the refresh after commit; this test's transaction never commits.
    services.refresh_alerts(world.ours)

    alerts = client.get("/api/v1/capacity-alerts/").json()["results"]
    assert [(a["week"], a["kind"], a["severity"], a["status"]) for a in alerts] == [
        (str(weeks[1]), "overload", "warning", "open"),
        (str(weeks[2]), "overload", "critical", "open"),
    ]
    assert alerts[1]["utilisation"] == "120.0"
    critical = alerts[1]["id"]
    assert ids(client.get("/api/v1/capacity-alerts/", {"severity": "critical"})) == [critical]
    assert ids(client.get("/api/v1/capacity-alerts/", {"kind": "flex_breach"})) == []
    assert ids(client.get("/api/v1/capacity-alerts/", {"partnership": world.theirs.pk})) == []

    url = f"/api/v1/capacity-alerts/{critical}/acknowledge/"
    api(client, world.oem_viewer)
    assert post(client, url).status_code == 403
    api(client, world.account_manager)
    response = post(client, url)
    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    assert response.json()["acknowledged_by"]["id"] == world.account_manager.pk
    assert post(client, url).status_code == 400
    assert ids(client.get("/api/v1/capacity-alerts/", {"status": "open"})) == [alerts[0]["id"]]
    CapacityAlert.objects.filter(pk=alerts[0]["id"]).update(
        updated_at=timezone.now() - timedelta(days=1)
    )
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert ids(client.get("/api/v1/capacity-alerts/", {"updated_since": since})) == [critical]


# --- Isolation ------------------------------------------------------------------------------


@pytest.fixture
def ours(world, product, run, this_monday):
    """One object of ours behind every endpoint."""
    publish_capacity(world, world.ours, [this_monday + timedelta(weeks=i) for i in range(3)])
    publication = services.publish_demand(
        by=world.buyer,
        partnership=world.ours,
        rows=demand_rows([this_monday + timedelta(weeks=i) for i in range(3)], quantity=5000),
    )
    services.refresh_alerts(world.ours)
    priority = services.request_priority(by=world.buyer, run=run, priority=4, reason="Rush")
    return {
        "products": product.pk,
        "production-runs": run.pk,
        "priority-requests": priority.pk,
        "capacity": CapacityPlan.objects.filter(partnership=world.ours).first().pk,
        "demand-publications": publication.pk,
        "capacity-alerts": CapacityAlert.objects.filter(partnership=world.ours).first().pk,
    }


DETAIL_GETS = {
    "products": [""],
    "production-runs": [""],
    "priority-requests": [""],
    "capacity": [""],
    "demand-publications": ["", "lines/", "changes/"],
    "capacity-alerts": [""],
}
DETAIL_POSTS = {
    "products": [("release/", {})],
    "production-runs": [
        ("confirm/", {}),
        ("propose-dates/", {"proposed_launch": "2030-01-07", "proposed_due": "2030-01-14"}),
        ("answer-dates/", {"accept": True}),
        ("request-priority/", {"priority": 4, "reason": "x"}),
    ],
    "priority-requests": [("answer/", {"accept": True})],
    "demand-publications": [("acknowledge/", {})],
    "capacity-alerts": [("acknowledge/", {})],
}


@pytest.mark.parametrize("who", ["outsider", "foreign_ems"])
def test_every_endpoint_answers_404_for_foreign_ids_and_lists_nothing(world, client, ours, who):
    if who == "foreign_ems":
        from partnership.models import Role
        from tests.factories import member

        user = member(world.other_ems, Role.ADMIN)
    else:
        user = world.outsider
    snapshot = (
        list(ProductionRun.objects.values_list("status", "priority", "planned_launch")),
        list(PriorityRequest.objects.values_list("status", flat=True)),
        list(CapacityAlert.objects.values_list("status", flat=True)),
        list(DemandChange.objects.values_list("acknowledged_at", flat=True)),
        list(Product.objects.values_list("name", "released_at")),
    )
    api(client, user)
    for prefix, pk in ours.items():
        for suffix in DETAIL_GETS[prefix]:
            url = f"/api/v1/{prefix}/{pk}/{suffix}"
            response = client.get(url)
            assert response.status_code == 404, url
            assert response.json() == {"status": 404, "code": "not_found", "detail": "Not found."}
        for suffix, data in DETAIL_POSTS.get(prefix, []):
            url = f"/api/v1/{prefix}/{pk}/{suffix}"
            assert post(client, url, data).status_code == 404, url
        if prefix in ("products", "production-runs"):
            url = f"/api/v1/{prefix}/{pk}/"
            assert patch(client, url, {"name": "x", "quantity": 1}).status_code == 404, url
        listed = client.get(f"/api/v1/{prefix}/")
        assert listed.status_code == 200 and listed.json()["count"] == 0, prefix
        probe = client.get(f"/api/v1/{prefix}/", {"partnership": world.ours.pk})
        assert probe.json()["count"] == 0, prefix
    load = client.get("/api/v1/capacity/load/", {"partnership": world.ours.pk})
    assert load.status_code == 400 and set(load.json()["errors"]) == {"partnership"}
    assert snapshot == (
        list(ProductionRun.objects.values_list("status", "priority", "planned_launch")),
        list(PriorityRequest.objects.values_list("status", flat=True)),
        list(CapacityAlert.objects.values_list("status", flat=True)),
        list(DemandChange.objects.values_list("acknowledged_at", flat=True)),
        list(Product.objects.values_list("name", "released_at")),
    )


def test_bodies_naming_a_foreign_partnership_are_400(world, client, ours, this_monday):
    api(client, world.outsider)  # an OEM admin of the other partnership, writing into ours
    week = this_monday.isoformat()
    for url, data in (
        ("/api/v1/products/", {"part_number": "X", "name": "X"}),
        ("/api/v1/products/bulk-upsert/", {"items": [{"external_id": "X"}]}),
        ("/api/v1/production-runs/", {"quantity": 1}),
        ("/api/v1/production-runs/bulk-upsert/", {"items": [{"external_id": "X"}]}),
        ("/api/v1/capacity/publish/", {"rows": [{"week": week, "amount": 1}]}),
        (
            "/api/v1/demand-publications/",
            {"rows": [{"product": "MB-200", "week": week, "quantity": 1}]},
        ),
    ):
        response = post(client, url, {"partnership": world.ours.pk, **data})
        assert response.status_code == 400, url
        assert "partnership" in response.json()["errors"], url
        assert response.json()["errors"]["partnership"] == ["No partnership of yours has this id."]
    # A product of ours cannot be named from outside either.
    response = post(
        client,
        "/api/v1/production-runs/",
        {"partnership": world.theirs.pk, "product": ours["products"], "quantity": 1},
    )
    assert response.status_code == 400
    assert response.json()["errors"]["product"] == ["No product of yours has this id."]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/products/abc/",
        "/api/v1/products/99999999999999999999/",
        "/api/v1/production-runs/1.5/",
        "/api/v1/priority-requests/-1/",
        "/api/v1/capacity/abc/",
        "/api/v1/demand-publications/abc/lines/",
        "/api/v1/capacity-alerts/99999999999999999999/",
    ],
)
def test_malformed_ids_answer_404(world, client, url):
    api(client, world.buyer)
    assert client.get(url).status_code == 404


def test_unauthenticated_requests_get_401(world, client):
    for url in ("/api/v1/products/", "/api/v1/capacity/load/", "/api/v1/capacity-alerts/"):
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
    response = post(client, "/api/v1/products/bulk-upsert/", {})
    assert response.status_code == 401


def test_read_only_endpoints_refuse_writes(world, client, ours):
    api(client, world.ems_admin)
    assert post(client, "/api/v1/capacity/", {}).status_code == 405
    assert post(client, "/api/v1/capacity-alerts/", {}).status_code == 405
    assert post(client, "/api/v1/priority-requests/", {}).status_code == 405
    pub = ours["demand-publications"]
    assert patch(client, f"/api/v1/demand-publications/{pub}/", {"note": "x"}).status_code == 405
    assert client.delete(f"/api/v1/products/{ours['products']}/").status_code == 405
    assert client.delete(f"/api/v1/production-runs/{ours['production-runs']}/").status_code == 405


# --- Run changes against the flex terms, long-lead material ------------------------------------


def test_bulk_upserts_judge_committed_runs_like_single_changes(
    world, client, product, this_monday, media, active_contract
):
    """Week 5–8 band: push-out ≤ 2 weeks. One confirmed run is pushed 1 week (stays confirmed),
    another 3 weeks (back to planned); one notification for the lot."""
    api(client, world.buyer)
    items = run_items(2, product, this_monday, weeks=5)
    assert upsert(client, items, world.ours, "production-runs")[0].status_code == 200
    released(world, product)
    for run in ProductionRun.objects.all():
        services.confirm_run(by=world.account_manager, run=run)
    moved = [
        {"external_id": "PO-00000", "due_date": str(this_monday + timedelta(weeks=7))},
        {"external_id": "PO-00001", "due_date": str(this_monday + timedelta(weeks=9))},
    ]
    from partnership.models import Notification

    before = Notification.objects.filter(user=world.account_manager).count()
    response, _seconds = upsert(client, moved, world.ours, "production-runs")
    assert response.status_code == 200, response.content
    statuses = dict(ProductionRun.objects.values_list("external_id", "status"))
    assert statuses == {"PO-00000": "confirmed", "PO-00001": "planned"}
    confirmed_by = dict(ProductionRun.objects.values_list("external_id", "confirmed_by"))
    assert confirmed_by == {"PO-00000": world.account_manager.pk, "PO-00001": None}
    response = client.get("/api/v1/run-changes/", {"partnership": world.ours.pk})
    rows = {r["run"]: r for r in response.json()["results"]}
    verdicts = {
        ProductionRun.objects.get(pk=pk).external_id: row["verdict"] for pk, row in rows.items()
    }
    assert verdicts == {"PO-00000": "within", "PO-00001": "push_out_breach"}
    assert Notification.objects.filter(user=world.account_manager).count() == before + 1
    response = client.get("/api/v1/run-changes/", {"verdict": "push_out_breach"})
    assert [r["is_breach"] for r in response.json()["results"]] == [True]


def test_run_changes_are_scoped(world, client, foreign_run, this_monday):
    from schedules.models import RunChange
    from tests.factories import member

    change = RunChange.objects.create(
        run=foreign_run,
        changed_by=member(world.other_oem, "buyer"),
        weeks_out=3,
        previous_launch=this_monday,
        previous_due=this_monday,
        new_launch=this_monday,
        new_due=this_monday + timedelta(days=1),
        previous_quantity=1,
        new_quantity=1,
        verdict="frozen",
    )
    api(client, world.buyer)
    assert ids(client.get("/api/v1/run-changes/")) == []
    assert ids(client.get("/api/v1/run-changes/", {"run": foreign_run.pk})) == []
    assert client.get(f"/api/v1/run-changes/{change.pk}/").status_code == 404
    assert client.delete(f"/api/v1/run-changes/{change.pk}/").status_code in (404, 405)


def test_long_lead_items_through_the_api(world, client, product, foreign_product):
    api(client, world.account_manager)
    body = {
        "product": product.pk,
        "component": "FPGA XC7A35T",
        "lead_time_weeks": 16,
        "quantity_per_assembly": "1",
        "unit_price": "38.5",
        "external_id": "EMS-LL-1",
    }
    response = post(client, "/api/v1/long-lead-items/", body)
    assert response.status_code == 201, response.content
    item = response.json()
    assert item["cost_per_assembly"].startswith("38.5")
    # Field-level errors, nothing written.
    response = post(
        client,
        "/api/v1/long-lead-items/",
        {**body, "component": "", "lead_time_weeks": 0, "unit_price": "-1"},
    )
    assert response.status_code == 400
    assert {"component", "lead_time_weeks", "unit_price"} <= set(response.json()["errors"])
    response = post(client, "/api/v1/long-lead-items/", body)  # same component again
    assert response.status_code == 400
    response = post(client, "/api/v1/long-lead-items/", {**body, "product": foreign_product.pk})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"product"}
    response = patch(client, f"/api/v1/long-lead-items/{item['id']}/", {"unit_price": "40"})
    assert response.status_code == 200 and response.json()["unit_price"].startswith("40")
    # The OEM reads but cannot write.
    api(client, world.buyer)
    assert ids(client.get("/api/v1/long-lead-items/", {"product": product.pk})) == [item["id"]]
    assert (
        patch(client, f"/api/v1/long-lead-items/{item['id']}/", {"unit_price": "1"}).status_code
        == 403
    )
    assert client.delete(f"/api/v1/long-lead-items/{item['id']}/").status_code == 403
    # Another organisation sees nothing.
    from tests.factories import member

    api(client, member(world.other_ems, "account_manager"))
    assert ids(client.get("/api/v1/long-lead-items/")) == []
    assert client.get(f"/api/v1/long-lead-items/{item['id']}/").status_code == 404
    assert client.delete(f"/api/v1/long-lead-items/{item['id']}/").status_code == 404
    api(client, world.account_manager)
    assert client.delete(f"/api/v1/long-lead-items/{item['id']}/").status_code == 204
    from integrations.models import Tombstone

    assert Tombstone.objects.filter(object_type="long-lead-items", object_id=item["id"]).exists()


def test_long_lead_items_upsert_by_external_id(world, client, product, foreign_product):
    from schedules.models import LongLeadItem

    api(client, world.account_manager)
    url = "/api/v1/long-lead-items/by-external-id/EMS-LL-7/"
    body = {
        "partnership": world.ours.pk,
        "product": product.pk,
        "component": "MCU STM32H7",
        "lead_time_weeks": 20,
        "unit_price": "9.80",
    }
    response = client.put(url, body, content_type="application/json")
    assert response.status_code == 201, response.content
    response = client.put(
        url, {"partnership": world.ours.pk, "unit_price": "10.10"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["unit_price"].startswith("10.1")
    rows = [
        {"external_id": "EMS-LL-7", "lead_time_weeks": 22},
        {"external_id": "EMS-LL-8", "product": product.pk, "component": "DDR4", "unit_price": "3"},
    ]
    response = post(
        client,
        "/api/v1/long-lead-items/bulk-upsert/",
        {"partnership": world.ours.pk, "items": rows},
    )
    assert response.status_code == 400  # the new row lacks its lead time: nothing written
    assert set(response.json()["errors"]["items"]) == {"1"}
    assert LongLeadItem.objects.get(external_id="EMS-LL-7").lead_time_weeks == 20
    rows[1]["lead_time_weeks"] = 8
    response = post(
        client,
        "/api/v1/long-lead-items/bulk-upsert/",
        {"partnership": world.ours.pk, "items": rows},
    )
    assert response.status_code == 200, response.content
    assert (response.json()["created"], response.json()["updated"]) == (1, 1)
    # A product of another partnership, another partnership, and the OEM: refused, unchanged.
    bad = [{"external_id": "EMS-LL-9", **{**body, "product": foreign_product.pk}}]
    bad[0].pop("partnership")
    response = post(
        client, "/api/v1/long-lead-items/bulk-upsert/", {"partnership": world.ours.pk, "items": bad}
    )
    assert response.status_code == 400
    response = client.put(
        url, {**body, "partnership": world.theirs.pk}, content_type="application/json"
    )
    assert response.status_code == 400 and set(response.json()["errors"]) == {"partnership"}
    api(client, world.buyer)
    response = client.put(url, body, content_type="application/json")
    assert response.status_code == 403
    assert LongLeadItem.objects.count() == 2
