"""Outgoing webhooks, delivered to a real HTTP server on loopback."""

import datetime as dt
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditTemplate
from audits.template_data import ensure_installed
from contracts import services
from integrations import webhooks
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.tasks import deliver_webhook, retry_due_webhooks
from partnership.celery import app as celery_app
from schedules import services as schedule_services
from schedules.models import Product, ProductionRun
from tests.conftest import free_port
from tests.contracts.conftest import active_contract, draft  # noqa: F401
from tests.factories import PartnershipFactory
from tests.helpers import wait_for
from tests.partnership.test_tasks import celery_worker_process  # noqa: F401

ALL_EVENTS = webhooks.event_names()


# --- A real receiver ----------------------------------------------------------------------


class Receiver:
    """``http.server`` on 127.0.0.1 in a thread; records every request. ``answers`` is a list
    of status codes to answer with, in order (200 once it is used up)."""

    def __init__(self):
        self.requests = []
        self.answers = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                    )
                    status = receiver.answers.pop(0) if receiver.answers else 200
                answer = (b"ok " if status < 300 else b"boom ") + b"x" * 5000
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path):
        return [r for r in self.requests if r["path"] == path]

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def send_now(monkeypatch):
    """Instead of a message to Redis, the on-commit hook runs the task here (``apply``), so a
    test drives the whole chain without a worker. Records the ids it was given."""
    sent = []

    def _send(delivery_id):
        sent.append(delivery_id)
        deliver_webhook.apply(args=[delivery_id])

    monkeypatch.setattr(webhooks, "_send_task", _send)
    return sent


@pytest.fixture
def queued(monkeypatch):
    """Only record what would be queued."""
    sent = []
    monkeypatch.setattr(webhooks, "_send_task", sent.append)
    return sent


def subscribe(org, url, events=None, partnership=None, **kwargs):
    return WebhookSubscription.objects.create(
        organization=org,
        url=url,
        events=ALL_EVENTS if events is None else events,
        partnership=partnership,
        **kwargs,
    )


def raise_request(world, **kwargs):
    kwargs.setdefault("title", "Replace C12 with a Murata part")
    kwargs.setdefault("outside_avl", True)  # needs the OEM's approval
    return services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        category="component_substitution",
        **kwargs,
    )


REAL_NOW = timezone.now


def shift_time(monkeypatch, delta):
    """Pretend ``delta`` has passed since now (for the backoff) without sleeping."""
    monkeypatch.setattr(timezone, "now", lambda: REAL_NOW() + delta)


# --- Emitting and signing -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("active_contract")
def test_raising_a_decision_request_delivers_a_signed_post_to_both_parties(
    world, receiver, send_now, django_capture_on_commit_callbacks
):
    oem_hook = subscribe(world.oem, receiver.url("/oem"), ["decision_request.raised"])
    ems_hook = subscribe(world.ems, receiver.url("/ems"), partnership=world.ours)
    not_listening = subscribe(world.oem, receiver.url("/answers"), ["decision_request.answered"])
    inactive = subscribe(world.ems, receiver.url("/inactive"), active=False)

    with django_capture_on_commit_callbacks(execute=True):
        request = raise_request(world, external_id="SAP-4711")

    assert sorted(r["path"] for r in receiver.requests) == ["/ems", "/oem"]
    for hook, path in [(oem_hook, "/oem"), (ems_hook, "/ems")]:
        (got,) = receiver.to(path)
        headers = got["headers"]
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Portal-Event"] == "decision_request.raised"
        assert headers["X-Portal-Signature"].startswith("sha256=")
        assert abs(int(headers["X-Portal-Timestamp"]) - time.time()) < 60
        assert webhooks.verify_signature(
            hook.secret, headers["X-Portal-Timestamp"], got["body"], headers["X-Portal-Signature"]
        )
        payload = json.loads(got["body"])
        assert payload["event"] == "decision_request.raised"
        assert payload["event_id"] == headers["X-Portal-Delivery"]
        assert payload["partnership"] == world.ours.pk
        assert payload["object"] == {
            "type": "decision-requests",
            "id": request.pk,
            "external_id": "SAP-4711",
            "status": "awaiting_oem",
            "url": settings.SITE_URL.rstrip("/") + f"/api/v1/decision-requests/{request.pk}/",
        }
        assert dt.datetime.fromisoformat(payload["occurred_at"])
        delivery = WebhookDelivery.objects.get(subscription=hook)
        assert delivery.status == WebhookDelivery.Status.DELIVERED
        assert (delivery.attempts, delivery.response_status) == (1, 200)
        assert delivery.delivered_at is not None and delivery.next_attempt_at is None
        # Only the first 2 KB of the answer is kept.
        assert delivery.response_body.startswith("ok ") and len(delivery.response_body) == 2048
    # One event: the same event id for both parties.
    assert (
        receiver.to("/oem")[0]["headers"]["X-Portal-Delivery"]
        == (receiver.to("/ems")[0]["headers"]["X-Portal-Delivery"])
    )
    assert not WebhookDelivery.objects.filter(subscription__in=[not_listening, inactive]).exists()
    assert len(send_now) == 2


