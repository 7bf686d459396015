"""Capacity alerts: thresholds from the contract, idempotent refresh, escalation, flex-breach
alerts, acknowledgement, who is told — and the whole path through a real Celery worker."""

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from celery.result import AsyncResult
from celery.signals import after_task_publish
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from contracts import services as contracts
from partnership.celery import app as celery_app
from partnership.models import Notification, Role
from schedules import services, tasks
from schedules.models import CapacityAlert
from tests.contracts.conftest import active_contract, draft  # noqa: F401
from tests.factories import member
from tests.helpers import wait_for
from tests.workers import test_database_url

Kind, Severity, Status = CapacityAlert.Kind, CapacityAlert.Severity, CapacityAlert.Status
PROJECT_DIR = Path(__file__).resolve().parents[2]
TASK = "schedules.tasks.refresh_capacity_alerts"
WORKER_READY_TIMEOUT = 60
TASK_TIMEOUT = 60


def weeks_from(monday, *offsets):
    return [monday + dt.timedelta(weeks=n) for n in offsets]


def publish_capacity(world, weeks, amount="1000", unit="units"):
    services.publish_capacity(
        by=world.account_manager,
        partnership=world.ours,
        rows=[{"week": w.isoformat(), "amount": amount, "unit": unit} for w in weeks],
    )


def publish_demand(world, quantities, today=None, part="MB-200"):
    return services.publish_demand(
        by=world.buyer,
        partnership=world.ours,
        rows=[
            {"product": part, "week": w.isoformat(), "quantity": q} for w, q in quantities.items()
        ],
        today=today,
    )


def live_alerts(partnership):
    return {
        (a.week, a.kind): a.severity
        for a in CapacityAlert.objects.filter(partnership=partnership).exclude(
            status=Status.RESOLVED
        )
    }


@pytest.fixture
def refresh(world, this_monday, django_capture_on_commit_callbacks):
    """refresh_alerts as of this Monday, running its after-commit e-mails."""

    def _refresh(partnership=None):
        with django_capture_on_commit_callbacks(execute=True):
            return services.refresh_alerts(partnership or world.ours, today=this_monday)

    return _refresh


@pytest.fixture
def strict_contract(world, draft):  # noqa: F811
    """An active contract that warns at 70 % and is critical from 85 %."""
    contracts.update_terms(
        by=world.buyer, contract=draft, capacity_warning_pct=70, capacity_critical_pct=85
    )
    contracts.propose(by=world.buyer, contract=draft)
    contracts.sign(by=world.buyer, contract=draft)
    contracts.sign(by=world.account_manager, contract=draft)
    draft.refresh_from_db()
    assert draft.status == draft.Status.ACTIVE
    return draft


# --- thresholds and idempotence ------------------------------------------------------------


@pytest.mark.django_db
def test_thresholds_without_a_contract_are_90_and_100_percent(world, product, this_monday, refresh):
    weeks = weeks_from(this_monday, 0, 1, 2, 3, 4)
    publish_capacity(world, weeks)
    publish_demand(world, dict(zip(weeks, [899, 900, 999, 1000, 1500], strict=True)))
    assert refresh() == {"opened": 4, "updated": 0, "resolved": 0}
    assert live_alerts(world.ours) == {
        (weeks[1], Kind.OVERLOAD): Severity.WARNING,
        (weeks[2], Kind.OVERLOAD): Severity.WARNING,
        (weeks[3], Kind.OVERLOAD): Severity.CRITICAL,
        (weeks[4], Kind.OVERLOAD): Severity.CRITICAL,
    }
    alert = CapacityAlert.objects.get(week=weeks[4])
    assert (alert.demand, alert.capacity, alert.utilisation, alert.status) == (
        1500,
        1000,
        150,
        Status.OPEN,
    )
    assert alert.message == f"Week {weeks[4]:%G-W%V}: demand 1500 vs capacity 1000 units (150.0%)."


@pytest.mark.django_db
def test_thresholds_come_from_the_contract(world, product, this_monday, refresh, strict_contract):
    weeks = weeks_from(this_monday, 0, 1, 2, 3)
    publish_capacity(world, weeks)
    publish_demand(world, dict(zip(weeks, [699, 700, 849, 850], strict=True)))
    refresh()
    assert live_alerts(world.ours) == {
        (weeks[1], Kind.OVERLOAD): Severity.WARNING,
        (weeks[2], Kind.OVERLOAD): Severity.WARNING,
        (weeks[3], Kind.OVERLOAD): Severity.CRITICAL,
    }


