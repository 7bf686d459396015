"""Requests nobody answered in time: escalated once (or deemed accepted where the contract says
silence is consent). Also through a real Celery worker, with the e-mails going out over SMTP."""

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from contracts import services, subscribers
from contracts.models import DecisionEvent, DecisionMode, DecisionRequest
from contracts.tasks import escalate_overdue_decision_requests
from partnership.celery import app as celery_app
from partnership.models import Notification, Role
from tests.factories import member
from tests.helpers import wait_for
from tests.workers import CeleryWorker

pytestmark = pytest.mark.django_db

Status = DecisionRequest.Status
Kind = DecisionEvent.Kind
TASK = "contracts.tasks.escalate_overdue_decision_requests"
NOTHING = {"deemed_accepted": 0, "escalated": 0}


def needs_approval(world, title="Replace C12 with a Murata part"):
    """Template rule 7.2: OEM approval within 48 h, no silence-is-consent."""
    return services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        title=title,
        category="component_substitution",
        outside_avl=True,
    )


def process_change(world, title="Move reflow to line 2"):
    """Template rule 8.3: consult the OEM within 72 h; silence counts as consent."""
    return services.raise_decision_request(
        by=world.account_manager, partnership=world.ours, title=title, category="process_change"
    )


def escalation_notices(request):
    return (
        Notification.objects.filter(subject__contains=f"{request.reference} ")
        .exclude(subject__contains="needs your approval")
        .exclude(subject__contains="consults you")
    )


def notified_users(request):
    return set(escalation_notices(request).values_list("user__email", flat=True))


# --- In-process -----------------------------------------------------------------------------


def test_an_overdue_request_is_escalated_to_buyers_and_account_managers(world, active_contract):
    request = needs_approval(world)
    now = request.due_at + timedelta(minutes=1)

    assert services.escalate_overdue(now=now) == {"deemed_accepted": 0, "escalated": 1}

    request.refresh_from_db()
    assert (request.status, request.escalated_at) == (Status.OVERDUE, now)
    assert (request.answered_by, request.answered_at) == (None, None)
    assert request.is_open  # still waiting for the OEM's answer
    event = request.events.get(kind=Kind.OVERDUE)
    assert event.created_at == now and event.actor is None
    assert event.text == (
        "No answer within 48 h; escalated to the OEM buyer and the EMS account manager."
    )
    assert notified_users(request) == {
        "buyer@oem.example",
        "admin@oem.example",
        "am@ems.example",
        "admin@ems.example",
    }
    assert set(escalation_notices(request).values_list("subject", flat=True)) == {
        "Overdue: DR-0001 Replace C12 with a Murata part is waiting for the OEM"
    }
    assert escalation_notices(request).count() == 4  # one each, no duplicates


def test_buyers_and_account_managers_hear_of_it_even_with_other_key_contacts(
    world, active_contract
):
    oem_quality = member(world.oem, Role.QUALITY, email="quality@oem.example")
    ems_planner = member(world.ems, Role.PLANNER, email="planner@ems.example")
    member(world.oem, Role.BUYER, email="buyer2@oem.example")
    world.ours.oem_contact, world.ours.ems_contact = oem_quality, ems_planner
    world.ours.save()
    request = needs_approval(world)

    services.escalate_overdue(now=request.due_at)

    assert notified_users(request) == {
        "buyer@oem.example",
        "buyer2@oem.example",
        "quality@oem.example",  # buyers + key contact
        "am@ems.example",
        "planner@ems.example",  # account manager (raised it) + key contact
    }
    assert not Notification.objects.filter(partnership=world.theirs).exists()


