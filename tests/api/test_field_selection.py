"""``?fields=`` on every list and retrieve: only the fields asked for, 400 for unknown names,
documented for every such operation, and never more queries than a full read."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from schedules import services as schedule_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def products(world):
    return [
        schedule_services.save_product(
            by=world.buyer,
            partnership=partnership,
            part_number=f"PN-{partnership.pk}-{n}",
            name="Board",
            external_id=f"ERP-{n}",
        )
        for partnership, by in ((world.ours, world.buyer),)
        for n in range(3)
    ]


@pytest.fixture
def schema(client, world):
    client.force_login(world.buyer)
    return client.get("/api/schema/?format=json").json()


def selecting_operations(schema):
    return [
        (path, op)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if method == "get" and any(p["name"] == "fields" for p in op.get("parameters", []))
    ]


def test_list_and_retrieve_answer_only_the_fields_asked_for(world, client, products):
    client.force_login(world.buyer)
    body = client.get("/api/v1/products/?fields=id,part_number").json()
    assert body["count"] == 3
    assert [set(row) for row in body["results"]] == [{"id", "part_number"}] * 3
    # Repeating the parameter is the same as a comma-separated list (generated clients do it).
    again = client.get("/api/v1/products/?fields=id&fields=part_number").json()
    assert again["results"] == body["results"]
    detail = client.get(f"/api/v1/products/{products[0].pk}/?fields=external_id,launch_ready")
    assert detail.status_code == 200
    assert detail.json() == {"external_id": "ERP-0", "launch_ready": False}
    assert detail.has_header("ETag")
    # Writes ignore it: a PATCH answers the whole object.
    full = client.get(f"/api/v1/products/{products[0].pk}/").json()
    assert "readiness" in full and len(full) > 10


def test_unknown_fields_are_a_field_error_naming_the_valid_ones(world, client, products):
    client.force_login(world.buyer)
    for url in (
        "/api/v1/products/?fields=id,colour,weight",
        f"/api/v1/products/{products[0].pk}/?fields=colour",
        "/api/v1/products/?fields=",
        "/api/v1/products/?fields=,,",
    ):
        response = client.get(url)
        assert response.status_code == 400, url
        body = response.json()
        assert body["code"] == "invalid" and set(body["errors"]) == {"fields"}
        (message,) = body["errors"]["fields"]
        assert "Valid fields: id, partnership, part_number" in message
    message = client.get("/api/v1/products/?fields=id,colour,weight").json()["errors"]["fields"][0]
    assert message.startswith("Unknown field(s): colour, weight.")


def test_sync_pages_and_keys_honour_fields(world, client, products):
    client.force_login(world.buyer)
    body = client.get(
        "/api/v1/products/?updated_since=2000-01-01T00:00:00Z&page_size=2&fields=id,updated_at"
    ).json()
    assert [set(r) for r in body["results"]] == [{"id", "updated_at"}] * 2
    rest = client.get(body["next"]).json()
    assert [set(r) for r in rest["results"]] == [{"id", "updated_at"}]
    ids = [r["id"] for r in body["results"] + rest["results"]]
    assert sorted(ids) == sorted(p.pk for p in products)


def test_a_slim_read_gives_the_whole_objects_etag_for_if_match(world, client, products):
    client.force_login(world.buyer)
    url = f"/api/v1/products/{products[0].pk}/"
    slim = client.get(f"{url}?fields=id")
    assert slim["ETag"] == client.get(url)["ETag"]
    changed = client.patch(
        url, {"name": "Board B"}, content_type="application/json", HTTP_IF_MATCH=slim["ETag"]
    )
    assert changed.status_code == 200, changed.content
    stale = client.patch(
        url, {"name": "Board C"}, content_type="application/json", HTTP_IF_MATCH=slim["ETag"]
    )
    assert stale.status_code == 412
    assert client.get(f"{url}?fields=id", HTTP_IF_NONE_MATCH=changed["ETag"]).status_code == 304
    # Answers that are not the object itself (a scorecard) are tagged as they are.
    card = client.get(f"/api/v1/scorecards/{world.ours.pk}/?fields=partnership,ems")
    assert card.status_code == 200 and card.json() == {
        "partnership": world.ours.pk,
        "ems": world.ems.pk,
    }
    assert card.has_header("ETag")


def test_foreign_objects_stay_404_with_fields(world, client, products):
    client.force_login(world.outsider)
    response = client.get(f"/api/v1/products/{products[0].pk}/?fields=id")
    assert response.status_code == 404
    assert client.get("/api/v1/products/?fields=id").json()["count"] == 0


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_unselected_prefetches_are_skipped_and_counts_stay_bounded(world, client, products):
    client.force_login(world.buyer)
    full = count_queries(client, "/api/v1/products/")
    slim = count_queries(client, "/api/v1/products/?fields=id,part_number")
    computed = count_queries(client, "/api/v1/products/?fields=id,launch_ready")
    assert slim == full - 1  # no readiness prefetch
    assert computed == full  # launch_ready reads the readiness items: prefetched, not N+1
    for n in range(5):
        schedule_services.save_product(
            by=world.buyer, partnership=world.ours, part_number=f"MORE-{n}", name="Board"
        )
    assert count_queries(client, "/api/v1/products/?fields=id,launch_ready") == computed
    assert count_queries(client, "/api/v1/products/?fields=id,part_number") == slim


def test_every_list_and_retrieve_documents_fields(schema):
    documented = {path for path, _op in selecting_operations(schema)}
    # The router's list (/resource/) and retrieve (/resource/{id}/) paths.
    list_and_retrieve = {
        path
        for path, ops in schema["paths"].items()
        if "get" in ops and re.fullmatch(r"/api/v1/[\w-]+/(\{\w+\}/)?", path)
    }
    assert list_and_retrieve == documented
    assert len(documented) >= 40
    for _path, op in selecting_operations(schema):
        (param,) = [p for p in op["parameters"] if p["name"] == "fields"]
        assert param["in"] == "query" and param["schema"]["items"]["enum"]
    # With fields= any property may be left out: the objects of those answers require none.
    assert "required" not in schema["components"]["schemas"]["Product"]
    assert schema["components"]["schemas"]["PaginatedProductList"]["required"] == [
        "count",
        "results",
    ]


def test_every_list_endpoint_selects_and_rejects(world, client, schema, products):
    """Each list of /api/v1/ answers only the one field asked for, and 400 for a made-up one."""
    client.force_login(world.buyer)
    lists = [
        (path, op)
        for path, op in selecting_operations(schema)
        if "{" not in path and op["operationId"].endswith("_list")
    ]
    assert len(lists) >= 15
    for path, op in lists:
        (param,) = [p for p in op["parameters"] if p["name"] == "fields"]
        first = param["schema"]["items"]["enum"][0]
        response = client.get(f"{path}?fields={first}")
        assert response.status_code == 200, (path, response.content)
        body = response.json()
        for row in body["results"]:
            assert set(row) == {first}, path
        bad = client.get(f"{path}?fields=no_such_field")
        assert bad.status_code == 400, path
        assert "no_such_field" in bad.json()["errors"]["fields"][0]
