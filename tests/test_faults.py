"""Fault injection on the real services: the broker goes away and comes back; the database
drops the web server's connection. (A killed worker, concurrent approvals and a bad import row
are covered next to their features.)"""

import datetime as dt
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone

from comms.models import Meeting, Reminder
from integrations import services as key_services
from partnership.celery import app as portal_celery
from partnership.models import Role
from tests.comms.test_reminders import subject_of
from tests.conftest import free_port
from tests.helpers import wait_for
from tests.workers import PROJECT_DIR, CeleryWorker, test_database_url

TASK = "comms.tasks.send_due_reminders"


class RedisServer:
    """A throwaway redis-server on a free port (never the shared one): stop it, start it."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, describe=lambda: "redis-server did not start")

    def _answers(self):
        try:
            out = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, timeout=2
            )
        except subprocess.TimeoutExpired:
            return False
        return out.stdout.strip() == b"PONG"

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def due_reminders(world, n):
    """n meetings in two hours, each with a reminder that is due now."""
    now = timezone.now()
    meetings = Meeting.objects.bulk_create(
        Meeting(
            partnership=world.ours,
            title=f"Outage review {k}",
            start=now + dt.timedelta(hours=2),
            end=now + dt.timedelta(hours=3),
            time_zone="Europe/Berlin",
            organiser=world.buyer,
            uid=f"{uuid.uuid4()}@oem-ems-portal",
        )
        for k in range(n)
    )
    Reminder.objects.bulk_create(
        Reminder(
            meeting=m,
            occurrence_start=m.start,
            recipient=world.buyer,
            offset_minutes=120,
            due_at=now - dt.timedelta(minutes=1),
        )
        for m in meetings
    )


def send_when_possible(beat, queue, timeout=30):
    """Like beat's next tick: the first send after the outage may meet a pooled connection
    that died with the old server; drop the pool and try again until Redis takes it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return beat.send_task(TASK, queue=queue, retry=False)
        except Exception:
            if time.monotonic() > deadline:
                raise
            beat.pool.force_close_all()
            time.sleep(0.5)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_reminders_due_during_a_redis_outage_are_sent_once_after_it_returns(
    world, smtp_sink, redis_server
):
    """Redis stops while reminders fall due: the scheduler cannot even enqueue its sweep. The
    worker rides out the outage, and the first sweep after Redis returns sends every reminder
    that came due meanwhile, once — the database, not the broker, knows what is due."""
    worker = CeleryWorker(
        prefix="fault",
        extra_env={
            "REDIS_URL": redis_server.url,
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_sink.port}",
        },
    )
    # The test plays celery beat, pointed at the throwaway Redis.
    # set_as_current=False: shared tasks elsewhere must keep using the portal's app.
    beat = Celery(
        "fault-beat", broker=redis_server.url, backend=redis_server.url, set_as_current=False
    )
    beat.conf.broker_connection_retry_on_startup = False
    try:
        worker.wait_until_ready()
        redis_server.stop()
        due_reminders(world, 3)  # fall due while the broker is down
        with pytest.raises(Exception) as refused:
            beat.send_task(TASK, queue=worker.queue, retry=False)
        assert "refused" in str(refused.value).lower() or "connect" in str(refused.value).lower()
        time.sleep(3)  # the worker notices and keeps trying to reconnect
        assert worker.process.poll() is None, worker.output()

        redis_server.start()
        result = send_when_possible(beat, worker.queue)
        assert result.get(timeout=90) == 3, worker.output()
        assert not Reminder.objects.filter(sent_at__isnull=True).exists()
        # And again: nothing is sent twice.
        assert send_when_possible(beat, worker.queue).get(timeout=60) == 0
        wait_for(lambda: len(smtp_sink.messages) == 3, timeout=10)
        subjects = sorted(subject_of(m) for m in smtp_sink.messages)
        assert [s.split(": ", 1)[1].split(" at ")[0] for s in subjects] == [
            f"Outage review {k}" for k in range(3)
        ]
        assert "Connection to broker lost" in worker.output() or "reconnect" in worker.output()
    finally:
        worker.stop()
        worker.close()
        beat.close()
        portal_celery.set_current()


# --- PostgreSQL drops the web server's connection ------------------------------------------


@pytest.fixture
def gunicorn(world):
    """The portal under gunicorn (one sync worker: one persistent database connection)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CONN_MAX_AGE": "600",
        "SECRET_KEY": "fault-injection",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "partnership.wsgi",
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{port}",
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            urllib.request.urlopen(base + "/accounts/login/", timeout=2)
        except OSError:
            return False
        return True

    try:
        wait_for(up, timeout=30, describe=lambda: "gunicorn did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.django_db(transaction=True)
def test_the_next_request_after_postgres_drops_the_connection_succeeds(world, gunicorn):
    _key, plaintext = key_services.issue_api_key(
        by=world.oem_admin, organization=world.oem, name="ERP", scopes=["*:read"], role=Role.BUYER
    )

    def get():
        request = urllib.request.Request(
            gunicorn + "/api/v1/partnerships/", headers={"Authorization": f"Bearer {plaintext}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert get() == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        killed = cursor.fetchall()
    assert killed, "the web server held no connection to terminate"
    # CONN_HEALTH_CHECKS: the broken persistent connection is noticed and replaced.
    assert [get() for _ in range(3)] == [200, 200, 200]