@pytest.mark.django_db
@pytest.mark.usefixtures("active_contract")
def test_deliveries_are_queued_only_when_the_transaction_commits(
    world, queued, django_capture_on_commit_callbacks
):
    hook = subscribe(world.oem, "https://erp.example/hook")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        raise_request(world)

    delivery = WebhookDelivery.objects.get(subscription=hook)
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert queued == []  # nothing sent before the commit
    for callback in callbacks:
        callback()
    assert queued == [delivery.pk]


@pytest.mark.django_db
@pytest.mark.usefixtures("active_contract")
def test_a_tampered_body_a_wrong_secret_or_a_stale_timestamp_fail_verification(
    world, receiver, send_now, django_capture_on_commit_callbacks
):
    hook = subscribe(world.oem, receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        raise_request(world)
    (got,) = receiver.requests
    ts, body, sig = (
        got["headers"]["X-Portal-Timestamp"],
        got["body"],
        got["headers"]["X-Portal-Signature"],
    )

    assert webhooks.verify_signature(hook.secret, ts, body, sig)
    assert webhooks.verify_signature(hook.secret, ts, body.decode(), sig)  # str works too
    tampered = body.replace(b'"awaiting_oem"', b'"approved"')
    assert tampered != body
    assert not webhooks.verify_signature(hook.secret, ts, tampered, sig)
    assert not webhooks.verify_signature("another-secret", ts, body, sig)
    assert not webhooks.verify_signature(hook.secret, int(ts) + 1, body, sig)  # moved timestamp
    assert not webhooks.verify_signature(hook.secret, ts, body, sig.replace("sha256=", ""))
    assert not webhooks.verify_signature(hook.secret, ts, body, "")
    assert not webhooks.verify_signature(hook.secret, "yesterday", body, sig)
    # A captured request replayed later: correctly signed, but too old.
    assert not webhooks.verify_signature(hook.secret, ts, body, sig, now=int(ts) + 301)
    assert webhooks.verify_signature(hook.secret, ts, body, sig, now=int(ts) + 299)
    old = int(ts) - 3600
    assert not webhooks.verify_signature(
        hook.secret, old, body, webhooks.sign(hook.secret, old, body)
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("active_contract")
def test_answering_a_request_sends_decision_request_answered(
    world, receiver, send_now, django_capture_on_commit_callbacks
):
    subscribe(world.ems, receiver.url(), ["decision_request.answered"])
    request = raise_request(world)
    with django_capture_on_commit_callbacks(execute=True):
        services.comment_on_decision_request(by=world.buyer, request=request, text="Why?")
    assert receiver.requests == []

    with django_capture_on_commit_callbacks(execute=True):
        services.answer_decision_request(by=world.buyer, request=request, action="approve")

    (got,) = receiver.requests
    payload = json.loads(got["body"])
    assert payload["event"] == "decision_request.answered"
    assert payload["object"]["status"] == "approved"
    # Saving it again without a status change is no new answer.
    request.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        request.save()
    assert len(receiver.requests) == 1


# --- Retries ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("active_contract")
def test_failed_deliveries_are_retried_with_backoff_until_delivered(
    world, receiver, send_now, django_capture_on_commit_callbacks, monkeypatch
):
    hook = subscribe(world.oem, receiver.url())
    receiver.answers = [500, 500, 200]

    with django_capture_on_commit_callbacks(execute=True):
        raise_request(world)  # first attempt: 500

    delivery = WebhookDelivery.objects.get(subscription=hook)
    assert delivery.status == WebhookDelivery.Status.RETRYING
    assert (delivery.attempts, delivery.response_status) == (1, 500)
    assert delivery.response_body.startswith("boom") and delivery.error == "HTTP 500"
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 25 < wait <= 30

    # A message arriving early (a duplicate, or the eager retry) does nothing.
    assert deliver_webhook.apply(args=[delivery.pk]).get() == "skipped"
    assert len(receiver.requests) == 1

    shift_time(monkeypatch, timedelta(seconds=31))
    deliver_webhook.apply(args=[delivery.pk])  # second attempt: 500
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.RETRYING, 2)
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 55 < wait <= 60  # doubled

    shift_time(monkeypatch, timedelta(seconds=31 + 61))
    assert deliver_webhook.apply(args=[delivery.pk]).get() == "delivered"
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert (delivery.attempts, delivery.response_status, delivery.error) == (3, 200, "")
    assert delivery.next_attempt_at is None

    # Three POSTs of the same event, each signed afresh.
    assert len(receiver.requests) == 3
    assert len({r["headers"]["X-Portal-Delivery"] for r in receiver.requests}) == 1
    assert len({r["body"] for r in receiver.requests}) == 1
    for r in receiver.requests:
        h = r["headers"]
        assert webhooks.verify_signature(
            hook.secret, h["X-Portal-Timestamp"], r["body"], h["X-Portal-Signature"]
        )
    # Delivered is final.
    shift_time(monkeypatch, timedelta(hours=2))
    assert deliver_webhook.apply(args=[delivery.pk]).get() == "skipped"
    assert len(receiver.requests) == 3


def test_backoff_doubles_and_is_capped():
    assert [webhooks.backoff(n) for n in range(1, 9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
    ]


@pytest.mark.django_db
def test_a_delivery_fails_for_good_after_the_last_attempt(world, receiver, monkeypatch):
    hook = subscribe(world.oem, receiver.url())
    receiver.answers = [503] * 20
    delivery = WebhookDelivery.objects.create(
        subscription=hook, event="meeting.changed", partnership=world.ours, payload={"x": 1}
    )
    for n in range(webhooks.MAX_ATTEMPTS):
        shift_time(monkeypatch, timedelta(hours=n))
        deliver_webhook.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert (delivery.attempts, delivery.response_status) == (webhooks.MAX_ATTEMPTS, 503)
    assert delivery.next_attempt_at is None
    shift_time(monkeypatch, timedelta(days=1))
    assert deliver_webhook.apply(args=[delivery.pk]).get() == "skipped"
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS


@pytest.mark.django_db
def test_an_unreachable_receiver_or_a_redirect_is_a_failed_attempt(world, receiver):
    closed_port = free_port()  # nothing listens there
    hook = subscribe(world.oem, f"http://127.0.0.1:{closed_port}/hook")
    delivery = WebhookDelivery.objects.create(
        subscription=hook, event="meeting.changed", partnership=world.ours, payload={"x": 1}
    )
    deliver_webhook.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.RETRYING
    assert delivery.response_status is None
    assert "refused" in delivery.error.lower() or "URLError" in delivery.error

    moved = subscribe(world.oem, receiver.url("/moved"))
    receiver.answers = [307]
    delivery = WebhookDelivery.objects.create(
        subscription=moved, event="meeting.changed", partnership=world.ours, payload={"x": 1}
    )
    deliver_webhook.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_status) == (WebhookDelivery.Status.RETRYING, 307)
    assert len(receiver.requests) == 1  # not followed


@pytest.mark.django_db
def test_the_sweep_requeues_only_due_deliveries(world, queued):
    hook = subscribe(world.oem, "https://erp.example/hook")
    gone = subscribe(world.oem, "https://old.example/hook", active=False)
    now = timezone.now()

    def row(**kwargs):
        d = WebhookDelivery.objects.create(
            subscription=kwargs.pop("subscription", hook),
            event="meeting.changed",
            partnership=world.ours,
            payload={},
            **kwargs,
        )
        return d

    retry_due = row(status="retrying", attempts=2, next_attempt_at=now - timedelta(seconds=1))
    retry_later = row(status="retrying", attempts=2, next_attempt_at=now + timedelta(minutes=5))
    lost_message = row()
    WebhookDelivery.objects.filter(pk=lost_message.pk).update(
        created_at=now - timedelta(minutes=10)
    )
    just_created = row()
    lease_expired = row(attempts=1, next_attempt_at=now - timedelta(seconds=5))
    row(status="delivered", attempts=1)
    row(status="failed", attempts=8)
    orphan = row(subscription=gone, status="retrying", next_attempt_at=now - timedelta(hours=1))

    assert retry_due_webhooks.apply().get() == 3
    assert sorted(queued) == sorted([retry_due.pk, lost_message.pk, lease_expired.pk])
    assert retry_later.pk not in queued and just_created.pk not in queued
    orphan.refresh_from_db()
    assert orphan.status == WebhookDelivery.Status.FAILED


@pytest.mark.django_db
def test_the_sweep_is_scheduled_every_minute_in_the_database():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_related("interval").get(
        task="integrations.tasks.retry_due_webhooks"
    )
    assert task.enabled and task.crontab is None
    assert (task.interval.every, task.interval.period) == (1, "minutes")
    assert task.task in celery_app.tasks
    assert "integrations.tasks.deliver_webhook" in celery_app.tasks


# --- Who receives what --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("active_contract")
def test_subscriptions_of_unrelated_organisations_receive_nothing(
    world, receiver, send_now, django_capture_on_commit_callbacks
):
    # world.oem also works with another EMS; a hook limited to that partnership stays silent.
    side_deal = PartnershipFactory(oem=world.oem, ems=world.other_ems)
    subscribe(world.other_oem, receiver.url("/outsider"))
    subscribe(world.other_ems, receiver.url("/other-ems"))
    subscribe(world.oem, receiver.url("/side-deal"), partnership=side_deal)
    subscribe(world.oem, receiver.url("/oem-all"))

    with django_capture_on_commit_callbacks(execute=True):
        raise_request(world)

    assert [r["path"] for r in receiver.requests] == ["/oem-all"]
    assert set(WebhookDelivery.objects.values_list("subscription__url", flat=True)) == {
        receiver.url("/oem-all")
    }


@pytest.mark.django_db
def test_the_payload_carries_no_data_of_other_partnerships(world, queued):
    subscribe(world.oem, "https://erp.example/oem", ["production_run.changed"])
    subscribe(world.other_oem, "https://erp.example/foreign")
    product = schedule_services.save_product(
        by=world.buyer,
        partnership=world.ours,
        part_number="MB-200",
        revision="C",
        name="Main board",
    )
    run = schedule_services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=100,
        planned_launch=dt.date(2026, 3, 2),
        due_date=dt.date(2026, 3, 9),
        external_id="PO-1",
    )

    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.subscription.organization == world.oem
    assert delivery.partnership == world.ours
    payload = delivery.payload
    assert set(payload) == {
        "event",
        "event_id",
        "occurred_at",
        "partnership",
        "action",
        "changed",
        "object",
    }
    assert (payload["action"], payload["changed"]) == ("created", [])
    assert set(payload["object"]) == {"type", "id", "external_id", "status", "url"}
    assert payload["partnership"] == world.ours.pk
    assert payload["object"]["type"] == "production-runs"
    assert (payload["object"]["id"], payload["object"]["external_id"]) == (run.pk, "PO-1")
    text = json.dumps(payload)
    for foreign in (world.other_oem.name, world.other_ems.name, "https://erp.example/foreign"):
        assert foreign not in text
    # Nor anything about the product or the run beyond status and ids.
    assert "Main board" not in text and "MB-200" not in text


