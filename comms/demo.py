"""Demo meetings, problems and goals for Nordwind ↔ Baltic."""

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.utils import timezone

from partnership.models import Partnership, User

from . import services


def load() -> None:
    p = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
    if p.meetings.exists():
        return
    buyer = User.objects.get(email="buyer@nordwind.example")
    quality = User.objects.get(email="quality@nordwind.example")
    am = User.objects.get(email="account.manager@baltic.example")
    planner = User.objects.get(email="planner@baltic.example")
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    today = timezone.localdate()
    problem = services.raise_problem(
        by=planner,
        partnership=p,
        title="Solder voids under U12 QFN on MB-200",
        severity="high",
        owner=am,
        description="X-ray shows 30–40 % voiding on the thermal pad of U12 in lots 2241–2243.",
        product=p.products.filter(part_number="MB-200").first(),
    )
    services.comment_on_problem(
        by=quality, problem=problem, text="@Katarzyna can you share the stencil aperture design?"
    )
    services.comment_on_problem(
        by=am, problem=problem, text="Window-pane aperture proposed; trial on line 3 next week."
    )
    services.change_problem_status(by=am, problem=problem, status="investigating")
    services.raise_problem(
        by=buyer,
        partnership=p,
        title="ASN missing on last two shipments",
        severity="medium",
        owner=am,
        description="Goods receipt in Hamburg had to book manually.",
    )
    monday = today - dt.timedelta(days=today.weekday())
    start = dt.datetime.combine(monday + dt.timedelta(days=8), dt.time(9, 0), berlin)
    services.schedule_meeting(
        by=buyer,
        partnership=p,
        title="Weekly operations call",
        kind="operations",
        start=start,
        end=start + dt.timedelta(minutes=45),
        time_zone="Europe/Berlin",
        rrule="FREQ=WEEKLY;COUNT=26",
        conference_url="https://meet.example.com/nordwind-baltic",
        attendees=[am, planner, quality],
    )
    past = dt.datetime.combine(today - dt.timedelta(days=6), dt.time(14, 0), berlin)
    review = services.schedule_meeting(
        by=quality,
        partnership=p,
        title="Quality review Q4",
        kind="quality",
        start=past,
        end=past + dt.timedelta(hours=1),
        time_zone="Europe/Berlin",
        location="Gdańsk, meeting room 2",
        attendees=[am, buyer],
    )
    services.save_minutes(
        by=quality,
        meeting=review,
        decisions="Voiding limit 25 % until the new stencil is validated.",
        notes="PPM trend good; MSL handling observation closed next audit.",
    )
    services.add_action_item(
        by=quality,
        partnership=p,
        meeting=review,
        title="Send stencil trial results",
        owner=am,
        due_date=today - dt.timedelta(days=1),
    )
    services.add_action_item(
        by=quality,
        partnership=p,
        meeting=review,
        title="Update incoming inspection plan for U12",
        owner=quality,
        due_date=today + dt.timedelta(days=7),
    )
    goal = services.save_goal(
        by=buyer,
        partnership=p,
        horizon="short",
        title="On-time delivery above 97 %",
        metric="On-time delivery",
        unit="%",
        baseline=Decimal("91"),
        target=Decimal("97"),
        due_date=today + dt.timedelta(days=120),
        owner=am,
    )
    for weeks_ago, value in ((10, "91.5"), (7, "93.0"), (4, "94.2"), (1, "95.1")):
        services.record_measurement(
            by=am, goal=goal, date=today - dt.timedelta(weeks=weeks_ago), value=Decimal(value)
        )
    services.save_goal(
        by=buyer,
        partnership=p,
        horizon="long",
        title="Quality PPM below 50",
        metric="Quality PPM",
        unit="ppm",
        baseline=Decimal("320"),
        target=Decimal("50"),
        current=Decimal("210"),
        due_date=today + dt.timedelta(days=540),
        owner=quality,
    )