def test_silence_is_consent_deems_the_request_accepted(world, active_contract):
    request = process_change(world)
    assert (request.rule.clause_ref, request.mode, request.silence_is_consent) == (
        "8.3",
        DecisionMode.CONSULT_OEM,
        True,
    )
    now = request.due_at + timedelta(hours=1)

    assert services.escalate_overdue(now=now) == {"deemed_accepted": 1, "escalated": 0}

    request.refresh_from_db()
    assert request.status == Status.DEEMED_ACCEPTED and not request.is_open
    assert (request.escalated_at, request.answered_at, request.answered_by) == (now, now, None)
    event = request.events.get(kind=Kind.DEEMED_ACCEPTED)
    assert event.text == "No answer within 72 h: under the contract, silence counts as consent."
    assert notified_users(request) == {
        "buyer@oem.example",
        "admin@oem.example",
        "am@ems.example",
        "admin@ems.example",
    }
    assert set(escalation_notices(request).values_list("subject", flat=True)) == {
        "DR-0001 deemed accepted: Move reflow to line 2"
    }
    with pytest.raises(ValidationError, match="already answered"):
        services.answer_decision_request(
            by=world.buyer, request=request, action="reject", text="Late"
        )


def test_escalation_happens_exactly_once_per_breach(world, active_contract):
    overdue, silent = needs_approval(world), process_change(world)
    now = silent.due_at + timedelta(minutes=5)

    first = services.escalate_overdue(now=now)
    notices, events = Notification.objects.count(), DecisionEvent.objects.count()
    again = services.escalate_overdue(now=now)
    later = services.escalate_overdue(now=now + timedelta(days=3))

    assert first == {"deemed_accepted": 1, "escalated": 1}
    assert again == later == NOTHING
    assert (Notification.objects.count(), DecisionEvent.objects.count()) == (notices, events)
    overdue.refresh_from_db()
    assert (overdue.status, overdue.escalated_at) == (Status.OVERDUE, now)
    assert overdue.events.filter(kind=Kind.OVERDUE).count() == 1


def test_requests_not_yet_due_are_untouched(world, active_contract):
    request = needs_approval(world)
    notices = Notification.objects.count()

    assert services.escalate_overdue(now=request.due_at - timedelta(seconds=1)) == NOTHING
    assert services.escalate_overdue() == NOTHING  # "now" by default: 48 h to go

    request.refresh_from_db()
    assert (request.status, request.escalated_at) == (Status.AWAITING_OEM, None)
    assert not request.events.filter(kind=Kind.OVERDUE).exists()
    assert Notification.objects.count() == notices
    # At the due time it is overdue.
    assert services.escalate_overdue(now=request.due_at) == {"deemed_accepted": 0, "escalated": 1}


def test_closed_requests_are_never_escalated(world, active_contract):
    answered = needs_approval(world, title="Answered")
    services.answer_decision_request(by=world.buyer, request=answered, action="approve")
    withdrawn = needs_approval(world, title="Withdrawn")
    services.withdraw_decision_request(by=world.account_manager, request=withdrawn)
    decided = services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        title="Decided",
        category="alternate_source",
    )

    assert services.escalate_overdue(now=timezone.now() + timedelta(days=30)) == NOTHING

    statuses = dict(DecisionRequest.objects.values_list("title", "status"))
    assert statuses == {
        "Answered": Status.APPROVED,
        "Withdrawn": Status.WITHDRAWN,
        "Decided": Status.DECIDED_BY_EMS,
    }
    assert decided.due_at is None


def test_an_overdue_request_can_still_be_answered(world, active_contract):
    request = needs_approval(world)
    DecisionRequest.objects.filter(pk=request.pk).update(due_at=timezone.now() - timedelta(hours=1))
    assert services.escalate_overdue() == {"deemed_accepted": 0, "escalated": 1}

    services.answer_decision_request(
        by=world.buyer, request=request, action="approve", text="Sorry, late"
    )

    request.refresh_from_db()
    assert request.status == Status.APPROVED and request.escalated_at is not None
    assert [e.kind for e in request.events.all()] == [
        Kind.RAISED,
        Kind.ROUTED,
        Kind.OVERDUE,
        Kind.APPROVED,
    ]


def test_many_overdue_requests_are_handled_in_batches(world, active_contract):
    requests = [needs_approval(world, title=f"Request {n}") for n in range(5)]

    counts = services.escalate_overdue(now=requests[-1].due_at, batch_size=2)

    assert counts == {"deemed_accepted": 0, "escalated": 5}
    assert set(DecisionRequest.objects.values_list("status", flat=True)) == {Status.OVERDUE}