@pytest.mark.django_db
@pytest.mark.usefixtures("active_contract")
def test_every_webhook_event_is_sent_by_some_service(world, queued):
    """Every event a subscription can choose is sent by the services that make its changes —
    none is dead — and each delivery names the object, the action and the fields changed."""
    from audits import services as audits
    from comms import services as comms

    subscribe(world.ems, "https://erp.example/all")
    today = timezone.localdate()

    product = schedule_services.save_product(
        by=world.buyer, partnership=world.ours, part_number="MB-200", revision="C", name="Board"
    )
    run = schedule_services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=10,
        planned_launch=today + timedelta(weeks=3),
        due_date=today + timedelta(weeks=4),
    )
    schedule_services.save_long_lead_item(
        by=world.account_manager,
        product=product,
        component="STM32",
        lead_time_weeks=26,
        quantity_per_assembly=1,
        unit_price=9,
    )
    week = schedule_services.monday(today) + timedelta(weeks=2)
    schedule_services.publish_capacity(
        by=world.account_manager, partnership=world.ours, rows=[{"week": week, "amount": 10}]
    )
    schedule_services.publish_demand(
        by=world.buyer,
        partnership=world.ours,
        rows=[{"product": "MB-200", "week": week, "quantity": 50}],
    )
    schedule_services.refresh_alerts(world.ours)  # demand 5× capacity: an alert opens
    request = raise_request(world)
    services.answer_decision_request(by=world.buyer, request=request, action="approve")
    start = timezone.now() + timedelta(days=2)
    meeting = comms.schedule_meeting(
        by=world.buyer,
        partnership=world.ours,
        title="Weekly ops",
        start=start,
        end=start + timedelta(hours=1),
        time_zone="UTC",
    )
    comms.raise_problem(
        by=world.buyer,
        partnership=world.ours,
        title="Solder voids",
        description="x",
        severity="high",
    )
    comms.add_action_item(
        by=world.buyer,
        partnership=world.ours,
        title="Send X-ray images",
        owner=world.account_manager,
        due_date=today + timedelta(days=7),
        meeting=meeting,
    )
    comms.save_goal(
        by=world.buyer,
        partnership=world.ours,
        horizon="short",
        title="PPM below 500",
        metric="ppm",
        baseline=900,
        target=500,
        due_date=today + timedelta(days=90),
        owner=world.buyer,
    )
    ensure_installed()
    audit = audits.plan_audit(
        by=world.buyer,
        partnership=world.ours,
        template=AuditTemplate.objects.get(key="process-audit", version=1),
        kind="process",
        title="Line 3",
        planned_date=today,
    )
    audits.start_audit(by=world.buyer, audit=audit)
    audits.raise_finding(by=world.buyer, audit=audit, classification="minor", description="x")

    deliveries = list(WebhookDelivery.objects.order_by("pk"))
    assert {d.event for d in deliveries} == set(ALL_EVENTS)
    assert all(d.payload["partnership"] == world.ours.pk for d in deliveries)
    runs = [d.payload for d in deliveries if d.event == "production_run.changed"]
    assert [(p["action"], p["object"]["id"], p["object"]["status"]) for p in runs] == [
        ("created", run.pk, "planned")
    ]
    answered = [d.payload for d in deliveries if d.event == "decision_request.answered"]
    assert [(p["action"], p["object"]["status"]) for p in answered] == [("approved", "approved")]
    assert "status" in answered[0]["changed"]


