"""Minutes and action items, the problem log with @mentions, shared goals — and that viewers
and outsiders change none of it."""

import collections
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from pypdf import PdfReader

from comms import services
from comms.models import (
    ActionItem,
    AgendaItem,
    Goal,
    GoalMeasurement,
    Meeting,
    Minutes,
    Problem,
    ProblemComment,
)
from partnership.models import Notification
from schedules.models import Product
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 25)


@pytest.fixture
def people(world, ems_engineer):
    """Names nobody else has, so a mention can only mean one person."""
    names = {
        world.buyer: ("Bertram", "Kaufmann"),
        world.oem_admin: ("Adelheid", "Vorstand"),
        world.oem_viewer: ("Vitus", "Zuschauer"),
        world.account_manager: ("Agnieszka", "Nowak"),
        world.ems_admin: ("Bronisław", "Szef"),
        ems_engineer: ("Li", "Wei"),
        world.outsider: ("Zebediah", "Outerbridge"),
    }
    for user, (first, last) in names.items():
        user.first_name, user.last_name = first, last
        user.save()
    return world


def action(world, owner, title="Send the revised stencil drawing", by=None, **kwargs):
    return services.add_action_item(
        by=by or world.buyer,
        partnership=world.ours,
        title=title,
        owner=owner,
        due_date=kwargs.pop("due_date", TODAY + dt.timedelta(days=7)),
        **kwargs,
    )


def problem(world, by=None, partnership=None, title="Tombstoning on C14", **kwargs):
    return services.raise_problem(
        by=by or world.account_manager,
        partnership=partnership or world.ours,
        title=title,
        description="Seen on 3 of 200 boards in lot 2611.",
        severity=kwargs.pop("severity", "high"),
        **kwargs,
    )


def notices(user, contains=""):
    return list(
        Notification.objects.filter(user=user, subject__contains=contains).values_list(
            "subject", flat=True
        )
    )


# --- Minutes and action items ---------------------------------------------------------------


def test_empty_minutes_are_not_published(world, weekly):
    services.save_minutes(by=world.buyer, meeting=weekly, notes="  \n ", decisions="")

    with pytest.raises(ValidationError, match="before publishing"):
        services.publish_minutes(by=world.buyer, meeting=weekly)

    assert Minutes.objects.get(meeting=weekly).published_at is None


def pdf_text(data: bytes) -> str:
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return re.sub(r"\s+", " ", text)


@pytest.mark.django_db(transaction=True)
def test_published_minutes_reach_everyone_with_the_pdf(world, ems_engineer, smtp_sink, weekly):
    services.save_minutes(
        by=world.buyer,
        meeting=weekly,
        notes="Yield on line 2 back at 98.7 %.",
        decisions="Second source for the X7R capacitors.",
    )
    action(world, world.account_manager, "Send the revised stencil drawing", meeting=weekly)
    action(world, ems_engineer, "Qualify the second X7R supplier", meeting=weekly)
    wait_for(lambda: len(smtp_sink.messages) == 4)  # 2 invitations, 2 "new action for you"
    smtp_sink.messages.clear()

    minutes = services.publish_minutes(by=world.buyer, meeting=weekly)

    assert minutes.published_at is not None and minutes.published_by == world.buyer
    wait_for(lambda: len(smtp_sink.messages) == 3, describe=lambda: smtp_sink.messages)
    assert sorted(m["To"] for m in smtp_sink.messages) == [
        "am@ems.example",
        "buyer@oem.example",  # the organiser, too
        "engineer@ems.example",
    ]
    for message, body in zip(smtp_sink.messages, smtp_sink.bodies(), strict=True):
        assert message["Subject"] == "[Partnership Portal] Minutes: Weekly operations call"
        assert "Send the revised stencil drawing" in body
        (pdf,) = [p for p in message.walk() if p.get_content_type() == "application/pdf"]
        assert pdf.get_filename() == f"minutes-{weekly.pk}.pdf"
        text = pdf_text(pdf.get_payload(decode=True))
        assert "Send the revised stencil drawing" in text
        assert "Qualify the second X7R supplier" in text
        assert "Second source for the X7R capacitors." in text
        assert "Yield on line 2 back at 98.7 %." in text


def test_action_owners_must_belong_to_the_partnership(world):
    with pytest.raises(ValidationError) as excinfo:
        action(world, world.outsider)

    assert list(excinfo.value.message_dict) == ["owner"]
    assert not ActionItem.objects.exists()


