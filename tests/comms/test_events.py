"""Every write of ``comms.services`` announces itself on the event path (``partnership.events``):
the events it emits, the webhook deliveries they make, the notifications their subscribers
write (same texts and people as before) — and an edit that changes nothing emits nothing and
writes no history row."""

import collections
import datetime as dt
import functools
from decimal import Decimal

import pytest
from django.utils import timezone

from comms import services
from comms.models import ActionItem, Goal, GoalMeasurement, Meeting, Minutes, Problem
from integrations.models import Tombstone, WebhookDelivery, WebhookSubscription
from partnership import events
from partnership.models import Notification

pytestmark = pytest.mark.django_db

COMMS_HOOKS = ["meeting.changed", "action_item.changed", "problem.changed", "goal.changed"]


@pytest.fixture
def hook(world):
    """The OEM's ERP listens to every comms webhook event."""
    return WebhookSubscription.objects.create(
        organization=world.oem, url="https://erp.example/hook", events=COMMS_HOOKS, secret="s"
    )


def seen_as(captured):
    """``[(kind, action, object, changed)]`` of captured events."""
    return [(e.kind, e.action, e.obj, list(e.changed)) for e in captured]


def deliveries(since=0):
    """``[(webhook event, action, changed, object id)]`` of the deliveries recorded."""
    return [
        (d.event, d.payload["action"], d.payload["changed"], d.payload["object"]["id"])
        for d in WebhookDelivery.objects.filter(pk__gt=since).order_by("pk")
    ]


def last_delivery():
    return WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True).last() or 0


def notices(**filters):
    return sorted(
        Notification.objects.filter(**filters).values_list("user__email", "subject", "url")
    )


def send_mails(callbacks):
    """Run the invitation and minutes e-mails queued for the commit (not the webhook sends)."""
    for callback in callbacks:
        if isinstance(callback, functools.partial) and callback.func in (
            services.send_invitations,
            services.send_minutes,
        ):
            callback()


def start_in(days):
    return (timezone.now() + dt.timedelta(days=days)).replace(second=0, microsecond=0)


@pytest.fixture
def single(world):
    start = start_in(3)
    return services.schedule_meeting(
        by=world.buyer,
        partnership=world.ours,
        title="Line 3 review",
        start=start,
        end=start + dt.timedelta(hours=1),
        time_zone="Europe/Berlin",
        attendees=[world.account_manager],
    )


# --- Meetings ---------------------------------------------------------------------------------


def test_scheduling_a_meeting_is_created_and_invites_on_commit(
    world, ems_engineer, hook, mailoutbox, django_capture_on_commit_callbacks
):
    start = start_in(5)
    with events.capture() as seen, django_capture_on_commit_callbacks(execute=False) as later:
        meeting = services.schedule_meeting(
            by=world.buyer,
            partnership=world.ours,
            title="Kick-off",
            start=start,
            end=start + dt.timedelta(hours=1),
            time_zone="Europe/Berlin",
            attendees=[world.account_manager, ems_engineer],
        )

    assert seen_as(seen) == [("meeting", "created", meeting, [])]
    assert seen[0].by == world.buyer
    assert deliveries() == [("meeting.changed", "created", [], meeting.pk)]
    assert mailoutbox == []  # nothing leaves before the commit
    send_mails(later)
    assert sorted(m.to[0] for m in mailoutbox) == ["am@ems.example", "engineer@ems.example"]
    assert {m.subject for m in mailoutbox} == {"[Partnership Portal] Invitation: Kick-off"}


