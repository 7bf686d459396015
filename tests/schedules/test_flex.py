"""Flex-term arithmetic (schedules/flex.py): every boundary of the flexibility table.

The bands are the contract template's (contracts/template_data.py): weeks 0–4 ±0 %, 5–8 ±10 %,
9–13 ±25 %, 14 and beyond ±50 %, with a frozen zone of 4 weeks. Pure functions, no database —
except for the last test, where the service must skip weeks that already lie in the past.
"""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from contracts.template_data import FLEX_BANDS
from schedules import flex, services
from schedules.flex import CANCELLATION, FROZEN, INCREASE_BREACH, NON_BINDING, WITHIN, Band
from schedules.models import DemandChange
from tests.contracts.conftest import active_contract, draft  # noqa: F401

TEMPLATE = [Band(f, t, Decimal(up), Decimal(down)) for f, t, up, down in FLEX_BANDS]
FROZEN_WEEKS = 4
# The same table, but closed after week 20: beyond it the forecast is non-binding.
CLOSED = [*TEMPLATE[:-1], Band(14, 20, Decimal(50), Decimal(50))]


def verdict(previous, new, weeks_out, bands=TEMPLATE, frozen=FROZEN_WEEKS):
    return flex.classify(previous, new, weeks_out, bands, frozen)[0]


def test_the_template_is_what_the_tests_assume():
    assert FLEX_BANDS == [
        (0, 4, "0", "0"),
        (5, 8, "10", "10"),
        (9, 13, "25", "25"),
        (14, None, "50", "50"),
    ]


# --- band lookup ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weeks_out", "band_index"),
    [(0, 0), (4, 0), (5, 1), (8, 1), (9, 2), (13, 2), (14, 3), (52, 3), (10_000, 3)],
)
def test_band_edges_are_inclusive(weeks_out, band_index):
    assert flex.band_for(TEMPLATE, weeks_out) == TEMPLATE[band_index]


def test_no_band_before_the_first_or_after_a_closed_last_band():
    assert flex.band_for(TEMPLATE, -1) is None
    assert flex.band_for(CLOSED, 20) == CLOSED[-1]
    assert flex.band_for(CLOSED, 21) is None
    assert flex.band_for([], 5) is None


def test_band_labels():
    assert TEMPLATE[1].label == "weeks 5–8"
    assert TEMPLATE[-1].label == "weeks 14–…"


@pytest.mark.parametrize(
    ("weeks_out", "expected_increase"),
    [(4, INCREASE_BREACH), (5, WITHIN), (8, WITHIN), (9, WITHIN), (13, WITHIN)],
)
def test_the_band_at_each_edge_judges_the_change(weeks_out, expected_increase):
    """+10 % is a breach in weeks 0–4 (±0 %), within from week 5 on."""
    assert verdict(100, 110, weeks_out, frozen=0) == expected_increase


def test_plus_eleven_percent_is_judged_by_the_band_at_each_edge():
    assert verdict(100, 111, 8) == INCREASE_BREACH  # last week of ±10 %
    assert verdict(100, 111, 9) == WITHIN  # first week of ±25 %
    assert verdict(100, 126, 13) == INCREASE_BREACH  # last week of ±25 %
    assert verdict(100, 126, 14) == WITHIN  # first week of ±50 %


# --- frozen zone ---------------------------------------------------------------------------


def test_frozen_zone_edge():
    """Frozen = weeks 0 .. frozen-1; week ``frozen`` is judged by its band."""
    assert verdict(100, 101, FROZEN_WEEKS - 1) == FROZEN
    assert verdict(100, 99, FROZEN_WEEKS - 1) == FROZEN
    assert verdict(100, 101, FROZEN_WEEKS) == INCREASE_BREACH  # band 0–4 allows ±0 %
    assert verdict(100, 99, FROZEN_WEEKS) == CANCELLATION
    assert verdict(100, 101, 0) == FROZEN


def test_frozen_zone_edge_with_a_generous_band():
    bands = [Band(0, None, Decimal(50), Decimal(50))]
    assert verdict(100, 110, 2, bands, frozen=3) == FROZEN
    assert verdict(100, 110, 3, bands, frozen=3) == WITHIN


def test_frozen_zone_judges_even_beyond_the_bands():
    assert verdict(100, 90, 3, bands=[], frozen=4) == FROZEN


def test_no_frozen_zone():
    assert verdict(100, 100, 0, frozen=0) == WITHIN
    assert verdict(100, 101, 0, frozen=0) == INCREASE_BREACH


