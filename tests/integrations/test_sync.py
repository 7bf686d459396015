"""ERP sync over HTTP: keyset cursor syncs that neither skip nor repeat rows while rows change,
tombstones for deletions and closures (scoped), idempotent retries with Idempotency-Key, and
ETag / If-None-Match / If-Match optimistic concurrency."""

import datetime as dt
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from comms import services as comms_services
from comms.models import Goal, Meeting, Problem
from contracts.models import DecisionRequest
from integrations.idempotency import RETENTION, purge_expired_records
from integrations.models import IdempotencyRecord, Tombstone
from partnership import events
from partnership.models import ApiToken
from schedules import services as schedule_services
from schedules.models import Product, ProductionRun
from tests.api.test_contracts_api import SUBSTITUTION_OUTSIDE_AVL
from tests.comms import conftest as comms_fixtures
from tests.contracts import conftest as contract_fixtures

pytestmark = pytest.mark.django_db

# Other apps' fixtures: a weekly series with its EMS attendee; a contract signed by both sides.
ems_engineer = comms_fixtures.ems_engineer
weekly = comms_fixtures.weekly
draft = contract_fixtures.draft
active_contract = contract_fixtures.active_contract


def api(client, user):
    """An HTTP client authenticating like an ERP: with a personal token."""
    _token, key = ApiToken.issue(user, "erp")
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
    return client


def post(client, url, data, **headers):
    return client.post(url, data, content_type="application/json", headers=headers)


def patch(client, url, data, **headers):
    return client.patch(url, data, content_type="application/json", headers=headers)