def test_a_change_names_its_fields_attendees_included_and_a_removed_attendee_gets_a_cancel(
    world, ems_engineer, single, hook, mailoutbox, django_capture_on_commit_callbacks
):
    moved = single.start + dt.timedelta(hours=2)
    since = last_delivery()
    with events.capture() as seen, django_capture_on_commit_callbacks() as later:
        services.update_meeting(
            by=world.buyer,
            meeting=single,
            title="Line 3 review (moved)",
            start=moved,
            end=moved + dt.timedelta(hours=1),
            attendees=[ems_engineer],
        )

    send_mails(later)
    single.refresh_from_db()
    assert seen_as(seen) == [
        ("meeting", "changed", seen[0].obj, ["title", "start", "end", "attendees"])
    ]
    assert seen[0].data["removed"] == {world.account_manager.pk}
    assert single.sequence == 1
    assert deliveries(since) == [
        ("meeting.changed", "changed", ["title", "start", "end", "attendees"], single.pk)
    ]
    subjects = {m.to[0]: m.subject for m in mailoutbox}
    assert subjects == {
        "engineer@ems.example": "[Partnership Portal] Updated invitation: Line 3 review (moved)",
        "am@ems.example": "[Partnership Portal] Cancelled: Line 3 review (moved)",
    }


def test_a_meeting_edit_that_changes_nothing_does_nothing(
    world, single, hook, mailoutbox, django_capture_on_commit_callbacks
):
    single.refresh_from_db()
    stamp, history = single.updated_at, single.history.count()
    since = last_delivery()
    with events.capture() as seen, django_capture_on_commit_callbacks() as later:
        services.update_meeting(
            by=world.buyer,
            meeting=single,
            title=single.title,
            start=single.start.astimezone(dt.UTC),  # the same instant in another zone
            rrule="",
            attendees=[world.account_manager],
        )

    send_mails(later)
    single.refresh_from_db()
    assert seen == []
    assert (single.sequence, single.updated_at, single.history.count()) == (0, stamp, history)
    assert deliveries(since) == [] and mailoutbox == []


def test_moving_an_occurrence_creates_it_and_tells_the_series(world, weekly, hook):
    since = last_delivery()
    moved_from = weekly.start + dt.timedelta(days=7)
    with events.capture() as seen:
        override = services.reschedule_occurrence(
            by=world.buyer,
            meeting=weekly,
            occurrence_start=moved_from,
            start=moved_from + dt.timedelta(hours=3),
            end=moved_from + dt.timedelta(hours=4),
        )

    assert [(e.action, e.obj.pk) for e in seen] == [
        ("created", override.pk),
        ("occurrence_moved", weekly.pk),
    ]
    assert seen[1].data["occurrence"] == override
    assert seen[1].data["occurrence_start"] == moved_from
    assert deliveries(since) == [
        ("meeting.changed", "created", [], override.pk),
        ("meeting.changed", "occurrence_moved", [], weekly.pk),
    ]


def test_cancelling_an_occurrence_is_an_event_of_the_series(world, weekly, hook):
    since = last_delivery()
    with events.capture() as seen:
        services.cancel_occurrence(
            by=world.buyer, meeting=weekly, occurrence_start=weekly.start + dt.timedelta(days=7)
        )

    assert [(e.action, e.obj.pk, list(e.changed)) for e in seen] == [
        ("occurrence_cancelled", weekly.pk, ["exdates"])
    ]
    assert deliveries(since) == [
        ("meeting.changed", "occurrence_cancelled", ["exdates"], weekly.pk)
    ]


def test_cancelling_a_series_cancels_and_tombstones_its_moved_occurrences(
    world, weekly, hook, mailoutbox, django_capture_on_commit_callbacks
):
    moved_from = weekly.start + dt.timedelta(days=7)
    override = services.reschedule_occurrence(
        by=world.buyer,
        meeting=weekly,
        occurrence_start=moved_from,
        start=moved_from + dt.timedelta(hours=3),
        end=moved_from + dt.timedelta(hours=4),
    )
    since = last_delivery()
    with events.capture() as seen, django_capture_on_commit_callbacks() as later:
        services.cancel_meeting(by=world.ems_admin, meeting=weekly)

    send_mails(later)
    assert [(e.action, e.obj.pk, e.saved) for e in seen] == [
        ("cancelled", weekly.pk, True),
        ("cancelled", override.pk, False),  # by one UPDATE: the audit trail records it
    ]
    assert deliveries(since) == [
        ("meeting.changed", "cancelled", ["status"], weekly.pk),
        ("meeting.changed", "cancelled", ["status"], override.pk),
    ]
    assert set(
        Tombstone.objects.filter(object_type="meetings").values_list("object_id", flat=True)
    ) == {weekly.pk, override.pk}
    record = Meeting.history.filter(id=override.pk).latest("history_id")
    assert (record.history_type, record.status, record.history_user) == (
        "~",
        "cancelled",
        world.ems_admin,
    )
    # One CANCEL per attendee, for the series (its moved occurrence inside), not one more each
    assert sorted(m.to[0] for m in mailoutbox if "Cancelled" in m.subject) == [
        "am@ems.example",
        "engineer@ems.example",
    ]