@pytest.mark.django_db(transaction=True)
def test_parallel_runs_escalate_each_request_once(world, active_contract):
    """Two beat ticks overlapping (or two workers): SKIP LOCKED lets each claim its own rows."""
    requests = [needs_approval(world, title=f"Request {n}") for n in range(6)]
    DecisionRequest.objects.update(due_at=timezone.now() - timedelta(minutes=1))
    notify = subscribers.notify

    def slow_notify(*args, **kwargs):
        time.sleep(0.05)  # keep each batch's rows locked a little while
        return notify(*args, **kwargs)

    barrier, results = threading.Barrier(3), []

    def tick():
        try:
            barrier.wait(timeout=10)
            results.append(services.escalate_overdue(batch_size=2))
        finally:
            connection.close()

    with mock.patch.object(subscribers, "notify", slow_notify):
        threads = [threading.Thread(target=tick) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

    assert len(results) == 3
    assert sum(r["escalated"] for r in results) == len(requests)
    assert DecisionEvent.objects.filter(kind=Kind.OVERDUE).count() == len(requests)
    assert set(DecisionRequest.objects.values_list("status", flat=True)) == {Status.OVERDUE}
    for request in requests:
        assert escalation_notices(request).count() == 4


def test_escalation_is_scheduled_every_five_minutes_in_the_database():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_related("interval").get(
        name="Escalate overdue decision requests"
    )
    assert (task.task, task.enabled, task.crontab) == (TASK, True, None)
    assert (task.interval.every, task.interval.period) == (5, "minutes")
    assert TASK in celery_app.tasks


# --- Through a real Celery worker -----------------------------------------------------------
# (Copied from tests/partnership/test_tasks.py, plus extra environment for the worker.)

TASK_TIMEOUT = 60


@pytest.fixture
def mailing_worker(transactional_db, smtp_sink):
    """A worker that sends its e-mail to the SMTP sink; its output is printed at teardown."""
    worker = CeleryWorker("test-escalation", {"EMAIL_URL": f"smtp://127.0.0.1:{smtp_sink.port}"})
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


def run_in_worker(worker):
    result = escalate_overdue_decision_requests.apply_async(queue=worker.queue)
    try:
        counts = result.get(timeout=TASK_TIMEOUT)
    finally:
        result.forget()
    wait_for(
        lambda: f"Task {TASK}[{result.id}] succeeded" in worker.output(), describe=worker.output
    )
    return counts


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_escalation_runs_in_a_real_worker_and_mails_both_sides(
    world, active_contract, smtp_sink, mailing_worker
):
    overdue, silent = needs_approval(world), process_change(world)
    waiting = needs_approval(world, title="Not due yet")
    past = timezone.now() - timedelta(minutes=1)
    DecisionRequest.objects.filter(pk__in=[overdue.pk, silent.pk]).update(due_at=past)
    smtp_sink.messages.clear()  # the "please answer" mails sent when they were raised

    counts = run_in_worker(mailing_worker)

    assert counts == {"deemed_accepted": 1, "escalated": 1}
    by_subject = {}
    for message in smtp_sink.messages:
        subject = "".join(message["Subject"].splitlines())
        by_subject.setdefault(subject, set()).add(message["To"])
    both_sides = {"buyer@oem.example", "admin@oem.example", "am@ems.example", "admin@ems.example"}
    assert by_subject == {
        "[Partnership Portal] Overdue: DR-0001 Replace C12 with a Murata part is waiting for the OEM": both_sides,
        "[Partnership Portal] DR-0002 deemed accepted: Move reflow to line 2": both_sides,
    }, mailing_worker.output()
    assert len(smtp_sink.messages) == 8  # one per person and request, none twice
    statuses = dict(DecisionRequest.objects.values_list("pk", "status"))
    assert statuses == {
        overdue.pk: Status.OVERDUE,
        silent.pk: Status.DEEMED_ACCEPTED,
        waiting.pk: Status.AWAITING_OEM,
    }

    again = run_in_worker(mailing_worker)

    assert again == NOTHING
    assert len(smtp_sink.messages) == 8
    assert DecisionEvent.objects.filter(kind__in=[Kind.OVERDUE, Kind.DEEMED_ACCEPTED]).count() == 2