@pytest.mark.django_db
def test_demand_without_capacity_is_critical(world, product, this_monday, refresh):
    week = this_monday + dt.timedelta(weeks=2)
    publish_demand(world, {week: 1})
    refresh()
    assert live_alerts(world.ours) == {(week, Kind.OVERLOAD): Severity.CRITICAL}


@pytest.mark.django_db
def test_refresh_never_duplicates_an_unresolved_alert(world, product, this_monday, refresh):
    weeks = weeks_from(this_monday, 1, 2)
    publish_capacity(world, weeks)
    publish_demand(world, dict(zip(weeks, [950, 1200], strict=True)))
    assert refresh()["opened"] == 2
    history = CapacityAlert.history.count()
    # The same numbers again: nothing is written (no history row, no event).
    assert refresh() == {"opened": 0, "updated": 0, "resolved": 0}
    assert CapacityAlert.history.count() == history
    assert services.refresh_alerts(world.ours, today=this_monday)["opened"] == 0
    assert CapacityAlert.objects.count() == 2


@pytest.mark.django_db
def test_severity_follows_demand_and_only_a_worse_one_notifies(
    world, product, this_monday, refresh, mailoutbox
):
    week = this_monday + dt.timedelta(weeks=1)
    publish_capacity(world, [week])

    def subjects():
        return list(
            Notification.objects.filter(user=world.account_manager)
            .order_by("pk")
            .values_list("subject", flat=True)
        )

    publish_demand(world, {week: 950})
    refresh()
    first = CapacityAlert.objects.get()
    assert first.severity == Severity.WARNING
    assert subjects() == ["Capacity warning in 1 week(s)"]
    refresh()  # nothing changed: nobody is told again
    assert len(subjects()) == 1

    publish_demand(world, {week: 1100})
    assert refresh() == {"opened": 0, "updated": 1, "resolved": 0}
    first.refresh_from_db()
    assert (first.severity, first.utilisation, first.status) == (Severity.CRITICAL, 110, "open")
    assert subjects()[-1] == "Capacity critical in 1 week(s)"
    assert len(subjects()) == 2

    publish_demand(world, {week: 950})  # better again: updated, not announced
    refresh()
    first.refresh_from_db()
    assert first.severity == Severity.WARNING
    assert len(subjects()) == 2

    publish_demand(world, {week: 100})  # the overload is gone
    assert refresh() == {"opened": 0, "updated": 0, "resolved": 1}
    first.refresh_from_db()
    assert first.status == Status.RESOLVED and first.resolved_at is not None
    assert len(subjects()) == 2

    publish_demand(world, {week: 1300})  # a new overload is a new alert
    assert refresh()["opened"] == 1
    assert CapacityAlert.objects.count() == 2
    assert live_alerts(world.ours) == {(week, Kind.OVERLOAD): Severity.CRITICAL}
    assert len(subjects()) == 3
    assert [m.subject for m in mailoutbox if world.account_manager.email in m.to] == [
        f"[Partnership Portal] {s}" for s in subjects()
    ]


@pytest.mark.django_db
def test_alerts_resolve_when_capacity_grows(world, product, this_monday, refresh):
    week = this_monday + dt.timedelta(weeks=1)
    publish_capacity(world, [week], amount="500")
    publish_demand(world, {week: 600})
    refresh()
    publish_capacity(world, [week], amount="5000")
    assert refresh()["resolved"] == 1
    assert not live_alerts(world.ours)


@pytest.mark.django_db
def test_weeks_outside_the_horizon_are_left_alone(world, product, this_monday, refresh):
    far = this_monday + dt.timedelta(weeks=services.WEEKS_AHEAD)
    last = far - dt.timedelta(weeks=1)
    publish_demand(world, {last: 10, far: 10})
    refresh()
    assert live_alerts(world.ours) == {(last, Kind.OVERLOAD): Severity.CRITICAL}


# --- flex-breach alerts --------------------------------------------------------------------