def test_minutes_and_the_agenda_are_meeting_events(
    world, single, hook, mailoutbox, django_capture_on_commit_callbacks
):
    since = last_delivery()
    with events.capture() as seen:
        item = services.save_agenda_item(by=world.buyer, meeting=single, title="Yield on line 3")
        services.save_agenda_item(
            by=world.buyer, meeting=single, title="Yield on line 3", item=item
        )
        services.save_minutes(by=world.buyer, meeting=single, notes="98.7 %", decisions="")
        services.save_minutes(by=world.buyer, meeting=single, notes="98.7 %", decisions="")
        services.save_minutes(by=world.buyer, meeting=single, notes="98.7 %", decisions="Go")

    assert [(e.action, list(e.changed)) for e in seen] == [
        ("agenda_changed", ["agenda"]),
        ("minutes_saved", ["notes"]),  # the same text again: nothing
        ("minutes_saved", ["decisions"]),
    ]
    assert seen[0].data["item"] == item and seen[0].data["added"] is True
    assert Minutes.objects.get(meeting=single).history.count() == 2

    with events.capture() as seen, django_capture_on_commit_callbacks() as later:
        services.publish_minutes(by=world.buyer, meeting=single)
    send_mails(later)
    assert [(e.action, list(e.changed)) for e in seen] == [
        ("minutes_published", ["published_at", "published_by"])
    ]
    assert sorted(m.to[0] for m in mailoutbox if m.subject.endswith("Minutes: Line 3 review")) == [
        "am@ems.example",
        "buyer@oem.example",
    ]
    assert [a for _e, a, _c, pk in deliveries(since) if pk == single.pk] == [
        "agenda_changed",
        "minutes_saved",
        "minutes_saved",
        "minutes_published",
    ]


# --- Action items -----------------------------------------------------------------------------


def add(world, owner, by=None, **fields):
    return services.add_action_item(
        by=by or world.buyer,
        partnership=world.ours,
        title=fields.pop("title", "Send the stencil drawing"),
        owner=owner,
        due_date=fields.pop("due_date", dt.date(2030, 1, 10)),
        **fields,
    )


def test_action_items_created_changed_and_their_status(world, ems_engineer, hook):
    with events.capture() as seen:
        item = add(world, world.account_manager)
        mine = add(world, world.buyer, title="Mine")
    assert seen_as(seen) == [
        ("action_item", "created", item, []),
        ("action_item", "created", mine, []),
    ]
    url = f"/partnerships/{world.ours.pk}/actions/"
    assert notices() == [
        ("am@ems.example", "New action for you: Send the stencil drawing (due 2030-01-10)", url)
    ]  # not the buyer, who gave it to themselves

    Notification.objects.all().delete()
    with events.capture() as seen:
        services.update_action_item(by=world.buyer, item=item, due_date=dt.date(2030, 1, 17))
        services.update_action_item(by=world.buyer, item=item, owner=ems_engineer)
        services.update_action_item(by=world.buyer, item=item, owner=ems_engineer)  # no change
        services.set_action_status(by=ems_engineer, item=item, status="done")
        services.set_action_status(by=ems_engineer, item=item, status="done")  # no change
        services.set_action_status(by=world.buyer, item=item, status="open")
        services.update_action_item(by=world.buyer, item=item, status="cancelled")
    assert [(e.action, list(e.changed)) for e in seen] == [
        ("changed", ["due_date"]),
        ("changed", ["owner"]),
        ("done", ["status"]),
        ("reopened", ["status"]),
        ("cancelled", ["status"]),
    ]
    assert seen[2].data["previous"] == "open"
    # Only the new owner is told, once.
    assert notices() == [
        (
            "engineer@ems.example",
            "New action for you: Send the stencil drawing (due 2030-01-17)",
            url,
        )
    ]
    assert [(e, a) for e, a, _c, pk in deliveries() if pk == item.pk] == [
        ("action_item.changed", "created"),
        ("action_item.changed", "changed"),
        ("action_item.changed", "changed"),
        ("action_item.changed", "done"),
        ("action_item.changed", "reopened"),
        ("action_item.changed", "cancelled"),
    ]
    assert ActionItem.history.filter(id=item.pk).count() == 6  # created + 5 changes