def test_actions_cannot_hang_on_another_partnerships_meeting_or_problem(people, world):
    theirs_meeting = services.schedule_meeting(
        by=world.outsider,
        partnership=world.theirs,
        title="Their review",
        start=timezone.now() + dt.timedelta(days=3),
        end=timezone.now() + dt.timedelta(days=3, hours=1),
        time_zone="Europe/London",
    )
    theirs_problem = problem(world, by=world.outsider, partnership=world.theirs)

    for link in ({"meeting": theirs_meeting}, {"problem": theirs_problem}):
        with pytest.raises(ValidationError) as excinfo:
            action(world, world.account_manager, **link)
        assert list(excinfo.value.message_dict) == list(link)
    assert not ActionItem.objects.exists()
    assert not theirs_meeting.action_items.exists()


def test_only_owner_creator_or_admin_change_an_action(world, ems_engineer):
    item = action(world, world.account_manager, by=world.buyer)

    assert services.set_action_status(by=world.account_manager, item=item, status="done").status
    services.set_action_status(by=world.buyer, item=item, status="open")  # who created it
    services.set_action_status(by=world.ems_admin, item=item, status="cancelled")  # an admin
    services.set_action_status(by=world.oem_admin, item=item, status="open")
    for somebody_else in (ems_engineer, world.oem_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            services.set_action_status(by=somebody_else, item=item, status="done")
    with pytest.raises(ValidationError):
        services.set_action_status(by=world.buyer, item=item, status="finished")

    item.refresh_from_db()
    assert item.status == "open"
    assert notices(world.account_manager, "New action for you") == [
        f"New action for you: Send the revised stencil drawing (due {item.due_date})"
    ]


def test_overdue_actions_remind_their_owner_once_a_day(world):
    now = timezone.now()
    yesterday = timezone.localdate(now) - dt.timedelta(days=1)
    overdue = action(world, world.account_manager, "Overdue one", due_date=yesterday)
    in_three_days = timezone.localdate(now) + dt.timedelta(days=3)
    action(world, world.account_manager, "Not yet due", due_date=in_three_days)
    done = action(world, world.account_manager, "Done already", due_date=yesterday)
    services.set_action_status(by=world.account_manager, item=done, status="done")

    assert services.remind_overdue_action_items(now=now) == 1
    assert services.remind_overdue_action_items(now=now) == 0
    assert services.remind_overdue_action_items(now=now + dt.timedelta(hours=12)) == 0
    assert services.remind_overdue_action_items(now=now + dt.timedelta(days=1)) == 1
    assert services.remind_overdue_action_items(now=now + dt.timedelta(days=1, hours=1)) == 0

    overdue.refresh_from_db()
    assert overdue.last_reminded_at == now + dt.timedelta(days=1)
    reminders = notices(world.account_manager, "Overdue action")
    assert reminders == [f"Overdue action: Overdue one (due {yesterday})"] * 2
    # Four days on, "Not yet due" is overdue, too.
    assert services.remind_overdue_action_items(now=now + dt.timedelta(days=4)) == 2


# --- The problem log ------------------------------------------------------------------------


def test_problems_are_numbered_per_partnership(world):
    first, second = problem(world), problem(world, title="Voids under QFN")
    elsewhere = problem(world, by=world.outsider, partnership=world.theirs)

    assert (first.number, second.number, elsewhere.number) == (1, 2, 1)
    assert str(second) == "P-0002 Voids under QFN"
    assert (first.status, first.owner, first.raised_by) == (
        "open",
        world.account_manager,
        world.account_manager,
    )


def test_status_moves_along_the_allowed_transitions_only(world):
    p = problem(world)

    with pytest.raises(ValidationError) as excinfo:
        services.change_problem_status(by=world.buyer, problem=p, status="closed")
    assert "status" in excinfo.value.message_dict
    services.change_problem_status(by=world.buyer, problem=p, status="investigating")
    with pytest.raises(ValidationError) as excinfo:
        services.change_problem_status(by=world.buyer, problem=p, status="resolved")
    assert "resolution" in excinfo.value.message_dict
    services.change_problem_status(
        by=world.account_manager, problem=p, status="resolved", resolution="Pad design fixed."
    )
    closed = services.change_problem_status(by=world.buyer, problem=p, status="closed")

    assert (closed.status, closed.resolution) == ("closed", "Pad design fixed.")
    for status in ("open", "investigating", "resolved", "closed", "deleted"):
        with pytest.raises(ValidationError):
            services.change_problem_status(
                by=world.oem_admin, problem=closed, status=status, resolution="Again"
            )
    p.refresh_from_db()
    assert p.status == "closed"
    assert [c.text.split(".")[0] for c in p.comments.all()] == [
        "Status: Investigating",
        "Status: Resolved",
        "Status: Closed",
    ]


def test_mentions_notify_partnership_members_only(people, world, ems_engineer):
    p = problem(world)
    Notification.objects.all().delete()

    comment = services.comment_on_problem(
        by=world.buyer,
        problem=p,
        text=(
            "@agnieszka.nowak please check the paste, @admin@ems.example FYI; "
            "not for @Zebediah, @admin@foreign.example or @zebediah.outerbridge, "
            "noted by @bertram"
        ),
    )

    assert set(comment.mentions.all()) == {world.account_manager, world.ems_admin, world.buyer}
    notified = collections.Counter(Notification.objects.values_list("user__email", flat=True))
    assert notified == {"am@ems.example": 1, "admin@ems.example": 1}  # not the author
    assert set(Notification.objects.values_list("subject", flat=True)) == {
        "Bertram Kaufmann mentioned you in P-0001 Tombstoning on C14"
    }
    assert not Notification.objects.filter(user=world.outsider).exists()


def test_a_mention_at_the_end_of_a_sentence_still_counts(people, world, ems_engineer):
    p = problem(world)

    comment = services.comment_on_problem(
        by=world.buyer, problem=p, text="Over to you, @Agnieszka. And @li.wei."
    )

    assert set(comment.mentions.all()) == {world.account_manager, ems_engineer}


def test_comments_on_a_closed_problem_are_refused(world):
    p = problem(world)
    with pytest.raises(ValidationError):
        services.comment_on_problem(by=world.buyer, problem=p, text="   ")
    services.change_problem_status(
        by=world.buyer, problem=p, status="resolved", resolution="Replaced the feeder."
    )
    services.comment_on_problem(by=world.buyer, problem=p, text="Confirmed on lot 2612.")
    services.change_problem_status(by=world.buyer, problem=p, status="closed")
    comments = p.comments.count()

    with pytest.raises(ValidationError, match="closed"):
        services.comment_on_problem(by=world.account_manager, problem=p, text="One more thing")

    assert p.comments.count() == comments


def test_problems_link_only_objects_of_their_own_partnership(world):
    ours = Product.objects.create(partnership=world.ours, part_number="CB-100", name="Ctrl board")
    theirs = Product.objects.create(partnership=world.theirs, part_number="X-1", name="Theirs")

    with pytest.raises(ValidationError) as excinfo:
        problem(world, product=theirs)

    assert list(excinfo.value.message_dict) == ["product"]
    assert not Problem.objects.exists()
    assert problem(world, product=ours).product == ours


# --- Goals ----------------------------------------------------------------------------------


def goal(world, **fields):
    defaults = {
        "horizon": "short",
        "title": "On-time delivery",
        "metric": "on-time delivery",
        "unit": "%",
        "baseline": Decimal("80"),
        "target": Decimal("95"),
        "due_date": TODAY + dt.timedelta(days=90),
        "owner": world.account_manager,
    }
    return services.save_goal(by=world.buyer, partnership=world.ours, **{**defaults, **fields})


@pytest.mark.parametrize(
    ("baseline", "target", "current", "pct"),
    [
        ("80", "95", None, None),
        ("80", "95", "80", 0),
        ("80", "95", "90", 67),  # up: 10 of 15
        ("80", "95", "95", 100),
        ("80", "95", "99", 100),  # beyond the target: capped
        ("80", "95", "70", 0),  # worse than the baseline: not negative
        ("500", "100", "300", 50),  # PPM goes down: 200 of 400
        ("500", "100", "150", 88),
        ("500", "100", "600", 0),
        ("500", "100", "50", 100),
        ("100", "100", "90", None),  # no distance to cover
    ],
)
def test_progress_towards_a_goal(world, baseline, target, current, pct):
    g = goal(
        world,
        baseline=Decimal(baseline),
        target=Decimal(target),
        current=None if current is None else Decimal(current),
    )
    assert g.progress_pct == pct


def test_measurements_update_the_current_value_to_the_latest(world):
    g = goal(world, baseline=Decimal("500"), target=Decimal("100"), metric="PPM", unit="ppm")

    services.record_measurement(by=world.account_manager, goal=g, date=TODAY, value=Decimal("320"))
    g.refresh_from_db()
    assert (g.current, g.progress_pct) == (Decimal("320"), 45)

    # A late entry for an earlier day does not replace the latest value ...
    services.record_measurement(
        by=world.buyer, goal=g, date=TODAY - dt.timedelta(days=7), value=Decimal("410")
    )
    g.refresh_from_db()
    assert g.current == Decimal("320")
    # ... a correction of the latest day does.
    services.record_measurement(by=world.buyer, goal=g, date=TODAY, value=Decimal("300"))
    g.refresh_from_db()
    assert g.current == Decimal("300")
    assert list(g.measurements.values_list("date", "value")) == [
        (TODAY - dt.timedelta(days=7), Decimal("410")),
        (TODAY, Decimal("300")),
    ]


def test_goal_owners_belong_to_the_partnership_and_goals_stay_in_it(world):
    with pytest.raises(ValidationError) as excinfo:
        goal(world, owner=world.outsider)
    assert list(excinfo.value.message_dict) == ["owner"]
    g = goal(world)
    with pytest.raises(PermissionDenied):
        services.save_goal(by=world.outsider, partnership=world.theirs, goal=g, title="Mine now")
    g.refresh_from_db()
    assert g.title == "On-time delivery"


# --- Viewers and outsiders write nothing ----------------------------------------------------


def test_viewers_and_outsiders_cannot_write_anything(world, weekly):
    p = problem(world)
    item = action(world, world.account_manager)
    g = goal(world)
    services.save_minutes(by=world.buyer, meeting=weekly, notes="Notes", decisions="")
    start = weekly.start + dt.timedelta(days=1)
    counts = lambda: [  # noqa: E731
        m.objects.count()
        for m in (
            Meeting,
            AgendaItem,
            Minutes,
            ActionItem,
            Problem,
            ProblemComment,
            Goal,
            GoalMeasurement,
        )
    ]
    before = counts()
    writes = {
        "schedule_meeting": lambda by: services.schedule_meeting(
            by=by,
            partnership=world.ours,
            title="Mine",
            start=start,
            end=start + dt.timedelta(hours=1),
            time_zone="Europe/Berlin",
        ),
        "update_meeting": lambda by: services.update_meeting(by=by, meeting=weekly, title="X"),
        "reschedule_occurrence": lambda by: services.reschedule_occurrence(
            by=by,
            meeting=weekly,
            occurrence_start=weekly.start,
            start=start,
            end=start + dt.timedelta(hours=1),
        ),
        "cancel_occurrence": lambda by: services.cancel_occurrence(
            by=by, meeting=weekly, occurrence_start=weekly.start
        ),
        "cancel_meeting": lambda by: services.cancel_meeting(by=by, meeting=weekly),
        "save_agenda_item": lambda by: services.save_agenda_item(
            by=by, meeting=weekly, title="My item"
        ),
        "save_minutes": lambda by: services.save_minutes(
            by=by, meeting=weekly, notes="Mine", decisions="Mine"
        ),
        "publish_minutes": lambda by: services.publish_minutes(by=by, meeting=weekly),
        "add_action_item": lambda by: action(world, world.account_manager, by=by),
        "set_action_status": lambda by: services.set_action_status(by=by, item=item, status="done"),
        "raise_problem": lambda by: problem(world, by=by, owner=world.account_manager),
        "comment_on_problem": lambda by: services.comment_on_problem(by=by, problem=p, text="Mine"),
        "change_problem_status": lambda by: services.change_problem_status(
            by=by, problem=p, status="investigating"
        ),
        "save_goal": lambda by: services.save_goal(
            by=by, partnership=world.ours, goal=g, title="Mine"
        ),
        "record_measurement": lambda by: services.record_measurement(
            by=by, goal=g, date=TODAY, value=Decimal("90")
        ),
    }

    for who in (world.oem_viewer, world.outsider):
        for name, write in writes.items():
            with pytest.raises(PermissionDenied):
                write(who)
                pytest.fail(f"{who.email} could {name}")

    assert counts() == before
    weekly.refresh_from_db()
    p.refresh_from_db()
    item.refresh_from_db()
    g.refresh_from_db()
    assert (weekly.title, weekly.sequence, weekly.status, weekly.exdates) == (
        "Weekly operations call",
        0,
        "scheduled",
        [],
    )
    assert (p.status, item.status, g.title, g.current) == ("open", "open", "On-time delivery", None)
    assert Minutes.objects.get(meeting=weekly).notes == "Notes"
    assert Minutes.objects.get(meeting=weekly).published_at is None