@pytest.mark.django_db
def test_unacknowledged_breach_weeks_raise_a_flex_alert_until_acknowledged(
    world,
    product,
    this_monday,
    refresh,
    active_contract,  # noqa: F811
):
    w2, w6, w7 = weeks_from(this_monday, 2, 6, 7)
    publish_capacity(world, [w2, w6, w7], amount="10000")
    publish_demand(world, {w2: 100, w6: 100, w7: 100}, today=this_monday)
    publication = publish_demand(world, {w2: 100, w6: 200, w7: 105}, today=this_monday)
    assert refresh() == {"opened": 1, "updated": 0, "resolved": 0}
    alert = CapacityAlert.objects.get()
    assert (alert.week, alert.kind, alert.severity) == (w6, Kind.FLEX_BREACH, Severity.WARNING)
    assert "flex terms" in alert.message
    assert refresh()["opened"] == 0

    assert services.acknowledge_changes(by=world.account_manager, publication=publication) == 1
    assert refresh() == {"opened": 0, "updated": 0, "resolved": 1}
    alert.refresh_from_db()
    assert alert.status == Status.RESOLVED


@pytest.mark.django_db
def test_flex_and_overload_alerts_for_the_same_week(
    world,
    product,
    this_monday,
    refresh,
    active_contract,  # noqa: F811
):
    week = this_monday + dt.timedelta(weeks=2)  # inside the frozen zone
    publish_capacity(world, [week], amount="1000")
    publish_demand(world, {week: 500}, today=this_monday)
    publish_demand(world, {week: 1200}, today=this_monday)
    refresh()
    assert live_alerts(world.ours) == {
        (week, Kind.OVERLOAD): Severity.CRITICAL,
        (week, Kind.FLEX_BREACH): Severity.WARNING,
    }


# --- acknowledgement -----------------------------------------------------------------------


@pytest.mark.django_db
def test_acknowledge_alert(world, product, this_monday, refresh):
    week = this_monday + dt.timedelta(weeks=1)
    publish_capacity(world, [week])
    publish_demand(world, {week: 950})
    refresh()
    alert = CapacityAlert.objects.get()
    for user in (world.oem_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            services.acknowledge_alert(by=user, alert=alert)
    alert = services.acknowledge_alert(by=world.account_manager, alert=alert)
    assert (alert.status, alert.acknowledged_by) == (Status.ACKNOWLEDGED, world.account_manager)
    with pytest.raises(ValidationError, match="open"):
        services.acknowledge_alert(by=world.buyer, alert=alert)

    refresh()  # the same severity: stays acknowledged
    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED

    publish_demand(world, {week: 1100})  # worse: open again, and everyone is told
    before = Notification.objects.count()
    refresh()
    alert.refresh_from_db()
    assert (alert.status, alert.severity) == (Status.OPEN, Severity.CRITICAL)
    assert Notification.objects.count() > before
    assert services.acknowledge_alert(by=world.buyer, alert=alert).status == Status.ACKNOWLEDGED


# --- who is told ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_this_partnerships_planners_managers_and_buyers_are_told(
    world, product, planner, this_monday, refresh, mailoutbox
):
    their_am = member(world.other_ems, Role.ACCOUNT_MANAGER, email="am@elsewhere.example")
    their_buyer = member(world.other_oem, Role.BUYER, email="buyer@foreign.example")
    week = this_monday + dt.timedelta(weeks=1)
    publish_capacity(world, [week])
    publish_demand(world, {week: 1500})
    refresh()
    expected = {world.account_manager.email, planner.email, world.buyer.email}
    told = Notification.objects.filter(subject="Capacity critical in 1 week(s)")
    assert set(told.values_list("user__email", flat=True)) == expected
    assert set(told.values_list("partnership", flat=True)) == {world.ours.pk}
    assert sorted(r for m in mailoutbox for r in m.to) == sorted(expected)
    assert all(f"{week:%G-W%V}" in m.body for m in mailoutbox)
    for outsider in (their_am, their_buyer, world.outsider, world.oem_viewer, world.ems_admin):
        assert not Notification.objects.filter(user=outsider).exists()


@pytest.mark.django_db
def test_refresh_all_alerts_covers_every_partnership(world, product, this_monday):
    publish_demand(world, {this_monday + dt.timedelta(weeks=1): 10})
    assert services.refresh_all_alerts() == 2
    assert CapacityAlert.objects.filter(partnership=world.ours).count() == 1
    assert not CapacityAlert.objects.filter(partnership=world.theirs).exists()


@pytest.mark.django_db
def test_the_task_calls_the_service(world, product, this_monday):
    publish_demand(world, {this_monday + dt.timedelta(weeks=1): 10})
    assert tasks.refresh_capacity_alerts(world.ours.pk)["opened"] == 1
    assert tasks.refresh_capacity_alerts(world.ours.pk)["opened"] == 0
    assert tasks.refresh_capacity_alerts(10**9) is None  # deleted meanwhile: nothing to do