def test_overdue_reminders_are_events_and_tell_the_owner(world, hook):
    now = timezone.now()
    yesterday = timezone.localdate(now) - dt.timedelta(days=1)
    item = add(world, world.account_manager, by=world.account_manager, due_date=yesterday)

    with events.capture() as seen:
        assert services.remind_overdue_action_items(now=now) == 1
        assert services.remind_overdue_action_items(now=now) == 0
    assert seen_as(seen) == [("action_item", "reminded", item, ["last_reminded_at"])]
    assert notices() == [
        (
            "am@ems.example",
            f"Overdue action: Send the stencil drawing (due {yesterday})",
            f"/partnerships/{world.ours.pk}/actions/",
        )
    ]
    # A reminder changes nothing an outside system keeps: no webhook (the creation's only).
    assert [d[1] for d in deliveries()] == ["created"]


# --- Problems ---------------------------------------------------------------------------------


def raise_one(world, **fields):
    return services.raise_problem(
        by=world.account_manager,
        partnership=world.ours,
        title="Voids under U7",
        description="Seen on 3 of 200 boards.",
        severity="high",
        **fields,
    )


def test_a_raised_problem_is_created_and_tells_the_other_side(world, hook):
    with events.capture() as seen:
        problem = raise_one(world)

    assert seen_as(seen) == [("problem", "created", problem, [])]
    url = problem.get_absolute_url()
    subject = "New problem P-0001 Voids under U7 (High)"
    body = "Seen on 3 of 200 boards."
    assert sorted(Notification.objects.values_list("user__email", "subject", "body", "url")) == [
        ("admin@oem.example", subject, body, url),  # the OEM's key people…
        ("am@ems.example", subject, body, url),  # …and the owner (who raised it)
        ("buyer@oem.example", subject, body, url),
    ]
    assert deliveries() == [("problem.changed", "created", [], problem.pk)]


def test_problem_changes_comments_and_status_moves(world, hook):
    world.buyer.first_name, world.buyer.last_name = "Bertram", "Kaufmann"
    world.buyer.save()
    problem = raise_one(world)
    Notification.objects.all().delete()
    url = problem.get_absolute_url()

    with events.capture() as seen:
        services.update_problem(by=world.buyer, problem=problem, severity="critical")
        services.update_problem(by=world.buyer, problem=problem, severity="critical")  # no change
        services.comment_on_problem(by=world.buyer, problem=problem, text="@am@ems.example see")
        services.change_problem_status(by=world.buyer, problem=problem, status="investigating")
        services.change_problem_status(
            by=world.account_manager, problem=problem, status="resolved", resolution="New stencil"
        )
        services.change_problem_status(by=world.buyer, problem=problem, status="investigating")
        services.update_problem(
            by=world.buyer, problem=problem, status="resolved", resolution="Paste changed too"
        )
        services.change_problem_status(by=world.buyer, problem=problem, status="closed")

    assert [(e.action, list(e.changed)) for e in seen] == [
        ("changed", ["severity"]),
        ("commented", []),
        ("investigation_started", ["status"]),
        ("resolved", ["status", "resolution"]),
        ("reopened", ["status"]),
        ("resolved", ["status", "resolution"]),
        ("closed", ["status"]),
    ]
    assert [a for _e, a, _c, pk in deliveries() if pk == problem.pk][1:] == [
        "changed",
        "commented",
        "investigation_started",
        "resolved",
        "reopened",
        "resolved",
        "closed",
    ]
    assert ("am@ems.example", "Bertram Kaufmann mentioned you in P-0001 Voids under U7", url) in (
        notices()
    )
    told = collections.Counter(
        (user, subject) for user, subject, _url in notices(subject__contains=" is now ")
    )
    assert told == {  # the owner, who raised it too: once each time
        ("am@ems.example", "P-0001 Voids under U7 is now investigating"): 2,
        ("am@ems.example", "P-0001 Voids under U7 is now resolved"): 2,
        ("am@ems.example", "P-0001 Voids under U7 is now closed"): 1,
    }
    assert Notification.objects.get(
        user=world.account_manager, subject__endswith="resolved", body="New stencil"
    )