@pytest.mark.django_db
def test_a_webhook_error_never_breaks_the_business_operation(
    world, queued, monkeypatch, settings, caplog
):
    settings.EVENTS_RAISE_ERRORS = False  # production's setting (the suite raises)
    subscribe(world.oem, "https://erp.example/hook")

    def broken(*args, **kwargs):
        raise RuntimeError("bug in webhooks")

    monkeypatch.setattr(webhooks, "_record", broken)
    product = schedule_services.save_product(
        by=world.buyer,
        partnership=world.ours,
        part_number="MB-200",
        revision="C",
        name="Main board",
    )
    run = schedule_services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=10,
        planned_launch=dt.date(2026, 3, 2),
        due_date=dt.date(2026, 3, 9),
    )
    assert ProductionRun.objects.filter(pk=run.pk).exists()
    assert Product.objects.filter(pk=product.pk).exists()
    assert not WebhookDelivery.objects.exists()
    assert "bug in webhooks" in caplog.text


def test_unknown_events_are_refused(world, client):
    from partnership import registry

    # An app cannot offer a webhook for a kind of object that emits no events …
    with pytest.raises(ValueError):
        registry.register_webhook_event(registry.WebhookEvent("contract.signed", "x", "spaceship"))
    assert "contract.signed" not in webhooks.event_names()
    # … and nobody can subscribe to an event that does not exist.
    client.force_login(world.oem_admin)
    response = client.post(
        _url("create", world.oem), {"url": "https://erp.example/x", "events": ["contract.signed"]}
    )
    assert response.status_code == 400
    assert "contract.signed" in response.context["form"].errors["events"][0]
    assert not WebhookSubscription.objects.exists()