def bulk_products(partnership, count, *, prefix="P", at=None):
    """``count`` products, with ``updated_at`` in groups of seven equal timestamps (bulk writes
    stamp many rows alike; the id must break the ties, also across page boundaries)."""
    Product.objects.bulk_create(
        Product(partnership=partnership, part_number=f"{prefix}-{i:04}", revision="A", name=f"{i}")
        for i in range(count)
    )
    rows = list(
        Product.objects.filter(partnership=partnership, part_number__startswith=f"{prefix}-")
    )
    at = at or timezone.now() - timedelta(hours=1)
    for i, product in enumerate(sorted(rows, key=lambda p: p.part_number)):
        product.updated_at = at + timedelta(seconds=i // 7)
    Product.objects.bulk_update(rows, ["updated_at"])  # bulk_update keeps the given values
    return [p.pk for p in sorted(rows, key=lambda p: (p.updated_at, p.pk))]


def follow(client, url, params, *, between=None):
    """Every page of a sync; ``between(page_number, seen_ids)`` runs after each page."""
    pages, response = [], client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append(body)
        if between:
            between(len(pages), [row["id"] for page in pages for row in page["results"]])
        if not body["next"]:
            return pages
        response = client.get(body["next"])


def ids_of(pages):
    return [row["id"] for page in pages for row in page["results"]]


def touch(product, by, **fields):
    return schedule_services.save_product(
        by=by, partnership=product.partnership, product=product, **fields
    )


# --- Incremental sync: keyset cursor over (updated_at, id) -----------------------------------


def test_cursor_sync_never_skips_or_repeats_while_rows_change(world, client):
    order = bulk_products(world.ours, 250)
    bulk_products(world.theirs, 30, prefix="X")  # never seen
    api(client, world.buyer)
    since = (timezone.now() - timedelta(days=1)).isoformat()
    changed_seen, changed_unseen, created, deleted = [], [], [], []

    def meanwhile(page, seen):
        """Between page fetches: change rows already sent and rows still to come, add rows,
        delete one still to come."""
        if page not in (1, 3):
            return
        ahead = [pk for pk in order if pk not in seen and pk not in changed_unseen + deleted]
        for pk in seen[:3] + seen[-2:]:  # sent: the first rows and the page boundary
            touch(Product.objects.get(pk=pk), world.buyer, name=f"changed after page {page}")
            changed_seen.append(pk)
        for pk in [ahead[0], ahead[1], ahead[60], ahead[-1]]:  # next page's first rows too
            touch(Product.objects.get(pk=pk), world.buyer, name=f"changed before sent {page}")
            changed_unseen.append(pk)
        doomed = Product.objects.get(pk=ahead[30])
        deleted.append(doomed.pk)
        doomed.delete()
        for i in range(2):
            new = schedule_services.save_product(
                by=world.buyer,
                partnership=world.ours,
                part_number=f"NEW-{page}-{i}",
                revision="A",
                name="New",
            )
            created.append(new.pk)

    first = follow(
        client, "/api/v1/products/", {"updated_since": since, "page_size": 50}, between=meanwhile
    )
    sent = ids_of(first)
    assert len(sent) == len(set(sent)), "a row was sent twice"
    assert len(first) == 5  # 250 rows less the ones that left the snapshot
    assert set(sent) == set(order) - set(changed_unseen) - set(deleted)
    assert sent == [pk for pk in order if pk in set(sent)], "not in (updated_at, id) order"
    assert {page["count"] for page in first} == {250}
    assert {page["previous"] for page in first} == {None}
    next_since = {page["next_updated_since"] for page in first}
    assert len(next_since) == 1  # the snapshot's bound, the same on every page
    next_since = next_since.pop()

    # The next sync gets exactly what changed or appeared during the first, once each.
    second = ids_of(
        follow(client, "/api/v1/products/", {"updated_since": next_since, "page_size": 50})
    )
    assert len(second) == len(set(second)), "a row was sent twice"
    assert set(second) == set(changed_seen + changed_unseen + created)
    # ... and the tombstones what went.
    gone = client.get("/api/v1/tombstones/", {"updated_since": next_since}).json()
    assert [(t["object_type"], t["object_id"]) for t in gone["results"]] == [
        ("products", pk) for pk in deleted
    ]
    # Together: every product of the partnership, nothing foreign.
    assert set(sent) | set(second) == set(
        Product.objects.filter(partnership=world.ours).values_list("pk", flat=True)
    )


def test_sync_mode_and_page_numbers_side_by_side(world, client, settings):
    order = bulk_products(world.ours, 12)
    api(client, world.buyer)
    pages = client.get("/api/v1/products/", {"page_size": 5}).json()
    assert pages["count"] == 12 and "next_updated_since" not in pages
    assert "page=2" in pages["next"]

    before = timezone.now()
    full = follow(client, "/api/v1/products/", {"sync": "1", "page_size": 5})
    after = timezone.now()
    assert ids_of(full) == order and [len(p["results"]) for p in full] == [5, 5, 2]
    assert "cursor=" in full[0]["next"] and "page=" not in full[0]["next"]
    # The next sync starts a little before the bound: long transactions commit late.
    next_since = parse_datetime(full[0]["next_updated_since"])
    assert before - timedelta(seconds=30) <= next_since <= after - timedelta(seconds=30)
    settings.API_SYNC_OVERLAP = timedelta(0)
    bound = parse_datetime(
        client.get("/api/v1/products/", {"sync": "1"}).json()["next_updated_since"]
    )
    assert after <= bound <= timezone.now()
    # ... but never before what the client asked for.
    asked = timezone.now() + timedelta(minutes=5)
    body = client.get("/api/v1/products/", {"updated_since": asked.isoformat()}).json()
    assert body["results"] == [] and parse_datetime(body["next_updated_since"]) == asked

    # Filters apply; ?ordering does not (the keyset decides).
    only = client.get("/api/v1/products/", {"sync": "1", "q": "P-0003", "ordering": "-id"}).json()
    assert [r["id"] for r in only["results"]] == [order[3]]

    bad = client.get("/api/v1/products/", {"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid" and set(bad.json()["errors"]) == {"cursor"}

    # No updated_at (demand publications): page numbers even when asked to sync.
    demand = client.get("/api/v1/demand-publications/", {"sync": "1"}).json()
    assert "count" in demand and "next_updated_since" not in demand


# --- Tombstones ------------------------------------------------------------------------------


def make_run(world, product, **fields):
    today = dt.date.today()
    return schedule_services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=100,
        planned_launch=today + timedelta(days=30),
        due_date=today + timedelta(days=40),
        **fields,
    )


def test_tombstones_for_deletions_and_closures_are_scoped(world, client, weekly):
    start = timezone.now()
    product = schedule_services.save_product(
        by=world.buyer,
        partnership=world.ours,
        part_number="GONE-1",
        revision="A",
        name="Discontinued",
        external_id="SAP-GONE-1",
    )
    kept = schedule_services.save_product(
        by=world.buyer, partnership=world.ours, part_number="KEPT", revision="A", name="Kept"
    )
    run = make_run(world, kept, external_id="PO-77")
    [foreign] = Product.objects.filter(pk__in=bulk_products(world.theirs, 1, prefix="THEIRS"))
    product_pk, foreign_pk = product.pk, foreign.pk

    product.delete()
    foreign.delete()
    # No service cancels a run yet (the run lifecycle is #16): the write and its event by hand.
    run.status = ProductionRun.Status.CANCELLED
    run.save()
    events.emit("production_run", "cancelled", run, changed=["status"])
    events.emit("production_run", "changed", run, changed=["priority"])  # still one tombstone
    moved_from = weekly.start + timedelta(days=7)
    moved = comms_services.reschedule_occurrence(
        by=world.buyer,
        meeting=weekly,
        occurrence_start=moved_from,
        start=moved_from + timedelta(hours=2),
        end=moved_from + timedelta(hours=3),
    )
    comms_services.cancel_meeting(by=world.buyer, meeting=weekly)
    assert Meeting.objects.get(pk=moved.pk).status == Meeting.Status.CANCELLED

    api(client, world.buyer)
    body = client.get("/api/v1/tombstones/").json()
    rows = {(t["object_type"], t["object_id"]): t for t in body["results"]}
    assert set(rows) == {
        ("products", product_pk),
        ("production-runs", run.pk),
        ("meetings", weekly.pk),
        ("meetings", moved.pk),
    }
    assert rows[("products", product_pk)]["external_id"] == "SAP-GONE-1"
    assert rows[("production-runs", run.pk)]["external_id"] == "PO-77"
    assert {t["partnership"] for t in body["results"]} == {world.ours.pk}
    assert parse_datetime(rows[("products", product_pk)]["deleted_at"]) >= start
    assert "next_updated_since" in body and body["previous"] is None

    runs = client.get("/api/v1/tombstones/", {"object_type": "production-runs"}).json()
    assert [t["object_id"] for t in runs["results"]] == [run.pk]
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert client.get("/api/v1/tombstones/", {"updated_since": later}).json()["results"] == []
    bad = client.get("/api/v1/tombstones/", {"object_type": "nonsense", "updated_since": "x"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"object_type", "updated_since"}

    # The other partnership's tombstones are theirs alone.
    outsider = api(Client(), world.outsider)
    theirs = outsider.get("/api/v1/tombstones/").json()["results"]
    assert [(t["object_type"], t["object_id"]) for t in theirs] == [("products", foreign_pk)]
    assert (
        outsider.get("/api/v1/tombstones/", {"partnership": world.ours.pk}).json()["results"] == []
    )
    assert (
        client.get("/api/v1/tombstones/", {"partnership": world.theirs.pk}).json()["results"] == []
    )


def test_an_api_key_sees_the_tombstones_of_the_domains_it_may_read(world, client, weekly):
    from integrations.services import issue_api_key

    product = schedule_services.save_product(
        by=world.buyer, partnership=world.ours, part_number="GONE", revision="A", name="x"
    )
    product_pk = product.pk
    product.delete()
    comms_services.cancel_meeting(by=world.buyer, meeting=weekly)
    _key, plaintext = issue_api_key(
        by=world.ems_admin,
        organization=world.ems,
        name="MES",
        scopes=["schedules:read"],
        role="planner",
    )
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {plaintext}"
    response = client.get("/api/v1/tombstones/")
    assert response.status_code == 200, response.content
    rows = [(t["object_type"], t["object_id"]) for t in response.json()["results"]]
    assert rows == [("products", product_pk)]  # not the meeting: no comms scope


def test_deleting_a_partnership_takes_its_tombstones_along(world):
    bulk_products(world.theirs, 3, prefix="T")
    comms_services.raise_problem(
        by=world.outsider, partnership=world.theirs, title="x", description="y", severity="low"
    )
    world.theirs.delete()  # its products' deletions must not leave rows pointing at it
    connection.check_constraints()  # the deferred foreign keys, as COMMIT would check them
    assert not Tombstone.objects.exists()


# --- Idempotency-Key -------------------------------------------------------------------------

PROBLEM = {"title": "Solder voids on U7", "description": "X-ray: voids > 25 %", "severity": "high"}


def test_same_key_and_body_replays_the_first_answer(world, client):
    api(client, world.account_manager)
    data = {"partnership": world.ours.pk, **PROBLEM}
    first = post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "erp-4711"})
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first.headers
    # A retry — JSON keys in another order are the same body.
    again = post(
        client, "/api/v1/problems/", dict(reversed(data.items())), **{"Idempotency-Key": "erp-4711"}
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert Problem.objects.filter(partnership=world.ours).count() == 1

    # The same key for another request: 422, nothing written.
    other = post(
        client, "/api/v1/problems/", {**data, "severity": "low"}, **{"Idempotency-Key": "erp-4711"}
    )
    assert other.status_code == 422
    assert other.json()["status"] == 422 and other.json()["code"] == "idempotency_key_reused"
    elsewhere = post(
        client,
        "/api/v1/decision-requests/",
        {"partnership": world.ours.pk, "title": "x", "category": "schedule_change"},
        **{"Idempotency-Key": "erp-4711"},
    )
    assert elsewhere.status_code == 422
    assert Problem.objects.filter(partnership=world.ours).count() == 1

    # Without a key: an ordinary POST, a second problem.
    assert post(client, "/api/v1/problems/", data).status_code == 201
    assert Problem.objects.filter(partnership=world.ours).count() == 2

    # Keys are the caller's: another user's identical key is another request.
    colleague = api(Client(), world.ems_admin)
    theirs = post(colleague, "/api/v1/problems/", data, **{"Idempotency-Key": "erp-4711"})
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert Problem.objects.filter(partnership=world.ours).count() == 3
    assert set(IdempotencyRecord.objects.values_list("owner", flat=True)) == {
        f"user:{world.account_manager.pk}",
        f"user:{world.ems_admin.pk}",
    }


def test_an_api_keys_idempotency_keys_are_its_own(world, client):
    from integrations.services import issue_api_key

    key, plaintext = issue_api_key(
        by=world.ems_admin,
        organization=world.ems,
        name="MES",
        scopes=["comms:write"],
        role="account_manager",
    )
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {plaintext}"
    data = {"partnership": world.ours.pk, **PROBLEM}
    first = post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "mes-9"})
    again = post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "mes-9"})
    assert first.status_code == again.status_code == 201, first.content
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == first.content
    assert IdempotencyRecord.objects.get(key="mes-9").owner == f"key:{key.pk}"
    # The key's service user signing in otherwise would be another caller: not a replay.
    person = api(Client(), key.acting_user)
    assert (
        "Idempotent-Replayed"
        not in post(person, "/api/v1/problems/", data, **{"Idempotency-Key": "mes-9"}).headers
    )