def test_a_problem_edit_that_changes_nothing_writes_nothing(world, hook):
    problem = raise_one(world)
    problem.refresh_from_db()
    stamp, history, since = problem.updated_at, problem.history.count(), last_delivery()

    with events.capture() as seen:
        services.update_problem(
            by=world.buyer, problem=problem, title="Voids under U7", severity="high"
        )

    problem.refresh_from_db()
    assert seen == [] and deliveries(since) == []
    assert (problem.updated_at, problem.history.count()) == (stamp, history)


# --- Goals ------------------------------------------------------------------------------------


def test_goals_created_changed_and_measured(world, hook):
    with events.capture() as seen:
        goal = services.save_goal(
            by=world.buyer,
            partnership=world.ours,
            horizon="short",
            title="On-time delivery",
            metric="OTD",
            unit="%",
            baseline=Decimal("88"),
            target=Decimal("97"),
            due_date=dt.date(2030, 6, 30),
            owner=world.account_manager,
        )
        services.save_goal(by=world.buyer, partnership=world.ours, goal=goal, target=Decimal("98"))
        services.save_goal(by=world.buyer, partnership=world.ours, goal=goal, target=Decimal("98"))
        services.record_measurement(
            by=world.buyer, goal=goal, date=dt.date(2030, 1, 1), value=Decimal("91")
        )
        services.record_measurement(
            by=world.buyer, goal=goal, date=dt.date(2030, 1, 1), value=Decimal("91")
        )
        services.record_measurement(
            by=world.buyer, goal=goal, date=dt.date(2029, 12, 1), value=Decimal("89")
        )

    assert [(e.action, list(e.changed)) for e in seen] == [
        ("created", []),
        ("changed", ["target"]),  # the same target again: nothing
        ("measured", ["current"]),  # the same value again: nothing
        ("measured", []),  # an earlier day: the current value stays
    ]
    assert [(e, a) for e, a, _c, _pk in deliveries()] == [
        ("goal.changed", "created"),
        ("goal.changed", "changed"),
        ("goal.changed", "measured"),
        ("goal.changed", "measured"),
    ]
    goal.refresh_from_db()
    assert goal.current == Decimal("91") and GoalMeasurement.objects.filter(goal=goal).count() == 2
    assert Goal.history.filter(id=goal.pk).count() == 4  # created, changed, 2 measured


