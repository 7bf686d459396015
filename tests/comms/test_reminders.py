"""Meeting reminders: planned as rows in the database, sent when due, each exactly once — also
when the worker sending them is killed in the middle of a batch."""

import asyncio
import collections
import datetime as dt
import email
import email.header
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zoneinfo
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from kombu import Exchange, Queue

from comms import recurrence, services
from comms.models import Meeting, Reminder
from partnership.celery import app as celery_app
from partnership.models import NotificationSettings
from tests.conftest import free_port
from tests.helpers import wait_for
from tests.workers import test_database_url

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
H = services.PLANNING_HORIZON


def rows(meeting=None, **filters):
    qs = Reminder.objects.filter(**filters)
    if meeting is not None:
        qs = qs.filter(meeting=meeting)
    return set(qs.values_list("occurrence_start", "recipient__email", "offset_minutes", "due_at"))


def expected(meeting, now, offsets_by_email):
    """What plan_reminders should create, computed independently of it."""
    out = set()
    for start, _end in recurrence.occurrences(meeting, window_start=now, window_end=now + H):
        for address, offsets in offsets_by_email.items():
            for offset in offsets:
                due = start - dt.timedelta(minutes=offset)
                if due > now:
                    out.add((start, address, offset, due))
    return out


def local_nine(meeting, week):
    """The n-th weekly occurrence, 09:00 Berlin (computed by calendar, not by adding hours)."""
    day = meeting.start.astimezone(BERLIN).date() + dt.timedelta(weeks=week)
    return dt.datetime.combine(day, dt.time(9, 0), BERLIN).astimezone(dt.UTC)


DEFAULT = [1440, 60]
PEOPLE = {"buyer@oem.example": DEFAULT, "am@ems.example": DEFAULT}


# --- Planning -------------------------------------------------------------------------------


def test_one_row_per_occurrence_recipient_and_offset_within_the_horizon(
    world, ems_engineer, weekly
):
    NotificationSettings.objects.create(user=ems_engineer, reminder_offsets=[15])
    Reminder.objects.all().delete()
    now = weekly.start - dt.timedelta(minutes=90)

    services.plan_reminders(weekly, now=now)

    # 35 days ahead: occurrences 0..4 of the 12 (the 6th starts 35 days after the 1st).
    # The first occurrence is 90 minutes away: its 1-day reminders are past and skipped.
    people = {**PEOPLE, "engineer@ems.example": [15]}
    assert rows(weekly) == expected(weekly, now, people)
    assert Reminder.objects.count() == 3 + 4 * (2 + 2 + 1)
    assert {r[0] for r in rows(weekly)} == {local_nine(weekly, n) for n in range(5)}
    first = local_nine(weekly, 0)
    assert {(r[1], r[2]) for r in rows(weekly, occurrence_start=first)} == {
        ("buyer@oem.example", 60),  # the organiser is reminded, too
        ("am@ems.example", 60),
        ("engineer@ems.example", 15),  # their own offsets
    }
    assert all(r[3] > now for r in rows(weekly))
    assert not Reminder.objects.filter(sent_at__isnull=False).exists()


def test_inactive_people_and_empty_offsets_get_no_reminders(world, ems_engineer, weekly):
    NotificationSettings.objects.create(user=ems_engineer, reminder_offsets=[])
    world.account_manager.is_active = False
    world.account_manager.save()
    Reminder.objects.all().delete()

    services.plan_reminders(weekly, now=weekly.start - dt.timedelta(days=2))

    assert {r[1] for r in rows(weekly)} == {"buyer@oem.example"}


def test_replanning_is_idempotent(world, ems_engineer, weekly):
    Reminder.objects.all().delete()
    now = weekly.start - dt.timedelta(days=2)
    people = {**PEOPLE, "engineer@ems.example": DEFAULT}

    services.plan_reminders(weekly, now=now)
    first = rows(weekly)
    services.plan_reminders(weekly, now=now)
    services.plan_reminders(weekly, now=now + dt.timedelta(hours=1))
    services.extend_reminder_horizon(now=now)

    assert rows(weekly) == first == expected(weekly, now, people)
    assert Reminder.objects.count() == len(first)

    # A week later the daily extension adds the occurrence that entered the horizon, only it.
    later = now + dt.timedelta(days=7)
    services.extend_reminder_horizon(now=later)
    services.extend_reminder_horizon(now=later)
    assert rows(weekly) == first | expected(weekly, later, people)
    assert Reminder.objects.count() == len(first | expected(weekly, later, people))
    assert local_nine(weekly, 5) in {r[0] for r in rows(weekly)}