def test_an_unchanged_line_is_always_within():
    for weeks_out in (0, 3, 4, 5, 13, 14, 100):
        assert verdict(100, 100, weeks_out) == WITHIN
    assert verdict(0, 0, 2) == WITHIN


def test_the_verdict_returns_the_band_that_judged_it():
    assert flex.classify(100, 115, 6, TEMPLATE, FROZEN_WEEKS) == (INCREASE_BREACH, TEMPLATE[1])
    assert flex.classify(100, 101, 2, TEMPLATE, FROZEN_WEEKS) == (FROZEN, TEMPLATE[0])
    assert flex.classify(100, 101, 21, CLOSED, FROZEN_WEEKS) == (NON_BINDING, None)


# --- increases -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weeks_out", "previous", "at_limit"),
    [(5, 100, 110), (8, 100, 110), (9, 100, 125), (13, 200, 250), (14, 100, 150), (40, 7, 10)],
)
def test_increase_exactly_at_the_limit_is_within_one_more_is_a_breach(
    weeks_out, previous, at_limit
):
    assert verdict(previous, at_limit, weeks_out) == WITHIN
    assert verdict(previous, at_limit + 1, weeks_out) == INCREASE_BREACH


def test_increase_on_a_fractional_limit():
    """+10 % of 7 is 7.7: 7 → 8 is already too much."""
    assert verdict(7, 8, 6) == INCREASE_BREACH
    assert verdict(70, 77, 6) == WITHIN
    assert verdict(70, 78, 6) == INCREASE_BREACH


def test_increase_from_zero_is_a_breach_in_every_binding_band():
    for weeks_out in (4, 5, 9, 14, 100):
        assert verdict(0, 1, weeks_out) == INCREASE_BREACH


def test_increase_from_zero_beyond_the_bands_is_non_binding():
    assert verdict(0, 1000, 21, CLOSED) == NON_BINDING


# --- decreases -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weeks_out", "previous", "at_limit"),
    [(5, 100, 90), (8, 100, 90), (9, 100, 75), (13, 200, 150), (14, 100, 50), (40, 7, 4)],
)
def test_decrease_exactly_at_the_limit_is_within_beyond_is_a_cancellation(
    weeks_out, previous, at_limit
):
    assert verdict(previous, at_limit, weeks_out) == WITHIN
    assert verdict(previous, at_limit - 1, weeks_out) == CANCELLATION


def test_decrease_to_zero():
    assert verdict(100, 0, 20) == CANCELLATION  # −100 % against −50 %
    everything = [Band(0, None, Decimal(0), Decimal(100))]
    assert verdict(100, 0, 20, everything, frozen=0) == WITHIN


# --- beyond the last band ------------------------------------------------------------------


def test_beyond_a_closed_last_band_is_non_binding():
    assert verdict(100, 1000, 20, CLOSED) == INCREASE_BREACH  # still inside weeks 14–20
    assert verdict(100, 1000, 21, CLOSED) == NON_BINDING
    assert verdict(100, 0, 21, CLOSED) == NON_BINDING
    assert verdict(100, 0, 52, CLOSED) == NON_BINDING


def test_an_open_last_band_never_ends():
    assert verdict(100, 151, 500) == INCREASE_BREACH
    assert verdict(100, 150, 500) == WITHIN


def test_a_gap_between_bands_is_non_binding():
    gappy = [Band(0, 4, Decimal(0), Decimal(0)), Band(10, None, Decimal(10), Decimal(10))]
    assert verdict(100, 200, 7, gappy, frozen=0) == NON_BINDING
    assert verdict(100, 200, 10, gappy, frozen=0) == INCREASE_BREACH


# --- monotonicity (Hypothesis) -------------------------------------------------------------

pcts = st.decimals(min_value=0, max_value=200, places=1)


@st.composite
def bands(draw):
    from_week = draw(st.integers(min_value=0, max_value=60))
    to_week = draw(st.one_of(st.none(), st.integers(min_value=from_week, max_value=80)))
    return Band(from_week, to_week, draw(pcts), draw(st.decimals(0, 100, places=1)))


@settings(max_examples=300, deadline=None)
@given(
    band=bands(),
    previous=st.integers(min_value=1, max_value=1_000_000),
    small=st.integers(min_value=1, max_value=1_000_000),
    extra=st.integers(min_value=0, max_value=1_000_000),
    frozen=st.integers(min_value=0, max_value=8),
    data=st.data(),
)
def test_classify_is_monotone_in_the_size_of_an_increase(
    band, previous, small, extra, frozen, data
):
    """If +small already breaks the band, +(small+extra) can never be within it."""
    upper = band.to_week if band.to_week is not None else band.from_week + 100
    weeks_out = data.draw(st.integers(min_value=band.from_week, max_value=upper))
    smaller = verdict(previous, previous + small, weeks_out, [band], frozen)
    bigger = verdict(previous, previous + small + extra, weeks_out, [band], frozen)
    assert smaller in (WITHIN, INCREASE_BREACH, FROZEN)
    if smaller != WITHIN:
        assert bigger == smaller
    if bigger == WITHIN:
        assert smaller == WITHIN


