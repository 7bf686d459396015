"""Small helpers shared by tests."""

import time


def wait_for(predicate, *, timeout=10.0, describe=lambda: ""):
    """Poll until ``predicate()`` is true. A Celery worker stores a task's result before it
    logs its success, so log checks right after ``result.get()`` need a moment."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, describe()
        time.sleep(0.05)