# --- UI -----------------------------------------------------------------------------------


def _url(name, org, *args):
    return reverse(f"webhooks:{name}", args=[org.pk, *args])


@pytest.mark.django_db
def test_members_see_the_webhooks_of_their_organisation_only(world, client):
    hook = subscribe(world.oem, "https://erp.example/oem-hook")
    subscribe(world.other_oem, "https://erp.example/foreign-hook")

    for user in (world.oem_admin, world.oem_viewer):
        client.force_login(user)
        page = client.get(_url("list", world.oem))
        assert page.status_code == 200
        text = page.content.decode()
        assert hook.url in text and "foreign-hook" not in text
        assert hook.secret not in text  # shown only once, at creation
    for user in (world.ems_admin, world.outsider):  # a partner's member, a stranger
        client.force_login(user)
        assert client.get(_url("list", world.oem)).status_code == 404
        assert client.get(_url("deliveries", world.oem)).status_code == 404
        assert client.get(_url("create", world.oem)).status_code == 404
    client.logout()
    assert client.get(_url("list", world.oem)).status_code == 302


@pytest.mark.django_db
def test_the_organisation_page_links_admins_to_webhooks(world, client):
    client.force_login(world.oem_admin)
    page = client.get(reverse("organization_detail", args=[world.oem.pk]))
    assert _url("list", world.oem) in page.content.decode()
    client.force_login(world.buyer)
    page = client.get(reverse("organization_detail", args=[world.oem.pk]))
    assert _url("list", world.oem) not in page.content.decode()


