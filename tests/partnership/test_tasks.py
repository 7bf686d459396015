"""Nightly housekeeping: run through a real Celery worker on real Redis and PostgreSQL."""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from kombu import Exchange, Queue

from partnership.celery import app as celery_app
from partnership.models import ApiToken, Invitation, Role
from partnership.services import run_housekeeping
from partnership.tasks import nightly_housekeeping
from tests.helpers import wait_for

PROJECT_DIR = Path(__file__).resolve().parents[2]
TASK = "partnership.tasks.nightly_housekeeping"
WORKER_READY_TIMEOUT = 60
TASK_TIMEOUT = 60


def _test_database_url():
    """The URL of the database pytest-django created (``test_<name>``), for the worker."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Worker:
    """``celery worker`` in a subprocess, consuming only its own queue."""

    def __init__(self):
        token = uuid.uuid4().hex
        self.queue = f"test-housekeeping-{token}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            mode="w+", prefix="celery-worker-", suffix=".log"
        )
        env = {**os.environ, "DATABASE_URL": _test_database_url()}
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
                self.queue,
                "-n",
                f"test-{token}@%h",
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
        # Leave nothing behind in Redis: neither an unconsumed message nor the queue's binding.
        # (The queue is declared first so this connection knows the binding it must remove.)
        queue = Queue(self.queue, Exchange(self.queue, "direct"), routing_key=self.queue)
        with celery_app.connection_for_write() as connection:
            bound = queue(connection.default_channel)
            bound.declare()
            bound.delete()

    def close(self):
        self.log.close()


@pytest.fixture
def celery_worker_process():
    """A started worker; its output is printed at teardown (pytest shows it on failure)."""
    worker = Worker()
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

    assert counts == {"sessions": 1, "invitations": 1, "api_tokens": 1}
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
