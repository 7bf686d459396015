"""A real ``celery worker`` in a subprocess, for tests that must cross the broker: it reads
the test database pytest-django created and the test Redis, and consumes only its own queue."""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from kombu import Exchange, Queue

from partnership.celery import app as celery_app

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORKER_READY_TIMEOUT = 60


def test_database_url():
    """The URL of the database pytest-django created (``test_<name>``), for the worker."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


class CeleryWorker:
    """``celery worker --pool=solo`` on a queue of its own (``<prefix>-<random>``)."""

    def __init__(self, prefix="test", extra_env=None):
        token = uuid.uuid4().hex
        self.queue = f"{prefix}-{token}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in close()
            mode="w+", prefix="celery-worker-", suffix=".log"
        )
        env = {**os.environ, "DATABASE_URL": test_database_url(), **(extra_env or {})}
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
                    f"Celery worker exited early ({self.process.returncode}):\n{self.output()}"
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