@settings(max_examples=300, deadline=None)
@given(
    band=bands(),
    previous=st.integers(min_value=1, max_value=1_000_000),
    frozen=st.integers(min_value=0, max_value=8),
    data=st.data(),
)
def test_classify_is_monotone_in_the_size_of_a_decrease(band, previous, frozen, data):
    """If −small already is a cancellation, −(small+extra) can never be within the band."""
    upper = band.to_week if band.to_week is not None else band.from_week + 100
    weeks_out = data.draw(st.integers(min_value=band.from_week, max_value=upper))
    small = data.draw(st.integers(min_value=1, max_value=previous))
    large = data.draw(st.integers(min_value=small, max_value=previous))
    smaller = verdict(previous, previous - small, weeks_out, [band], frozen)
    bigger = verdict(previous, previous - large, weeks_out, [band], frozen)
    assert smaller in (WITHIN, CANCELLATION, FROZEN)
    if smaller != WITHIN:
        assert bigger == smaller
    if bigger == WITHIN:
        assert smaller == WITHIN


@settings(max_examples=200, deadline=None)
@given(
    band=bands(),
    previous=st.integers(min_value=0, max_value=100_000),
    new=st.integers(min_value=0, max_value=100_000),
    weeks_out=st.integers(min_value=-5, max_value=200),
    frozen=st.integers(min_value=0, max_value=8),
)
def test_classify_matches_the_table(band, previous, new, weeks_out, frozen):
    """A reference statement of the rules, checked against the implementation."""
    assume(previous != new)
    got, judged_by = flex.classify(previous, new, weeks_out, [band], frozen)
    if 0 <= weeks_out < frozen:
        assert got == FROZEN
    elif not band.covers(weeks_out):
        assert (got, judged_by) == (NON_BINDING, None)
    elif new > previous:
        # new <= previous × (1 + pct/100), in exact integer arithmetic (pct has one decimal)
        ok = previous > 0 and new * 1000 <= previous * (1000 + int(band.max_increase_pct * 10))
        assert got == (WITHIN if ok else INCREASE_BREACH)
    else:
        ok = new * 1000 >= previous * (1000 - int(band.max_decrease_pct * 10))
        assert got == (WITHIN if ok else CANCELLATION)


# --- the service: weeks in the past are never judged ---------------------------------------


@pytest.mark.django_db
def test_past_weeks_are_skipped_by_the_service(world, product, this_monday, active_contract):  # noqa: F811
    """Weeks out < 0 (the forecast still lists last week): no DemandChange at all."""
    last_week = this_monday - dt.timedelta(weeks=1)
    in_six = this_monday + dt.timedelta(weeks=6)

    def publish(past, future):
        return services.publish_demand(
            by=world.buyer,
            partnership=world.ours,
            rows=[
                {"product": "MB-200", "week": last_week.isoformat(), "quantity": past},
                {"product": "MB-200", "week": in_six.isoformat(), "quantity": future},
            ],
            today=this_monday,
        )

    publish(100, 100)
    second = publish(900, 105)
    changes = list(second.changes.all())
    assert [(c.week, c.weeks_out, c.verdict) for c in changes] == [
        (in_six, 6, DemandChange.Verdict.WITHIN)
    ]


# --- reschedule limits (pull-in / push-out per band) -------------------------------------------

MONDAY = dt.date(2030, 1, 7)  # "today" for the reschedule tests: weeks out count from here
RESCHEDULE = [
    Band(0, 4, Decimal(0), Decimal(0), 0, 0),
    Band(5, 8, Decimal(10), Decimal(10), 1, 2),
    Band(9, 13, Decimal(25), Decimal(25), 2, 4),
    Band(14, None, Decimal(50), Decimal(50), None, None),
]


def moved(weeks_out, days, bands=RESCHEDULE, frozen=FROZEN_WEEKS, weekday=2):
    """The verdict on moving a delivery due ``weeks_out`` weeks from MONDAY by ``days``."""
    due = MONDAY + dt.timedelta(weeks=weeks_out, days=weekday)
    return flex.classify_reschedule(due, due + dt.timedelta(days=days), MONDAY, bands, frozen)[0]