def test_client_errors_are_stored_and_replayed(world, client):
    api(client, world.account_manager)
    data = {"partnership": world.ours.pk, **PROBLEM, "severity": "apocalyptic"}
    first = post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "bad-1"})
    assert first.status_code == 400
    again = post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "bad-1"})
    assert again.status_code == 400 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()

    empty = post(client, "/api/v1/problems/", data, **{"Idempotency-Key": " "})
    assert empty.status_code == 400 and set(empty.json()["errors"]) == {"idempotency_key"}


def test_server_errors_are_not_stored_and_roll_back(world, client, monkeypatch):
    from rest_framework.exceptions import APIException

    real = comms_services.raise_problem

    def raise_then_fail(exc):
        def broken(**kwargs):
            real(**kwargs)  # written, then the request fails
            raise exc

        return broken

    api(client, world.account_manager)
    data = {"partnership": world.ours.pk, **PROBLEM}
    monkeypatch.setattr(comms_services, "raise_problem", raise_then_fail(APIException()))
    failed = post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "flaky"})
    assert failed.status_code == 500
    monkeypatch.setattr(comms_services, "raise_problem", raise_then_fail(RuntimeError("boom")))
    client.raise_request_exception = False
    assert (
        post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "flaky"}).status_code == 500
    )
    assert not Problem.objects.exists() and not IdempotencyRecord.objects.exists()

    monkeypatch.setattr(comms_services, "raise_problem", real)
    retry = post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "flaky"})
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert Problem.objects.count() == 1


