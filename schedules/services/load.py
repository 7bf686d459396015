"""Capacity against demand per week, in one SQL statement (DESIGN.md §5)."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import DecimalField, ExpressionWrapper, F, Max, Sum
from django.utils import timezone

from partnership.models import Partnership

from ..models import CapacityPlan, CapacityUnit, DemandLine, DemandPublication, Product
from .common import WEEKS_AHEAD, monday
from .planning import latest_publication


@dataclass
class WeekLoad:
    week: dt.date
    capacity: Decimal
    demand: Decimal
    unit: str

    @property
    def utilisation(self) -> Decimal | None:
        if not self.capacity:
            return None if not self.demand else Decimal("999.9")
        return (self.demand / self.capacity * 100).quantize(Decimal("0.1"))


def weekly_load(
    partnership: Partnership, start: dt.date | None = None, weeks: int = WEEKS_AHEAD
) -> list[WeekLoad]:
    """Capacity and demand per week in one SQL statement (DESIGN.md §5).

    A week series LEFT JOINs the capacity summed per week and the demand of the latest forecast
    summed per week; the unit (that of the first planned week, else of any plan, else units)
    is computed in the same statement. Demand in line hours divides by each product's rate,
    so the product join runs only when the unit is hours (a one-time filter in the plan).

    The statement is PostgreSQL's (``generate_series``); the embedded SQLite of ``make run``
    gets the same figures from three ORM aggregates."""
    start = monday(start or timezone.localdate())
    end = start + dt.timedelta(weeks=weeks - 1)
    if connection.vendor != "postgresql":
        return _weekly_load_orm(partnership, start, weeks)
    with connection.cursor() as cursor:
        cursor.execute(
            _WEEKLY_LOAD_SQL.format(
                capacity=CapacityPlan._meta.db_table,
                publication=DemandPublication._meta.db_table,
                line=DemandLine._meta.db_table,
                product=Product._meta.db_table,
            ),
            {
                "partnership": partnership.pk,
                "start": start,
                "end": end,
                "hours": CapacityUnit.HOURS.value,
                "units": CapacityUnit.UNITS.value,
            },
        )
        rows = cursor.fetchall()
    return [
        WeekLoad(week=week, capacity=Decimal(capacity), demand=Decimal(demand), unit=unit)
        for week, capacity, demand, unit in rows
    ]


def _weekly_load_orm(partnership: Partnership, start: dt.date, weeks: int) -> list[WeekLoad]:
    end = start + dt.timedelta(weeks=weeks - 1)
    capacity = {
        row["week"]: row
        for row in CapacityPlan.objects.filter(partnership=partnership, week__range=(start, end))
        .values("week")
        .annotate(total=Sum("amount"), unit=Max("unit"))
    }
    first = min(capacity) if capacity else None
    unit = (capacity[first]["unit"] if first else None) or (
        CapacityPlan.objects.filter(partnership=partnership)
        .order_by("week", "line")
        .values_list("unit", flat=True)
        .first()
        or CapacityUnit.UNITS
    )
    publication = latest_publication(partnership)
    demand = {}
    if publication:
        measure = (
            Sum(
                ExpressionWrapper(
                    F("quantity") / F("product__units_per_hour"),
                    output_field=DecimalField(max_digits=14, decimal_places=2),
                )
            )
            if unit == CapacityUnit.HOURS
            else Sum("quantity")
        )
        demand = {
            row["week"]: row["load"]
            for row in DemandLine.objects.filter(publication=publication, week__range=(start, end))
            .values("week")
            .annotate(load=measure)
        }
    weeks_list = [start + dt.timedelta(weeks=i) for i in range(weeks)]
    return [
        WeekLoad(
            week=w,
            capacity=Decimal(capacity.get(w, {}).get("total") or 0),
            demand=Decimal(demand.get(w) or 0),
            unit=unit,
        )
        for w in weeks_list
    ]


_WEEKLY_LOAD_SQL = """
WITH capacity AS (
    SELECT week, SUM(amount) AS total, MAX(unit) AS unit FROM {capacity}
    WHERE partnership_id = %(partnership)s AND week BETWEEN %(start)s AND %(end)s
    GROUP BY week
), chosen AS (
    SELECT COALESCE(
        (SELECT unit FROM capacity ORDER BY week LIMIT 1),
        (SELECT unit FROM {capacity} WHERE partnership_id = %(partnership)s
         ORDER BY week, line LIMIT 1),
        %(units)s
    ) AS unit
), publication AS (
    SELECT id FROM {publication} WHERE partnership_id = %(partnership)s
    ORDER BY version DESC LIMIT 1
), demand_units AS (
    SELECT week, SUM(quantity) AS load FROM {line}
    WHERE publication_id = (SELECT id FROM publication)
      AND week BETWEEN %(start)s AND %(end)s
      AND (SELECT unit FROM chosen) <> %(hours)s
    GROUP BY week
), demand_hours AS (
    SELECT l.week, SUM(l.quantity / p.units_per_hour) AS load
    FROM {line} l JOIN {product} p ON p.id = l.product_id
    WHERE l.publication_id = (SELECT id FROM publication)
      AND l.week BETWEEN %(start)s AND %(end)s
      AND (SELECT unit FROM chosen) = %(hours)s
    GROUP BY l.week
)
SELECT series.week::date,
       COALESCE(capacity.total, 0),
       COALESCE(demand_units.load, demand_hours.load, 0),
       (SELECT unit FROM chosen)
FROM generate_series(%(start)s::date, %(end)s::date, interval '7 days') AS series(week)
LEFT JOIN capacity ON capacity.week = series.week::date
LEFT JOIN demand_units ON demand_units.week = series.week::date
LEFT JOIN demand_hours ON demand_hours.week = series.week::date
ORDER BY 1
"""
