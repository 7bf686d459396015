"""Flex-term arithmetic: classify a demand change by its distance to delivery.

Pure functions over plain values so that every boundary can be tested without a database.
Weeks out count from the publication's reference week (0 = this week). Bands are inclusive
(``from_week <= weeks_out <= to_week``; an open ``to_week`` covers everything beyond).
Inside the contract's frozen zone no change is allowed; beyond the last band the forecast is
non-binding.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Band:
    from_week: int
    to_week: int | None
    max_increase_pct: Decimal
    max_decrease_pct: Decimal
    max_pull_in_weeks: int | None = None  # None: no limit
    max_push_out_weeks: int | None = None

    def covers(self, weeks_out: int) -> bool:
        return self.from_week <= weeks_out and (self.to_week is None or weeks_out <= self.to_week)

    @property
    def label(self) -> str:
        end = "…" if self.to_week is None else self.to_week
        return f"weeks {self.from_week}–{end}"


WITHIN, INCREASE_BREACH, CANCELLATION, FROZEN, NON_BINDING = (
    "within",
    "increase_breach",
    "cancellation",
    "frozen",
    "non_binding",
)
PULL_IN_BREACH, PUSH_OUT_BREACH = "pull_in_breach", "push_out_breach"
# How bad a verdict is, for a change judged on several counts (date and quantity).
SEVERITY = {
    NON_BINDING: 0,
    WITHIN: 0,
    INCREASE_BREACH: 1,
    PULL_IN_BREACH: 1,
    PUSH_OUT_BREACH: 1,
    CANCELLATION: 2,
    FROZEN: 3,
}


def band_for(bands, weeks_out: int) -> Band | None:
    return next((b for b in bands if b.covers(weeks_out)), None)


def classify(
    previous: int, new: int, weeks_out: int, bands, frozen_zone_weeks: int
) -> tuple[str, Band | None]:
    """The verdict on one changed line, and the band that judged it."""
    if previous == new:
        return WITHIN, band_for(bands, weeks_out)
    band = band_for(bands, weeks_out)
    if 0 <= weeks_out < frozen_zone_weeks:
        return FROZEN, band
    if band is None:
        return NON_BINDING, None
    if new > previous:
        if previous == 0:  # a line that did not exist before: an unlimited increase
            return INCREASE_BREACH, band
        allowed = Decimal(previous) * (1 + band.max_increase_pct / Decimal(100))
        return (WITHIN if Decimal(new) <= allowed else INCREASE_BREACH), band
    allowed_floor = Decimal(previous) * (1 - band.max_decrease_pct / Decimal(100))
    return (WITHIN if Decimal(new) >= allowed_floor else CANCELLATION), band


def classify_reschedule(
    old_due: dt.date, new_due: dt.date, today: dt.date, bands, frozen_zone_weeks: int
) -> tuple[str, Band | None]:
    """The verdict on moving a committed delivery from ``old_due`` to ``new_due``.

    The band is the one of the delivery being moved (its distance from this week), as in
    agreements that say "orders due in weeks 5–8 may be pushed out by up to 2 weeks". A move
    by a whole number of weeks is compared in days, so 8 days late on a 1-week limit breaks it.
    """
    weeks_out = (week_start(old_due) - week_start(today)).days // 7
    band = band_for(bands, weeks_out)
    shift = (new_due - old_due).days
    if shift == 0:
        return WITHIN, band
    if 0 <= weeks_out < frozen_zone_weeks:
        return FROZEN, band
    if band is None:
        return NON_BINDING, None
    if shift > 0:
        limit = band.max_push_out_weeks
        return (WITHIN if limit is None or shift <= limit * 7 else PUSH_OUT_BREACH), band
    limit = band.max_pull_in_weeks
    return (WITHIN if limit is None or -shift <= limit * 7 else PULL_IN_BREACH), band


def worst(*verdicts: str) -> str:
    return max(verdicts, key=lambda v: SEVERITY[v])


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def material_exposure(cut_units: int, weeks_out: int, items) -> Decimal:
    """What a cut of ``cut_units`` assemblies, ``weeks_out`` weeks from now, leaves the EMS
    holding in long-lead material: every component whose lead time reaches past the cut
    week was already ordered for it. ``items`` are (lead_time_weeks, cost_per_assembly)."""
    if cut_units <= 0:
        return Decimal(0)
    per_unit = sum((cost for lead, cost in items if weeks_out < lead), Decimal(0))
    return (per_unit * cut_units).quantize(Decimal("0.01"))