def test_decision_request_retry_raises_it_once(world, client, active_contract):
    api(client, world.account_manager)
    data = {"partnership": world.ours.pk, **SUBSTITUTION_OUTSIDE_AVL}
    first = post(client, "/api/v1/decision-requests/", data, **{"Idempotency-Key": "mes-1"})
    again = post(client, "/api/v1/decision-requests/", data, **{"Idempotency-Key": "mes-1"})
    assert first.status_code == again.status_code == 201, first.content
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert DecisionRequest.objects.filter(partnership=world.ours).count() == 1


def test_a_key_in_progress_answers_409_and_expired_keys_are_free_again(world, client):
    api(client, world.account_manager)
    data = {"partnership": world.ours.pk, **PROBLEM}
    assert post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "k"}).status_code == 201
    IdempotencyRecord.objects.filter(key="k").update(status_code=None)  # as if still running
    busy = post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "k"})
    assert busy.status_code == 409 and busy.json()["code"] == "idempotency_key_in_use"

    IdempotencyRecord.objects.filter(key="k").update(
        created_at=timezone.now() - RETENTION - timedelta(minutes=1)
    )
    fresh = post(client, "/api/v1/problems/", data, **{"Idempotency-Key": "k"})
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers
    assert Problem.objects.filter(partnership=world.ours).count() == 2

    old = IdempotencyRecord.objects.create(
        key="old", owner="user:0", method="POST", path="/", request_hash="x", status_code=201
    )
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - RETENTION - timedelta(hours=1)
    )
    assert purge_expired_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["k"]