@pytest.mark.django_db
def test_an_admin_creates_a_webhook_and_sees_its_secret_once(world, client, settings):
    settings.DEBUG = False
    client.force_login(world.oem_admin)
    assert client.get(_url("create", world.oem)).status_code == 200

    answer = client.post(
        _url("create", world.oem),
        {
            "url": "https://erp.example/portal-hook",
            "events": ["decision_request.raised", "capacity_alert.opened"],
            "partnership": world.ours.pk,
        },
    )

    assert answer.status_code == 201
    hook = WebhookSubscription.objects.get()
    assert (hook.organization, hook.partnership, hook.created_by) == (
        world.oem,
        world.ours,
        world.oem_admin,
    )
    assert hook.events == ["decision_request.raised", "capacity_alert.opened"]
    assert hook.active and len(hook.secret) == 64
    assert hook.secret in answer.content.decode()
    assert hook.secret not in client.get(_url("list", world.oem)).content.decode()

    # Empty partnership = all partnerships of the organisation.
    answer = client.post(
        _url("create", world.oem),
        {"url": "https://erp.example/all", "events": ["meeting.changed"], "partnership": ""},
    )
    assert answer.status_code == 201
    assert WebhookSubscription.objects.get(url="https://erp.example/all").partnership is None


@pytest.mark.django_db
def test_webhook_urls_must_be_https_except_on_localhost(world, client, settings):
    settings.DEBUG = False
    client.force_login(world.oem_admin)

    def create(url, **extra):
        data = {"url": url, "events": ["meeting.changed"], **extra}
        return client.post(_url("create", world.oem), data)

    assert create("http://erp.example/hook").status_code == 400
    assert create("ftp://erp.example/hook").status_code == 400
    assert create("https://erp.example/hook", events=[]).status_code == 400
    assert create("https://erp.example/hook", events=["contract.signed"]).status_code == 400
    # A partnership the organisation is not party to is not a choice.
    assert create("https://erp.example/hook", partnership=world.theirs.pk).status_code == 400
    assert not WebhookSubscription.objects.exists()
    assert create("http://localhost:8080/hook").status_code == 201
    assert create("http://127.0.0.1:8080/hook").status_code == 201
    settings.DEBUG = True
    assert create("http://erp.internal/hook").status_code == 201