def test_a_new_current_value_is_measured_as_a_recorded_one(world, hook):
    """``save_goal`` records a new current value as today's measurement (a PATCH or an upsert
    of ``current``): announced ``measured``, as ``record_measurement`` (the goals page) does;
    other fields changed with it are ``changed``. One save, one history row."""
    goal = services.save_goal(
        by=world.buyer,
        partnership=world.ours,
        horizon="short",
        title="On-time delivery",
        metric="OTD",
        baseline=Decimal("88"),
        target=Decimal("97"),
        due_date=dt.date(2030, 6, 30),
        owner=world.account_manager,
    )
    since = last_delivery()
    with events.capture() as seen:
        services.save_goal(by=world.buyer, partnership=world.ours, goal=goal, current=Decimal("91"))
        services.save_goal(
            by=world.buyer,
            partnership=world.ours,
            goal=goal,
            current=Decimal("92"),
            target=Decimal("98"),
        )
        services.save_goal(by=world.buyer, partnership=world.ours, goal=goal, current=None)
    assert [(e.action, list(e.changed)) for e in seen] == [
        ("measured", ["current"]),
        ("changed", ["target"]),
        ("measured", ["current"]),
        ("changed", ["current"]),  # cleared: nothing is measured
    ]
    assert [(e, a, c) for e, a, c, _pk in deliveries(since)] == [
        ("goal.changed", "measured", ["current"]),
        ("goal.changed", "changed", ["target"]),
        ("goal.changed", "measured", ["current"]),
        ("goal.changed", "changed", ["current"]),
    ]
    assert seen[2].data["measurement"] == GoalMeasurement.objects.get(goal=goal)
    assert GoalMeasurement.objects.get(goal=goal).value == Decimal("92")
    assert Goal.history.filter(id=goal.pk).count() == 4  # created and three saves


# --- The same events whichever way the write comes ----------------------------------------------


def test_an_upsert_by_external_id_emits_what_the_service_does(world, client, hook):
    from integrations import services as key_services

    _key, plaintext = key_services.issue_api_key(
        by=world.ems_admin, organization=world.ems, name="MES", scopes=["*:write"], role="planner"
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    row = {
        "title": "Voids under U7",
        "description": "Seen on 3 of 200 boards.",
        "severity": "high",
    }

    def bulk(items):
        return client.post(
            "/api/v1/problems/bulk-upsert/",
            {"partnership": world.ours.pk, "items": items},
            content_type="application/json",
            **auth,
        )

    with events.capture() as seen:
        created = bulk([{"external_id": "QM-1", **row}, {"external_id": "QM-2", **row}])
        unchanged = bulk([{"external_id": "QM-1", **row}, {"external_id": "QM-2", **row}])
        moved = client.put(
            "/api/v1/problems/by-external-id/QM-2/",
            {"partnership": world.ours.pk, **row, "severity": "low", "status": "investigating"},
            content_type="application/json",
            **auth,
        )
    assert (created.status_code, unchanged.status_code, moved.status_code) == (200, 200, 200)
    assert unchanged.json()["unchanged"] == 2
    qm1, qm2 = Problem.objects.get(external_id="QM-1"), Problem.objects.get(external_id="QM-2")
    assert [(e.action, e.obj.pk, list(e.changed)) for e in seen] == [
        ("created", qm1.pk, []),
        ("created", qm2.pk, []),
        ("changed", qm2.pk, ["severity"]),
        ("investigation_started", qm2.pk, ["status"]),
    ]
    assert [(a, pk) for _e, a, _c, pk in deliveries()] == [(e.action, e.obj.pk) for e in seen]


def test_cancelling_one_moved_occurrence_is_its_own_closure(
    world, weekly, hook, mailoutbox, django_capture_on_commit_callbacks
):
    moved_from = weekly.start + dt.timedelta(days=7)
    override = services.reschedule_occurrence(
        by=world.buyer,
        meeting=weekly,
        occurrence_start=moved_from,
        start=moved_from + dt.timedelta(hours=3),
        end=moved_from + dt.timedelta(hours=4),
    )
    since = last_delivery()
    with events.capture() as seen, django_capture_on_commit_callbacks() as later:
        services.cancel_meeting(by=world.buyer, meeting=override)
    send_mails(later)

    assert [(e.action, e.obj.pk) for e in seen] == [("cancelled", override.pk)]
    assert deliveries(since) == [("meeting.changed", "cancelled", ["status"], override.pk)]
    assert list(Tombstone.objects.values_list("object_type", "object_id")) == [
        ("meetings", override.pk)
    ]
    assert sorted(m.to[0] for m in mailoutbox) == ["am@ems.example", "engineer@ems.example"]
    assert all(m.subject.endswith("Cancelled: Weekly operations call") for m in mailoutbox)