def _concurrently(*calls):
    """Run the calls at once, each in its own thread (and database connection)."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_with_one_key_write_once(world):
    data = {"partnership": world.ours.pk, **PROBLEM}
    clients = [api(Client(), world.account_manager) for _ in range(3)]
    responses = _concurrently(
        *(
            lambda c=c: post(c, "/api/v1/problems/", data, **{"Idempotency-Key": "race"})
            for c in clients
        )
    )
    assert [r.status_code for r in responses] == [201, 201, 201]
    assert sum("Idempotent-Replayed" in r.headers for r in responses) == 2
    assert len({r.content for r in responses}) == 1
    assert Problem.objects.filter(partnership=world.ours).count() == 1


# --- ETag / If-None-Match / If-Match --------------------------------------------------------


@pytest.fixture
def product(world):
    return schedule_services.save_product(
        by=world.buyer,
        partnership=world.ours,
        part_number="MB-200",
        revision="C",
        name="Monitor main board",
        external_id="SAP-MB-200",
    )


def test_etag_and_if_none_match(world, client, product):
    api(client, world.buyer)
    url = f"/api/v1/products/{product.pk}/"
    first = client.get(url)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and client.get(url).headers["ETag"] == etag
    cached = client.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b"" and cached.headers["ETag"] == etag
    assert client.get(url, headers={"If-None-Match": 'W/"other"'}).status_code == 200
    touch(product, world.buyer, name="Monitor main board v2")
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "ETag" not in client.get("/api/v1/products/").headers  # lists have none

    # A readiness item changes the product's body (and moves its updated_at, so a sync sees it).
    etag = changed.headers["ETag"]
    updated_at = Product.objects.get(pk=product.pk).updated_at
    item = product.readiness.order_by("id").first()
    schedule_services.set_item_required(by=world.buyer, item=item, required=not item.required)
    assert Product.objects.get(pk=product.pk).updated_at > updated_at
    fresh = client.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag
    assert patch(client, url, {"name": "x"}, **{"If-Match": etag}).status_code == 412

    # Without updated_at behind it (a scorecard), the tag is the body's.
    scorecard = f"/api/v1/scorecards/{world.ours.pk}/"
    tag = client.get(scorecard).headers["ETag"]
    assert client.get(scorecard, headers={"If-None-Match": tag}).status_code == 304


def test_if_match_refuses_stale_writes(world, client, product):
    api(client, world.buyer)
    url = f"/api/v1/products/{product.pk}/"
    etag = client.get(url).headers["ETag"]
    touch(product, world.buyer, name="Changed by the other writer")  # someone else wrote
    before = Product.objects.get(pk=product.pk)

    stale = patch(client, url, {"name": "Mine"}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["status"] == 412 and stale.json()["code"] == "precondition_failed"
    after = Product.objects.get(pk=product.pk)
    assert (after.name, after.updated_at) == (before.name, before.updated_at)

    current = client.get(url).headers["ETag"]
    ok = patch(client, url, {"name": "Mine"}, **{"If-Match": current})
    assert ok.status_code == 200 and ok.json()["name"] == "Mine"
    assert ok.headers["ETag"] != current and ok.headers["ETag"] == client.get(url).headers["ETag"]
    # The old tag is stale now; "*" and no If-Match at all write unconditionally.
    assert patch(client, url, {"name": "Again"}, **{"If-Match": current}).status_code == 412
    assert patch(client, url, {"name": "Any"}, **{"If-Match": "*"}).status_code == 200
    assert patch(client, url, {"name": "Plain"}).status_code == 200

    # Scoping comes first: another partnership's object is 404, not 412.
    outsider = api(Client(), world.outsider)
    assert patch(outsider, url, {"name": "x"}, **{"If-Match": current}).status_code == 404


def test_if_match_on_goals_and_with_an_idempotency_key(world, client):
    goal = comms_services.save_goal(
        by=world.buyer,
        partnership=world.ours,
        horizon="short",
        title="OTD above 95 %",
        metric="OTD",
        baseline=80,
        target=95,
        due_date=dt.date(2030, 1, 1),
        owner=world.buyer,
    )
    api(client, world.buyer)
    url = f"/api/v1/goals/{goal.pk}/"
    etag = client.get(url).headers["ETag"]
    comms_services.save_goal(by=world.buyer, partnership=world.ours, goal=goal, target=97)
    stale = patch(client, url, {"title": "Mine"}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert Goal.objects.get(pk=goal.pk).title == "OTD above 95 %"

    etag = client.get(url).headers["ETag"]
    headers = {"If-Match": etag, "Idempotency-Key": "goal-title-1"}
    ok = patch(client, url, {"title": "OTD above 97 %"}, **headers)
    assert ok.status_code == 200
    # The retry of a write that went through replays its answer instead of failing If-Match.
    retry = patch(client, url, {"title": "OTD above 97 %"}, **headers)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.content == ok.content


@pytest.mark.django_db(transaction=True)
def test_two_writers_with_one_etag_cannot_both_win(world, product):
    url = f"/api/v1/products/{product.pk}/"
    writers = [api(Client(), world.buyer), api(Client(), world.oem_admin)]
    etag = writers[0].get(url).headers["ETag"]
    responses = _concurrently(
        *(
            lambda c=c, name=name: patch(c, url, {"name": name}, **{"If-Match": etag})
            for c, name in zip(writers, ("First", "Second"), strict=True)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 412]
    [winner] = [r for r in responses if r.status_code == 200]
    assert Product.objects.get(pk=product.pk).name == winner.json()["name"]
