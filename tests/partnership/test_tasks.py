"""Nightly housekeeping: run through a real Celery worker on real Redis and PostgreSQL."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from partnership.celery import app as celery_app
from partnership.models import ApiToken, BackgroundJob, Invitation, Role
from partnership.services import run_housekeeping
from partnership.tasks import nightly_housekeeping
from tests.helpers import wait_for
from tests.workers import CeleryWorker

TASK = "partnership.tasks.nightly_housekeeping"
TASK_TIMEOUT = 60


@pytest.fixture
def celery_worker_process():
    """A started worker; its output is printed at teardown (pytest shows it on failure)."""
    worker = CeleryWorker("test-housekeeping")
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


def _session(expire_date):
    store = SessionStore()
    return Session.objects.create(
        session_key=store._get_new_session_key(),
        session_data=store.encode({"marker": "housekeeping"}),
        expire_date=expire_date,
    )


def _stale_data(world):
    """One row of each kind that housekeeping must delete and one it must keep."""
    now = timezone.now()
    rows = {
        "expired_session": _session(now - timedelta(days=1)),
        "live_session": _session(now + timedelta(days=14)),
        "stale_invitation": Invitation.objects.create(
            organization=world.oem,
            email="stale@oem.example",
            role=Role.VIEWER,
            invited_by=world.oem_admin,
            expires_at=now - timedelta(days=40),
        ),
        "fresh_invitation": Invitation.objects.create(
            organization=world.oem,
            email="fresh@oem.example",
            role=Role.VIEWER,
            invited_by=world.oem_admin,
        ),
    }
    dead_token, _key = ApiToken.issue(world.buyer, "Old SAP sync")
    dead_token.revoked_at = now - timedelta(days=100)
    dead_token.save(update_fields=["revoked_at"])
    live_token, _key = ApiToken.issue(world.buyer, "SAP sync")
    rows["dead_token"] = dead_token
    rows["live_token"] = live_token
    rows["old_job"], rows["recent_job"] = (
        BackgroundJob.objects.create(owner=world.buyer, partnership=world.ours, kind="export")
        for _ in range(2)
    )
    BackgroundJob.objects.filter(pk=rows["old_job"].pk).update(created_at=now - timedelta(days=8))
    return rows


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_housekeeping_runs_in_a_real_worker(world, celery_worker_process):
    rows = _stale_data(world)

    result = nightly_housekeeping.apply_async(queue=celery_worker_process.queue)
    try:
        counts = result.get(timeout=TASK_TIMEOUT)
    finally:
        result.forget()

    assert counts == {"sessions": 1, "invitations": 1, "api_tokens": 1, "background_jobs": 1}
    assert not BackgroundJob.objects.filter(pk=rows["old_job"].pk).exists()
    assert BackgroundJob.objects.filter(pk=rows["recent_job"].pk).exists()
    assert not Session.objects.filter(pk=rows["expired_session"].pk).exists()
    assert Session.objects.filter(pk=rows["live_session"].pk).exists()
    assert not Invitation.objects.filter(pk=rows["stale_invitation"].pk).exists()
    assert Invitation.objects.filter(pk=rows["fresh_invitation"].pk).exists()
    assert not ApiToken.objects.filter(pk=rows["dead_token"].pk).exists()
    assert ApiToken.objects.filter(pk=rows["live_token"].pk).exists()
    # The task ran in the worker process, not here.
    wait_for(
        lambda: f"Task {TASK}[{result.id}] succeeded" in celery_worker_process.output(),
        describe=celery_worker_process.output,
    )


@pytest.mark.django_db
def test_housekeeping_is_scheduled_nightly_in_the_database():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_related("crontab").get(name="Nightly housekeeping")
    assert task.enabled
    assert task.task == TASK
    assert task.interval is None
    assert task.crontab is not None
    assert task.crontab.minute == "15"
    assert task.crontab.hour == "3"
    assert task.crontab.day_of_week == "*"
    assert task.crontab.day_of_month == "*"
    assert task.crontab.month_of_year == "*"
    assert str(task.crontab.timezone) == "UTC"
    # The path resolves to the registered task, so beat would actually find it.
    assert TASK in celery_app.tasks


@pytest.mark.django_db
def test_housekeeping_is_idempotent(world):
    rows = _stale_data(world)

    first = run_housekeeping()
    second = run_housekeeping()

    assert first == {"sessions": 1, "invitations": 1, "api_tokens": 1}
    assert second == {"sessions": 0, "invitations": 0, "api_tokens": 0}
    assert Session.objects.filter(pk=rows["live_session"].pk).exists()
    assert Invitation.objects.filter(pk=rows["fresh_invitation"].pk).exists()
    assert ApiToken.objects.filter(pk=rows["live_token"].pk).exists()
