"""Flex-term arithmetic: classify a demand change by its distance to delivery.

Pure functions over plain values so that every boundary can be tested without a database.
Weeks out count from the publication's reference week (0 = this week). Bands are inclusive
(``from_week <= weeks_out <= to_week``; an open ``to_week`` covers everything beyond).
Inside the contract's frozen zone no change is allowed; beyond the last band the forecast is
non-binding.
"""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Band:
    from_week: int
    to_week: int | None
    max_increase_pct: Decimal
    max_decrease_pct: Decimal

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