@pytest.mark.django_db
def test_non_admins_cannot_create_deactivate_or_replay(world, client):
    hook = subscribe(world.oem, "https://erp.example/hook")
    delivery = WebhookDelivery.objects.create(
        subscription=hook, event="meeting.changed", partnership=world.ours, payload={}
    )
    for user in (world.buyer, world.oem_viewer):
        client.force_login(user)
        assert client.get(_url("deliveries", world.oem)).status_code == 200
        assert client.get(_url("create", world.oem)).status_code == 403
        data = {"url": "https://x.example/", "events": ["meeting.changed"]}
        assert client.post(_url("create", world.oem), data).status_code == 403
        assert client.post(_url("deactivate", world.oem, hook.pk)).status_code == 403
        assert client.post(_url("replay", world.oem, delivery.pk)).status_code == 403
    assert WebhookSubscription.objects.get().active
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_admins_of_another_organisation_cannot_touch_ours(world, client):
    hook = subscribe(world.oem, "https://erp.example/hook")
    delivery = WebhookDelivery.objects.create(
        subscription=hook, event="meeting.changed", partnership=world.ours, payload={}
    )
    for admin, org in ((world.outsider, world.other_oem), (world.ems_admin, world.ems)):
        client.force_login(admin)
        # Through our organisation's URLs…
        assert client.post(_url("deactivate", world.oem, hook.pk)).status_code == 404
        assert client.post(_url("replay", world.oem, delivery.pk)).status_code == 404
        # …or their own organisation's URLs with our ids.
        assert client.post(_url("deactivate", org, hook.pk)).status_code == 404
        assert client.post(_url("replay", org, delivery.pk)).status_code == 404
        page = client.get(_url("deliveries", org) + f"?subscription={hook.pk}")
        assert page.status_code == 404
        assert hook.url not in client.get(_url("deliveries", org)).content.decode()
    assert WebhookSubscription.objects.get().active
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_deactivating_stops_waiting_deliveries(world, client, queued):
    hook = subscribe(world.oem, "https://erp.example/hook")
    waiting = WebhookDelivery.objects.create(
        subscription=hook,
        event="meeting.changed",
        partnership=world.ours,
        payload={},
        status="retrying",
        attempts=2,
        next_attempt_at=timezone.now() + timedelta(minutes=1),
    )
    client.force_login(world.oem_admin)

    answer = client.post(_url("deactivate", world.oem, hook.pk))

    assert answer.status_code == 302
    hook.refresh_from_db()
    waiting.refresh_from_db()
    assert not hook.active
    assert waiting.status == WebhookDelivery.Status.FAILED and waiting.next_attempt_at is None
    assert deliver_webhook.apply(args=[waiting.pk]).get() == "skipped"