@pytest.mark.django_db
def test_publications_queue_a_refresh_after_commit(
    world, product, this_monday, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish_capacity(world, [this_monday])
        publish_demand(world, {this_monday: 10})
    assert len(callbacks) == 2
    assert not CapacityAlert.objects.exists()  # nothing is computed inside the request


# --- end to end: a real worker on Redis ----------------------------------------------------


class Worker:
    """``celery worker`` in a subprocess on the default queue, with the test's DB and Redis."""

    QUEUE = "celery"  # where .delay() sends refresh_capacity_alerts

    def __init__(self, email_url):
        token = uuid.uuid4().hex
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in close()
            mode="w+", prefix="celery-worker-", suffix=".log"
        )
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            # The same (private) Redis database as this process, so the worker consumes what
            # this test queues and nobody else's work.
            "REDIS_URL": settings.REDIS_URL,
            "EMAIL_URL": email_url,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "partnership",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--loglevel=INFO",
                "-Q",
                self.QUEUE,
                "-n",
                f"test-alerts-{token}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def wait_until_ready(self, timeout=WORKER_READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"Celery worker exited early with code {self.process.returncode}:\n"
                    f"{self.output()}"
                )
            if " ready." in self.output():
                return
            time.sleep(0.2)
        pytest.fail(f"Celery worker not ready after {timeout}s:\n{self.output()}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def close(self):
        self.log.close()


@pytest.fixture
def alert_worker(world, smtp_sink):
    """A started worker that mails through the sink; its output is printed at teardown."""
    worker = Worker(email_url=f"smtp://127.0.0.1:{smtp_sink.port}")
    try:
        worker.wait_until_ready()
        yield worker
    finally:
        try:
            worker.stop()
        finally:
            print(f"--- celery worker output (exit code {worker.process.returncode}) ---")
            print(worker.output())
            worker.close()


@pytest.fixture
def published_tasks():
    """Every task this process publishes to the broker: (task name, id, routing key)."""
    sent = []

    def record(sender=None, headers=None, routing_key=None, **kwargs):
        sent.append((sender, headers["id"], routing_key))

    after_task_publish.connect(record, weak=False)
    try:
        yield sent
    finally:
        after_task_publish.disconnect(record)
        for _name, task_id, _key in sent:
            AsyncResult(task_id, app=celery_app).forget()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_forecast_beyond_capacity_mails_the_account_manager_through_a_worker(
    world, product, this_monday, smtp_sink, alert_worker, published_tasks
):
    weeks = weeks_from(this_monday, 1, 2, 3, 4)
    week_n = weeks[2]
    # the EMS publishes its capacity first …
    publish_capacity(world, weeks, amount="1000")
    # … then the OEM buyer a forecast that exceeds it in week N
    publish_demand(world, {weeks[0]: 500, weeks[1]: 800, week_n: 1400, weeks[3]: 200})

    # Both publications queued the refresh on commit, on the default queue, in Redis.
    assert [(name, key) for name, _id, key in published_tasks] == [(TASK, "celery")] * 2
    for _name, task_id, _key in published_tasks:
        AsyncResult(task_id, app=celery_app).get(timeout=TASK_TIMEOUT)
    for _name, task_id, _key in published_tasks:  # ran there, not here
        wait_for(
            lambda t=task_id: f"Task {TASK}[{t}] succeeded" in alert_worker.output(),
            describe=alert_worker.output,
        )

    alerts = CapacityAlert.objects.filter(partnership=world.ours)
    assert [(a.week, a.kind, a.severity, a.status) for a in alerts] == [
        (week_n, Kind.OVERLOAD, Severity.CRITICAL, Status.OPEN)
    ]
    assert alerts.get().utilisation == 140

    to_manager = [m for m in smtp_sink.messages if m["To"] == world.account_manager.email]
    assert len(to_manager) == 1, [m["To"] for m in smtp_sink.messages]
    message = to_manager[0]
    assert message["Subject"] == "[Partnership Portal] Capacity critical in 1 week(s)"
    body = smtp_sink.bodies()[smtp_sink.messages.index(message)]
    assert f"Week {week_n:%G-W%V}: demand 1400 vs capacity 1000 units (140.0%)." in body
    assert f"/partnerships/{world.ours.pk}/capacity/" in body
    assert {m["To"] for m in smtp_sink.messages} == {
        world.account_manager.email,
        world.buyer.email,
    }