def test_update_moves_unsent_reminders_and_keeps_sent_ones(world, ems_engineer, weekly):
    sent = Reminder.objects.order_by("due_at", "id").first()
    sent_at = timezone.now() - dt.timedelta(minutes=1)
    Reminder.objects.filter(pk=sent.pk).update(sent_at=sent_at)
    old_unsent = set(Reminder.objects.filter(sent_at__isnull=True).values_list("pk", flat=True))
    assert len(old_unsent) > 10
    later = weekly.start + dt.timedelta(hours=2)

    before = timezone.now()
    services.update_meeting(
        by=world.buyer, meeting=weekly, start=later, end=later + dt.timedelta(hours=1)
    )
    after = timezone.now()

    weekly.refresh_from_db()
    assert not Reminder.objects.filter(pk__in=old_unsent).exists()
    kept = Reminder.objects.get(pk=sent.pk)
    assert (kept.sent_at, kept.occurrence_start, kept.due_at) == (
        sent_at,
        sent.occurrence_start,
        sent.due_at,
    )
    unsent = {r for r in rows(weekly, sent_at__isnull=True) if r[3] > after}
    people = {**PEOPLE, "engineer@ems.example": DEFAULT}
    assert unsent == {r for r in expected(weekly, before, people) if r[3] > after}
    assert unsent and {s.astimezone(BERLIN).time() for s, *_ in unsent} == {dt.time(11, 0)}
    assert not Reminder.objects.filter(sent_at__isnull=True, due_at__lte=before).exists()


def test_cancelling_deletes_unsent_reminders_for_good(world, ems_engineer, weekly):
    second = local_nine(weekly, 1)
    moved = second + dt.timedelta(days=1)
    override = services.reschedule_occurrence(
        by=world.buyer,
        meeting=weekly,
        occurrence_start=second,
        start=moved,
        end=moved + dt.timedelta(hours=1),
    )
    assert Reminder.objects.filter(meeting=override).count() == 3 * 2
    assert not Reminder.objects.filter(meeting=weekly, occurrence_start=second).exists()
    sent = Reminder.objects.filter(meeting=weekly).order_by("due_at", "id").first()
    Reminder.objects.filter(pk=sent.pk).update(sent_at=timezone.now())

    services.cancel_meeting(by=world.buyer, meeting=weekly)

    assert list(Reminder.objects.values_list("pk", flat=True)) == [sent.pk]
    # Nothing plans them again: not the daily horizon extension (the moved occurrence belongs
    # to the cancelled series, too), not a re-plan, and nothing is sent.
    for days in (0, 1, 8):
        services.extend_reminder_horizon(now=timezone.now() + dt.timedelta(days=days))
    assert services.plan_reminders(Meeting.objects.get(pk=weekly.pk)) == 0
    assert list(Reminder.objects.values_list("pk", flat=True)) == [sent.pk]
    assert services.send_due_reminders(now=timezone.now() + dt.timedelta(days=60)) == 0


def test_the_due_scan_uses_the_partial_index(world, weekly):
    """20,000 reminders, most of them sent: finding the next due one reads the small partial
    index of unsent rows, in due order, not the table."""
    Reminder.objects.all().delete()
    base = timezone.now() - dt.timedelta(days=30)
    Reminder.objects.bulk_create(
        (
            Reminder(
                meeting=weekly,
                recipient=world.buyer,
                occurrence_start=base + dt.timedelta(minutes=n),
                offset_minutes=60,
                due_at=base + dt.timedelta(minutes=n - 60),
                sent_at=None if n % 40 == 0 else base + dt.timedelta(minutes=n - 60),
            )
            for n in range(20_000)
        ),
        batch_size=2_000,
    )
    assert Reminder.objects.filter(sent_at__isnull=True).count() == 500
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Reminder._meta.db_table}")
    now = timezone.now()

    plan = (
        Reminder.objects.filter(sent_at__isnull=True, due_at__lte=now)
        .order_by("due_at")[:1]
        .explain()
    )

    assert "reminder_due_idx" in plan, plan
    # The real scan (row locks, the joined meeting and recipient) uses it, too.
    locked_plan = (
        Reminder.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(sent_at__isnull=True, due_at__lte=now)
        .select_related("meeting__partnership", "meeting__organiser", "recipient")
        .order_by("due_at")[:1]
        .explain()
    )
    assert "reminder_due_idx" in locked_plan, locked_plan