def test_the_template_has_reschedule_limits_for_every_band():
    from contracts.template_data import FLEX_RESCHEDULE

    assert FLEX_RESCHEDULE == {0: (0, 0), 5: (1, 2), 9: (2, 4), 14: (None, None)}
    assert set(FLEX_RESCHEDULE) == {f for f, *_ in FLEX_BANDS}


@pytest.mark.parametrize(
    ("weeks_out", "days", "expected"),
    [
        (5, 14, WITHIN),  # push-out exactly at the 2-week limit
        (5, 15, flex.PUSH_OUT_BREACH),  # one day more
        (8, 14, WITHIN),  # last week of the band, same limit
        (9, 28, WITHIN),  # next band: 4 weeks
        (9, 29, flex.PUSH_OUT_BREACH),
        (5, -7, WITHIN),  # pull-in exactly at the 1-week limit
        (5, -8, flex.PULL_IN_BREACH),
        (13, -14, WITHIN),
        (13, -15, flex.PULL_IN_BREACH),
        (14, 365, WITHIN),  # no limit in the open band
        (14, -70, WITHIN),
    ],
)
def test_reschedule_limits_at_each_edge(weeks_out, days, expected):
    assert moved(weeks_out, days) == expected


def test_a_reschedule_is_judged_by_the_band_of_the_delivery_being_moved():
    # Due in week 8 (push-out limit 2), moved 3 weeks into week 11 (limit 4): still a breach.
    assert moved(8, 21) == flex.PUSH_OUT_BREACH
    # Due in week 9 (limit 4), moved 3 weeks: within.
    assert moved(9, 21) == WITHIN


def test_any_move_inside_the_frozen_zone_is_frozen():
    assert moved(0, 1) == FROZEN
    assert moved(3, -1) == FROZEN
    assert moved(4, 1) == flex.PUSH_OUT_BREACH  # week 4: past the frozen zone, band 0–4 (0 wk)
    assert moved(3, 0) == WITHIN  # no move, no verdict


def test_weeks_out_counts_whole_weeks_from_this_weeks_monday():
    # A Sunday delivery still belongs to its week; "today" on a Friday counts from its Monday.
    due = MONDAY + dt.timedelta(weeks=5, days=6)
    friday = MONDAY + dt.timedelta(days=4)
    assert flex.classify_reschedule(due, due + dt.timedelta(days=15), friday, RESCHEDULE, 4) == (
        flex.PUSH_OUT_BREACH,
        RESCHEDULE[1],
    )


def test_beyond_a_closed_table_a_reschedule_is_non_binding():
    closed = RESCHEDULE[:-1]
    assert moved(20, 70, bands=closed) == NON_BINDING
    assert flex.classify_reschedule(MONDAY, MONDAY, MONDAY, [], 0) == (WITHIN, None)


def test_bands_without_limits_allow_any_move():
    # Bands created before reschedule limits existed (both None) behave as before: no limit.
    assert moved(6, 70, bands=TEMPLATE) == WITHIN
    assert moved(6, -30, bands=TEMPLATE) == WITHIN


def test_the_worst_verdict_wins():
    assert flex.worst(WITHIN, flex.PUSH_OUT_BREACH) == flex.PUSH_OUT_BREACH
    assert flex.worst(flex.PUSH_OUT_BREACH, CANCELLATION) == CANCELLATION
    assert flex.worst(CANCELLATION, FROZEN, WITHIN) == FROZEN
    assert flex.worst(NON_BINDING, WITHIN) in (NON_BINDING, WITHIN)


# --- long-lead exposure ----------------------------------------------------------------------


def test_a_cut_inside_a_components_lead_time_exposes_its_material():
    items = [(12, Decimal("4.50")), (6, Decimal("10.00")), (2, Decimal("0.25"))]
    # 5 weeks out: the 12- and 6-week components are already ordered, the 2-week one is not.
    assert flex.material_exposure(100, 5, items) == Decimal("1450.00")
    # Exactly at a lead time the material is not yet ordered for that week.
    assert flex.material_exposure(100, 6, items) == Decimal("450.00")
    assert flex.material_exposure(100, 12, items) == Decimal("0.00")


def test_no_exposure_without_a_cut_or_without_long_lead_items():
    items = [(12, Decimal("4.50"))]
    assert flex.material_exposure(0, 1, items) == 0
    assert flex.material_exposure(-50, 1, items) == 0  # an increase exposes nothing
    assert flex.material_exposure(100, 1, []) == 0