@pytest.mark.django_db
@pytest.mark.usefixtures("active_contract")
def test_the_delivery_log_shows_status_and_response(
    world, receiver, send_now, client, django_capture_on_commit_callbacks
):
    hook = subscribe(world.oem, receiver.url())
    foreign = subscribe(world.other_oem, "https://erp.example/foreign")
    WebhookDelivery.objects.create(
        subscription=foreign, event="meeting.changed", partnership=world.theirs, payload={}
    )
    receiver.answers = [500]
    with django_capture_on_commit_callbacks(execute=True):
        raise_request(world)

    client.force_login(world.oem_viewer)
    page = client.get(_url("deliveries", world.oem))
    text = page.content.decode()
    assert page.status_code == 200
    assert "decision_request.raised" in text and "Retrying" in text and "500" in text
    assert "erp.example/foreign" not in text
    assert "Replay" not in text  # viewers do not replay
    filtered = client.get(_url("deliveries", world.oem) + f"?subscription={hook.pk}")
    assert "decision_request.raised" in filtered.content.decode()


@pytest.mark.django_db
@pytest.mark.usefixtures("active_contract")
def test_replay_from_the_ui_sends_the_payload_again_with_a_new_event_id(
    world, receiver, send_now, client, django_capture_on_commit_callbacks
):
    hook = subscribe(world.oem, receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        raise_request(world)
    original = WebhookDelivery.objects.get()
    assert original.status == WebhookDelivery.Status.DELIVERED
    client.force_login(world.oem_admin)
    page = client.get(_url("deliveries", world.oem))
    assert _url("replay", world.oem, original.pk) in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(_url("replay", world.oem, original.pk))

    assert answer.status_code == 302
    replayed = WebhookDelivery.objects.exclude(pk=original.pk).get()
    assert replayed.status == WebhookDelivery.Status.DELIVERED
    assert replayed.event_id != original.event_id
    assert (replayed.subscription, replayed.event, replayed.partnership) == (
        hook,
        original.event,
        original.partnership,
    )
    first, second = receiver.requests
    assert second["headers"]["X-Portal-Delivery"] == str(replayed.event_id)
    assert webhooks.verify_signature(
        hook.secret,
        second["headers"]["X-Portal-Timestamp"],
        second["body"],
        second["headers"]["X-Portal-Signature"],
    )
    a, b = json.loads(first["body"]), json.loads(second["body"])
    assert b.pop("replay_of") == str(original.event_id)
    assert b.pop("event_id") == str(replayed.event_id)
    a.pop("event_id")
    assert a == b  # otherwise the same payload, including occurred_at

    # A deactivated webhook cannot be replayed to.
    hook.active = False
    hook.save()
    answer = client.post(_url("replay", world.oem, original.pk))
    assert answer.status_code == 302
    assert WebhookDelivery.objects.count() == 2


# --- Through a real worker ----------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("active_contract")
def test_a_real_worker_delivers_after_commit(
    world,
    receiver,
    celery_worker_process,  # noqa: F811
    monkeypatch,
):
    queue = celery_worker_process.queue
    monkeypatch.setattr(
        webhooks, "_send_task", lambda pk: deliver_webhook.apply_async(args=[pk], queue=queue)
    )
    hook = subscribe(world.ems, receiver.url())
    receiver.answers = [502]  # the worker retries it itself (after 30 s: too long here)

    raise_request(world, external_id="SAP-9")  # commits: the message goes to the worker

    wait_for(lambda: len(receiver.requests) == 1, timeout=30, describe=celery_worker_process.output)
    delivery = WebhookDelivery.objects.get(subscription=hook)
    wait_for(
        lambda: (
            WebhookDelivery.objects.get(pk=delivery.pk).attempts == 1
            and WebhookDelivery.objects.get(pk=delivery.pk).status == "retrying"
        ),
        describe=celery_worker_process.output,
    )
    # The sweep finds it once due; pretend 30 s passed by moving the row's due time.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert webhooks.requeue_due() == 1
    wait_for(
        lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered",
        timeout=30,
        describe=celery_worker_process.output,
    )
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_status) == (2, 200)
    (_first, second) = receiver.requests
    h = second["headers"]
    assert webhooks.verify_signature(
        hook.secret, h["X-Portal-Timestamp"], second["body"], h["X-Portal-Signature"]
    )
    assert json.loads(second["body"])["object"]["external_id"] == "SAP-9"