# --- Sending (in-process, over real SMTP) ---------------------------------------------------


def subject_of(message):
    """The decoded, unfolded Subject."""
    raw = re.sub(r"\r?\n(?=[ \t])", "", message["Subject"])
    return str(email.header.make_header(email.header.decode_header(raw)))


@pytest.mark.django_db(transaction=True)
def test_due_reminders_are_sent_once_each_in_the_recipients_zone(
    world, ems_engineer, smtp_sink, weekly
):
    wait_for(lambda: len(smtp_sink.messages) == 2)  # the invitations
    smtp_sink.messages.clear()
    NotificationSettings.objects.create(user=world.account_manager, email_enabled=False)
    Reminder.objects.all().delete()
    services.plan_reminders(weekly, now=weekly.start - dt.timedelta(days=3))
    total = Reminder.objects.count()
    first = local_nine(weekly, 0)
    now = first - dt.timedelta(minutes=30)

    assert services.send_due_reminders(now=now) == 6  # 3 people × (1 day, 1 hour) before
    assert services.send_due_reminders(now=now) == 0

    due = Reminder.objects.filter(due_at__lte=now)
    assert due.count() == 6 and not due.filter(sent_at__isnull=True).exists()
    assert Reminder.objects.filter(sent_at__isnull=True).count() == total - 6
    assert not Reminder.objects.filter(sent_at__isnull=False, due_at__gt=now).exists()
    # The account manager turned e-mail off: marked sent, no mail.
    sent_to = collections.Counter(m["To"] for m in smtp_sink.messages)
    assert sent_to == {"buyer@oem.example": 2, "engineer@ems.example": 2}
    (engineer,) = {subject_of(m) for m in smtp_sink.messages if m["To"] == "engineer@ems.example"}
    local = first.astimezone(SHANGHAI)
    assert local.hour in (15, 16)
    assert engineer == (
        f"[Partnership Portal] Reminder: Weekly operations call at {local:%a %d %b %H:%M} CST"
    )
    body = dict(zip([m["To"] for m in smtp_sink.messages], smtp_sink.bodies(), strict=True))
    assert (
        f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} (Asia/Shanghai)"
        in body["engineer@ems.example"]
    )
    assert f"{local.day} {local:%B %Y}, 09:00 (Europe/Berlin)" in body["buyer@oem.example"]

    # A week later: the next occurrence's six, nothing else again.
    smtp_sink.messages.clear()
    next_week = local_nine(weekly, 1) - dt.timedelta(minutes=30)
    assert services.send_due_reminders(now=next_week) == 6
    assert services.send_due_reminders(now=next_week) == 0
    assert len(smtp_sink.messages) == 4


@pytest.mark.django_db(transaction=True)
def test_reminders_found_after_the_meeting_began_are_dropped_not_sent(
    world, ems_engineer, smtp_sink, weekly
):
    wait_for(lambda: len(smtp_sink.messages) == 2)
    smtp_sink.messages.clear()
    Reminder.objects.all().delete()
    services.plan_reminders(weekly, now=weekly.start - dt.timedelta(days=3))

    # The workers were down for a while: by now the first occurrence is an hour old.
    assert services.send_due_reminders(now=local_nine(weekly, 0) + dt.timedelta(hours=1)) == 6

    assert smtp_sink.messages == []
    assert Reminder.objects.filter(sent_at__isnull=False).count() == 6


# --- Through a real Celery worker that is killed mid-batch ----------------------------------
# (Worker management as in tests/contracts/test_escalation.py, plus its own process group, so
# SIGKILL reaches every process of it, and removal of the message the killed worker held.)

WORKER_READY_TIMEOUT = 60
TASK_TIMEOUT = 120
TASK = "comms.tasks.send_due_reminders"
REMINDERS = 150
SMTP_DELAY = 0.02  # seconds per message: the batch takes several seconds
KILL_AT = 60  # the message during which the worker dies


class Worker:
    """``celery worker --pool=solo`` in a subprocess (its own session), on its own queue."""

    def __init__(self, queue, extra_env):
        self.queue = queue
        token = uuid.uuid4().hex
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in close()
            mode="w+", prefix="celery-worker-", suffix=".log"
        )
        env = {**os.environ, "DATABASE_URL": test_database_url(), **extra_env}
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
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, for killpg
        )

    def output(self):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def wait_until_ready(self, timeout=WORKER_READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"Worker exited early ({self.process.returncode}):\n{self.output()}")
            if " ready." in self.output():
                return
            time.sleep(0.2)
        pytest.fail(f"Celery worker not ready after {timeout}s:\n{self.output()}")

    def kill(self):
        """SIGKILL, no warm or cold shutdown: nothing of the worker runs any more."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self):
        self.log.close()


def _remove_queue(queue_name):
    """Leave nothing behind in Redis: the queue, its binding, and the unacknowledged message
    of the killed worker (acks_late), which Redis would otherwise restore an hour later."""
    queue = Queue(queue_name, Exchange(queue_name, "direct"), routing_key=queue_name)
    with celery_app.connection_for_write() as conn:
        bound = queue(conn.default_channel)
        bound.declare()
        bound.delete()
        client = conn.default_channel.client
        for tag, raw in client.hgetall("unacked").items():
            try:
                _message, _exchange, routing_key = json.loads(raw)
            except ValueError:
                continue
            if routing_key == queue_name:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)


class SlowSmtpSink:
    """A real SMTP server that takes SMTP_DELAY per message before accepting it ("250"), and
    can hold message number ``hold_at`` until told to go on. A message whose client went away
    before the "250" is not accepted (aiosmtpd cancels the handler on connection loss)."""

    def __init__(self, hold_at=None):
        from aiosmtpd.controller import Controller

        self.messages = []
        self.received = 0  # DATA commands seen
        self.aborted = 0  # clients gone before acceptance
        self.holding = threading.Event()
        self.release = threading.Event()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.received += 1
                try:
                    if sink.received == hold_at:
                        sink.holding.set()
                        while not sink.release.is_set():
                            await asyncio.sleep(0.01)
                    else:
                        await asyncio.sleep(SMTP_DELAY)
                except asyncio.CancelledError:
                    sink.aborted += 1
                    raise
                sink.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def key(self, message):
        return (message["To"], subject_of(message))


@pytest.fixture
def reminder_queue():
    name = f"test-reminders-{uuid.uuid4().hex}"
    yield name
    _remove_queue(name)


@pytest.fixture
def workers(reminder_queue):
    """Start workers on the queue; all are stopped (if still alive) and their output printed."""
    started = []

    def start(sink):
        worker = Worker(reminder_queue, {"EMAIL_URL": f"smtp://127.0.0.1:{sink.port}"})
        started.append(worker)
        worker.wait_until_ready()
        return worker

    yield start
    for n, worker in enumerate(started):
        try:
            worker.stop()
        finally:
            print(f"--- celery worker {n} output (exit code {worker.process.returncode}) ---")
            print(worker.output())
            worker.close()


def _many_due_reminders(world, n):
    """n meetings starting soon, one reminder each, all due: duplicates show by subject."""
    now = timezone.now()
    meetings = Meeting.objects.bulk_create(
        Meeting(
            partnership=world.ours,
            title=f"Line review {k:03d}",
            start=now + dt.timedelta(hours=2),
            end=now + dt.timedelta(hours=3),
            time_zone="Europe/Berlin",
            organiser=world.buyer,
            uid=f"{uuid.uuid4()}@oem-ems-portal",
        )
        for k in range(n)
    )
    recipients = [world.buyer, world.account_manager, world.ems_admin]
    Reminder.objects.bulk_create(
        Reminder(
            meeting=meeting,
            occurrence_start=meeting.start,
            recipient=recipients[k % len(recipients)],
            offset_minutes=180,
            due_at=meeting.start - dt.timedelta(minutes=180 - k % 7),
        )
        for k, meeting in enumerate(meetings)
    )
    return {
        (r.recipient.email, f"[Partnership Portal] Reminder: {r.meeting.title}")
        for r in Reminder.objects.select_related("meeting", "recipient")
    }


def _run_until_all_sent(worker, queue, attempts=3):
    for _ in range(attempts):
        result = celery_app.send_task(TASK, queue=queue)
        try:
            result.get(timeout=TASK_TIMEOUT)
        finally:
            result.forget()
        if not Reminder.objects.filter(sent_at__isnull=True).exists():
            return
    pytest.fail(f"Reminders still unsent after {attempts} runs:\n{worker.output()}")


def _received(sink):
    """(recipient, subject without the time) → how many messages the sink accepted."""
    return collections.Counter((m["To"], subject_of(m).rsplit(" at ", 1)[0]) for m in sink.messages)


def _keys(queryset):
    return {
        (email_, f"[Partnership Portal] Reminder: {title}")
        for email_, title in queryset.values_list("recipient__email", "meeting__title")
    }


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kill", ["during_smtp", "when_polled"])
def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_at_most_the_one_in_flight(
    world, workers, reminder_queue, kill
):
    """SIGKILL the worker in the middle of a batch of 150 reminders, then let a fresh worker
    finish: every reminder is marked sent and went out exactly once — bar the one in flight.

    Each reminder is locked, sent and marked sent in its own transaction. A kill before the
    mail server accepted the message (its "250") rolls the row back to unsent and nothing was
    delivered, so the next worker sends it once; a kill after the COMMIT leaves it sent. The
    theoretical at-least-once window is between the server accepting the message and the
    COMMIT of its ``sent_at`` (the "250" on its way back, SMTP QUIT, one UPDATE, the COMMIT):
    a kill there leaves a delivered message with an unsent row, and that one reminder goes out
    a second time. SMTP cannot commit together with the database, so this is the guarantee:
    nothing lost, at most the single in-flight reminder duplicated per killed worker.

    - ``during_smtp``: the sink holds message 60 and the worker is killed while it waits for
      the "250" — deterministically outside the window: exactly-once, asserted strictly.
    - ``when_polled``: killed as soon as the test sees 60 rows marked sent, wherever the
      worker is in its cycle. This does land in the window now and then (3 of 12 runs while
      this test was written), so one duplicate — of the in-flight reminder only — is
      tolerated; a loss never is.
    """
    sink = SlowSmtpSink(hold_at=KILL_AT if kill == "during_smtp" else None)
    sink.controller.start()
    try:
        wanted = _many_due_reminders(world, REMINDERS)
        assert len(wanted) == REMINDERS
        first = workers(sink)

        celery_app.send_task(TASK, queue=reminder_queue)
        marked = Reminder.objects.filter(sent_at__isnull=False)
        if kill == "during_smtp":
            assert sink.holding.wait(timeout=TASK_TIMEOUT), first.output()
            # Every earlier reminder is committed; this one waits for the server's answer.
            assert marked.count() == KILL_AT - 1
        else:
            wait_for(lambda: marked.count() >= KILL_AT, timeout=TASK_TIMEOUT, describe=first.output)
        first.kill()
        if kill == "during_smtp":  # the sink saw the client go before it said "250"
            wait_for(lambda: sink.aborted == 1, describe=lambda: sink.messages)
        sink.release.set()

        committed = _keys(marked)
        delivered = set(_received(sink))
        assert KILL_AT - 1 <= len(committed) < REMINDERS  # some, not all
        assert committed <= delivered  # nothing marked sent that did not go out
        in_flight = delivered - committed  # delivered, but the worker died before its COMMIT
        assert len(in_flight) <= (0 if kill == "during_smtp" else 1), in_flight
        assert all(n == 1 for n in _received(sink).values())

        second = workers(sink)
        _run_until_all_sent(second, reminder_queue)
    finally:
        sink.controller.stop()

    assert not Reminder.objects.filter(sent_at__isnull=True).exists()
    received = _received(sink)
    assert set(received) == wanted  # none lost, nothing else sent
    assert {key for key, n in received.items() if n > 1} == in_flight
    assert max(received.values()) <= 2
    assert len(sink.messages) == REMINDERS + len(in_flight)
