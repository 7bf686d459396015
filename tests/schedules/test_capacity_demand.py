"""Capacity and demand publications: all-or-nothing imports, versions, the flex-term comparison
of a revision with its predecessor, and the weekly load (in units and in line hours)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from schedules import services
from schedules.models import CapacityPlan, DemandChange, DemandLine, DemandPublication, Product
from schedules.services import ImportRejected
from tests.contracts.conftest import active_contract, draft  # noqa: F401

pytestmark = pytest.mark.django_db

Verdict = DemandChange.Verdict


def weeks_from(monday, *offsets):
    return [monday + dt.timedelta(weeks=n) for n in offsets]


def capacity(world, rows, by=None):
    return services.publish_capacity(
        by=by or world.account_manager, partnership=world.ours, rows=rows
    )


def demand(world, rows, today=None, by=None, note=""):
    return services.publish_demand(
        by=by or world.buyer, partnership=world.ours, rows=rows, today=today, note=note
    )


def rejected_rows(exc_info):
    return [(e.row, e.field) for e in exc_info.value.row_errors]


# --- capacity ------------------------------------------------------------------------------


def test_publish_capacity_upserts_by_week_and_line(world, this_monday):
    w0, w1 = weeks_from(this_monday, 0, 1)
    assert (
        capacity(
            world,
            [
                {"week": w0.isoformat(), "line": "SMT-1", "amount": "800"},
                {"week": w0.isoformat(), "line": "SMT-2", "amount": "400"},
                {"week": w1.isoformat(), "amount": "1,200.5"},
            ],
        )
        == 3
    )
    capacity(world, [{"week": w0.isoformat(), "line": " SMT-1 ", "amount": "850"}])
    rows = list(
        CapacityPlan.objects.filter(partnership=world.ours).values_list("week", "line", "amount")
    )
    assert rows == [(w0, "SMT-1", 850), (w0, "SMT-2", 400), (w1, "", 1200.5)]


def test_capacity_weeks_snap_to_monday(world, this_monday):
    wednesday = this_monday + dt.timedelta(days=2)
    capacity(world, [{"week": wednesday.isoformat(), "amount": "100"}])
    assert CapacityPlan.objects.get().week == this_monday


def test_mixed_capacity_units_are_rejected(world, this_monday):
    w0, w1 = weeks_from(this_monday, 0, 1)
    with pytest.raises(ImportRejected) as exc:
        capacity(
            world,
            [
                {"week": w0.isoformat(), "amount": "100", "unit": "units"},
                {"week": w1.isoformat(), "amount": "80", "unit": "hours"},
            ],
        )
    assert rejected_rows(exc) == [(2, "unit")]
    assert not CapacityPlan.objects.exists()
    # once the partnership keeps capacity in units, a later file in hours is refused too
    capacity(world, [{"week": w0.isoformat(), "amount": "100", "unit": "units"}])
    with pytest.raises(ImportRejected, match="kept in units"):
        capacity(world, [{"week": w1.isoformat(), "amount": "80", "unit": "HOURS"}])
    # …and a row without a unit inherits it
    capacity(world, [{"week": w1.isoformat(), "amount": "90"}])
    assert set(CapacityPlan.objects.values_list("unit", flat=True)) == {"units"}


def test_a_bad_capacity_row_in_the_middle_writes_nothing(world, this_monday):
    w0, w1, w2, w3 = weeks_from(this_monday, 0, 1, 2, 3)
    capacity(world, [{"week": w0.isoformat(), "amount": "100"}])
    with pytest.raises(ImportRejected) as exc:
        capacity(
            world,
            [
                {"week": w0.isoformat(), "amount": "999"},
                {"week": "next tuesday", "amount": "-5"},
                {"week": w2.isoformat(), "amount": "300", "unit": "pallets"},
                {"week": w3.isoformat(), "amount": "400"},
                {"week": w3.isoformat(), "amount": "500"},
                {"week": w1.isoformat(), "amount": ""},
            ],
        )
    assert rejected_rows(exc) == [
        (2, "week"),
        (2, "amount"),
        (3, "unit"),
        (5, "week"),
        (6, "amount"),
    ]
    assert "Row 2, week" in exc.value.messages[0]
    assert list(CapacityPlan.objects.values_list("week", "amount")) == [(w0, 100)]


def test_only_the_ems_publishes_capacity(world, this_monday):
    for user in (world.buyer, world.oem_admin, world.oem_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            capacity(world, [{"week": this_monday.isoformat(), "amount": "1"}], by=user)
    assert not CapacityPlan.objects.exists()


# --- demand --------------------------------------------------------------------------------


def test_publish_demand_versions_each_forecast(world, product, this_monday):
    w = this_monday.isoformat()
    first = demand(world, [{"product": "MB-200", "week": w, "quantity": "100"}], note="Q1")
    second = demand(world, [{"product": "mb-200", "week": w, "quantity": "110"}])
    assert (first.version, second.version) == (1, 2)
    assert first.note == "Q1"
    assert first.reference_week.weekday() == 0  # weeks out count from a Monday
    assert services.latest_publication(world.ours) == second
    assert list(second.lines.values_list("product", "week", "quantity")) == [
        (product.pk, this_monday, 110)
    ]
    assert first.lines.get().quantity == 100  # earlier versions are kept as they were
    assert not first.changes.exists()


def test_products_can_be_named_by_part_number_id_or_external_id(world, product, this_monday):
    services.save_product(
        by=world.buyer, partnership=world.ours, product=product, external_id="SAP-1"
    )
    other = services.save_product(
        by=world.buyer, partnership=world.ours, part_number="PSU-1", name="Power supply"
    )
    w0, w1, w2 = (w.isoformat() for w in weeks_from(this_monday, 0, 1, 2))
    publication = demand(
        world,
        [
            {"product": "SAP-1", "week": w0, "quantity": "1"},
            {"part_number": "psu-1", "week": w1, "quantity": "2"},
            {"product": str(other.pk), "week": w2, "quantity": "3"},
        ],
    )
    assert sorted(publication.lines.values_list("product", "quantity")) == [
        (product.pk, 1),
        (other.pk, 2),
        (other.pk, 3),
    ]


def test_every_revision_of_a_part_number_can_be_addressed(world, product, this_monday):
    """MB-200 rev B and rev C share the part number; ids and external ids tell them apart."""
    older = services.save_product(
        by=world.buyer,
        partnership=world.ours,
        part_number="MB-200",
        revision="B",
        name="Monitor main board",
        external_id="SAP-MB200-B",
    )
    w = this_monday.isoformat()
    publication = demand(
        world,
        [
            {"product": "SAP-MB200-B", "week": w, "quantity": "5"},
            {"product": str(product.pk), "week": w, "quantity": "7"},
        ],
    )
    assert sorted(publication.lines.values_list("product", "quantity")) == sorted(
        [(older.pk, 5), (product.pk, 7)]
    )
    # a bare part number means the last revision
    latest = demand(world, [{"product": "MB-200", "week": w, "quantity": "9"}])
    assert latest.lines.get().product == product


def test_iso_weeks_are_accepted(world, product):
    publication = demand(
        world,
        [
            {"product": "MB-200", "week": "2027-W05", "quantity": "10"},
            {"product": "MB-200", "week": "2027-w06", "quantity": "20"},
        ],
    )
    assert list(publication.lines.values_list("week", flat=True)) == [
        dt.date(2027, 2, 1),
        dt.date(2027, 2, 8),
    ]


def test_bad_demand_rows_are_reported_and_nothing_is_written(world, product, this_monday):
    w0, w1 = this_monday.isoformat(), (this_monday + dt.timedelta(weeks=1)).isoformat()
    demand(world, [{"product": "MB-200", "week": w0, "quantity": "100"}])
    foreign = Product.objects.create(partnership=world.theirs, part_number="FOREIGN", name="x")
    with pytest.raises(ImportRejected) as exc:
        demand(
            world,
            [
                {"product": "MB-200", "week": w0, "quantity": "120"},
                {"product": "NOPE-1", "week": w0, "quantity": "5"},
                {"product": "MB-200", "week": "2027-13-45", "quantity": "5"},
                {"product": "MB-200", "week": w1, "quantity": "-3"},
                {"product": "MB-200", "week": "2027-W50", "quantity": "2.5"},
                {"product": "FOREIGN", "week": w1, "quantity": "1"},
                {"product": str(foreign.pk), "week": w1, "quantity": "1"},
                {"product": "MB-200", "week": w0, "quantity": "1"},
                {"product": "MB-200", "week": "2027-W51", "quantity": ""},
                {"product": "MB-200", "week": "2027-W52", "quantity": "12"},
            ],
        )
    assert rejected_rows(exc) == [
        (2, "product"),
        (3, "week"),
        (4, "quantity"),
        (5, "quantity"),
        (6, "product"),
        (7, "product"),
        (8, "week"),
        (9, "quantity"),
    ]
    messages = " ".join(exc.value.messages)
    assert "NOPE-1" in messages and "whole number" in messages
    assert DemandPublication.objects.count() == 1
    assert DemandLine.objects.count() == 1
    assert not DemandChange.objects.exists()


def test_an_empty_forecast_is_rejected(world, product):
    with pytest.raises(ImportRejected, match="no demand lines"):
        demand(world, [])
    assert not DemandPublication.objects.exists()


def test_only_the_oem_publishes_demand(world, product, this_monday):
    row = {"product": "MB-200", "week": this_monday.isoformat(), "quantity": "1"}
    for user in (world.account_manager, world.ems_admin, world.oem_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            demand(world, [row], by=user)
    assert not DemandPublication.objects.exists()


def test_csv_parsing(world, product):
    rows = services.parse_table(
        "\ufeffProduct,Week,Quantity\nMB-200, 2027-W05 ,10\n".encode(),
        ["product", "week", "quantity"],
    )
    assert rows == [{"product": "MB-200", "week": "2027-W05", "quantity": "10"}]
    with pytest.raises(ImportRejected, match="quantity"):
        services.parse_table(b"product,week\nMB-200,2027-W05\n", ["product", "week", "quantity"])
    with pytest.raises(ImportRejected, match="UTF-8"):
        services.parse_table(b"\xff\xfe\x00p", ["product"])


# --- the flex-term comparison --------------------------------------------------------------


def test_demand_changes_are_judged_against_the_contract(
    world,
    product,
    this_monday,
    active_contract,  # noqa: F811
):
    """Template: frozen zone 4 weeks; ±10 % in weeks 5–8, ±25 % in weeks 9–13, ±50 % beyond."""
    assert active_contract.frozen_zone_weeks == 4
    psu = services.save_product(by=world.buyer, partnership=world.ours, part_number="PSU", name="P")
    w2, w6, w10, w20, w30 = weeks_from(this_monday, 2, 6, 10, 20, 30)

    def rows(quantities):
        return [
            {"product": part, "week": week.isoformat(), "quantity": q}
            for (part, week), q in quantities.items()
        ]

    before = {
        ("MB-200", w2): 100,
        ("MB-200", w6): 100,
        ("PSU", w6): 100,
        ("MB-200", w10): 100,
        ("MB-200", w20): 100,
        ("MB-200", w30): 100,
    }
    demand(world, rows(before), today=this_monday)
    after = {
        ("MB-200", w2): 101,  # frozen
        ("MB-200", w6): 105,  # +5 %: within ±10 %
        ("PSU", w6): 115,  # +15 %: increase breach
        ("MB-200", w10): 70,  # −30 % against −25 %: cancellation
        ("MB-200", w30): 100,  # unchanged: not recorded
        # (MB-200, w20) dropped entirely: 100 → 0
    }
    publication = demand(world, rows(after), today=this_monday)
    assert publication.reference_week == this_monday
    changes = {
        (c.product_id, c.week): (c.weeks_out, c.previous_quantity, c.new_quantity, c.verdict)
        for c in publication.changes.all()
    }
    assert changes == {
        (product.pk, w2): (2, 100, 101, Verdict.FROZEN),
        (product.pk, w6): (6, 100, 105, Verdict.WITHIN),
        (psu.pk, w6): (6, 100, 115, Verdict.INCREASE_BREACH),
        (product.pk, w10): (10, 100, 70, Verdict.CANCELLATION),
        (product.pk, w20): (20, 100, 0, Verdict.CANCELLATION),
    }
    breach = publication.changes.get(product=psu)
    assert (breach.band_label, breach.max_increase_pct, breach.max_decrease_pct) == (
        "weeks 5–8",
        10,
        10,
    )
    assert breach.is_breach and not publication.changes.get(product=product, week=w6).is_breach


@pytest.mark.parametrize(("new", "verdict"), [(0, Verdict.FROZEN), (200, Verdict.FROZEN)])
def test_any_change_two_weeks_out_is_frozen(
    world,
    product,
    this_monday,
    active_contract,  # noqa: F811
    new,
    verdict,
):
    week = (this_monday + dt.timedelta(weeks=2)).isoformat()
    demand(world, [{"product": "MB-200", "week": week, "quantity": 100}], today=this_monday)
    publication = demand(
        world, [{"product": "MB-200", "week": week, "quantity": new}], today=this_monday
    )
    assert list(publication.changes.values_list("verdict", flat=True)) == [verdict]


def test_a_new_line_is_an_increase_breach(
    world,
    product,
    this_monday,
    active_contract,  # noqa: F811
):
    w6, w7 = weeks_from(this_monday, 6, 7)
    demand(world, [{"product": "MB-200", "week": w6.isoformat(), "quantity": 1}], today=this_monday)
    publication = demand(
        world,
        [
            {"product": "MB-200", "week": w6.isoformat(), "quantity": 1},
            {"product": "MB-200", "week": w7.isoformat(), "quantity": 50},
        ],
        today=this_monday,
    )
    change = publication.changes.get()
    assert (change.week, change.previous_quantity, change.verdict) == (
        w7,
        0,
        Verdict.INCREASE_BREACH,
    )


def test_breaches_notify_both_sides(
    world,
    product,
    this_monday,
    active_contract,  # noqa: F811
):
    from partnership.models import Notification

    week = (this_monday + dt.timedelta(weeks=6)).isoformat()
    demand(world, [{"product": "MB-200", "week": week, "quantity": 100}], today=this_monday)
    Notification.objects.all().delete()
    demand(world, [{"product": "MB-200", "week": week, "quantity": 105}], today=this_monday)
    assert not Notification.objects.exists()  # within the band: nothing to tell
    demand(world, [{"product": "MB-200", "week": week, "quantity": 200}], today=this_monday)
    assert set(Notification.objects.values_list("user__email", flat=True)) == {
        world.account_manager.email,
        world.buyer.email,
    }
    assert Notification.objects.filter(subject__startswith="Forecast v3 breaks").count() == 2


def test_acknowledge_changes_is_for_the_ems(
    world,
    product,
    this_monday,
    active_contract,  # noqa: F811
):
    w2, w6 = weeks_from(this_monday, 2, 6)
    demand(
        world,
        [
            {"product": "MB-200", "week": w2.isoformat(), "quantity": 100},
            {"product": "MB-200", "week": w6.isoformat(), "quantity": 100},
        ],
        today=this_monday,
    )
    publication = demand(
        world,
        [
            {"product": "MB-200", "week": w2.isoformat(), "quantity": 150},
            {"product": "MB-200", "week": w6.isoformat(), "quantity": 105},
        ],
        today=this_monday,
    )
    for user in (world.buyer, world.oem_admin, world.outsider):
        with pytest.raises(PermissionDenied):
            services.acknowledge_changes(by=user, publication=publication)
    assert services.acknowledge_changes(by=world.account_manager, publication=publication) == 1
    frozen = publication.changes.get(week=w2)
    assert (frozen.acknowledged_by, frozen.acknowledged_at is not None) == (
        world.account_manager,
        True,
    )
    assert publication.changes.get(week=w6).acknowledged_at is None  # within: nothing to ack
    assert services.acknowledge_changes(by=world.account_manager, publication=publication) == 0


# --- weekly load ---------------------------------------------------------------------------


def test_weekly_load_in_units(world, product, this_monday):
    w0, w1, w2 = weeks_from(this_monday, 0, 1, 2)
    capacity(
        world,
        [
            {"week": w0.isoformat(), "line": "SMT-1", "amount": "600"},
            {"week": w0.isoformat(), "line": "SMT-2", "amount": "400"},
            {"week": w1.isoformat(), "amount": "500"},
        ],
    )
    demand(
        world,
        [
            {"product": "MB-200", "week": w0.isoformat(), "quantity": "900"},
            {"product": "MB-200", "week": w2.isoformat(), "quantity": "10"},
        ],
    )
    loads = services.weekly_load(world.ours, start=this_monday + dt.timedelta(days=3), weeks=4)
    assert [(x.week, x.capacity, x.demand, x.unit) for x in loads] == [
        (w0, 1000, 900, "units"),
        (w1, 500, 0, "units"),
        (w2, 0, 10, "units"),
        (w2 + dt.timedelta(weeks=1), 0, 0, "units"),
    ]
    assert [x.utilisation for x in loads] == [90, 0, Decimal("999.9"), None]


def test_weekly_load_uses_only_the_latest_forecast(world, product, this_monday):
    week = this_monday.isoformat()
    demand(world, [{"product": "MB-200", "week": week, "quantity": "900"}])
    demand(world, [{"product": "MB-200", "week": week, "quantity": "300"}])
    assert services.weekly_load(world.ours, start=this_monday, weeks=1)[0].demand == 300


def test_weekly_load_is_scoped_to_the_partnership(world, product, this_monday):
    demand(world, [{"product": "MB-200", "week": this_monday.isoformat(), "quantity": "900"}])
    CapacityPlan.objects.create(partnership=world.theirs, week=this_monday, amount=5)
    theirs = services.weekly_load(world.theirs, start=this_monday, weeks=1)[0]
    ours = services.weekly_load(world.ours, start=this_monday, weeks=1)[0]
    assert (theirs.capacity, theirs.demand) == (5, 0)
    assert (ours.capacity, ours.demand) == (0, 900)


def test_weekly_load_in_hours(world, product, this_monday):
    """Capacity in line hours: 400 units at 40 units/h are 10 h."""
    slow = services.save_product(
        by=world.buyer, partnership=world.ours, part_number="PSU", name="P", units_per_hour=12.5
    )
    w0, w1 = weeks_from(this_monday, 0, 1)
    capacity(
        world,
        [
            {"week": w0.isoformat(), "amount": "16", "unit": "hours"},
            {"week": w1.isoformat(), "amount": "8", "unit": "hours"},
        ],
    )
    demand(
        world,
        [
            {"product": "MB-200", "week": w0.isoformat(), "quantity": "400"},
            {"product": "MB-200", "week": w1.isoformat(), "quantity": "400"},
            {"product": "PSU", "week": w1.isoformat(), "quantity": "25"},
        ],
    )
    assert slow.units_per_hour == 12.5
    first, second = services.weekly_load(world.ours, start=this_monday, weeks=2)
    assert (first.unit, first.capacity, first.demand, first.utilisation) == ("hours", 16, 10, 62.5)
    assert (second.demand, second.utilisation) == (12, 150)


def _products(world, n):
    return Product.objects.bulk_create(
        Product(partnership=world.ours, part_number=f"QC-{i:03}", name=f"Board {i}")
        for i in range(n)
    )


def _load_queries(world, this_monday, products):
    weeks = weeks_from(this_monday, *range(26))
    demand(
        world,
        [
            {"product": str(p.pk), "week": w.isoformat(), "quantity": "3"}
            for p in products
            for w in weeks
        ],
    )
    with CaptureQueriesContext(connection) as queries:
        loads = services.weekly_load(world.ours, start=this_monday, weeks=26)
    assert [x.demand for x in loads] == [3 * len(products)] * 26
    return len(queries)


@pytest.mark.parametrize("unit", ["units", "hours"])
def test_weekly_load_queries_do_not_grow_with_products(world, this_monday, unit):
    capacity(
        world,
        [
            {"week": w.isoformat(), "amount": "1000", "unit": unit}
            for w in weeks_from(this_monday, *range(26))
        ],
    )
    products = _products(world, 50)
    if unit == "hours":
        Product.objects.update(units_per_hour=1)
    one = _load_queries(world, this_monday, products[:1])
    fifty = _load_queries(world, this_monday, products)
    assert one == fifty
    assert fifty <= 4


@pytest.mark.parametrize("unit", ["units", "hours"])
def test_weekly_load_is_one_query(world, product, this_monday, unit, django_assert_num_queries):
    """Publication, unit, capacity and demand for all weeks: one SQL statement (DESIGN.md §5)."""
    w0, w1 = weeks_from(this_monday, 0, 1)
    capacity(world, [{"week": w1.isoformat(), "amount": "80", "unit": unit}])
    demand(world, [{"product": "MB-200", "week": w0.isoformat(), "quantity": "400"}])
    demand(world, [{"product": "MB-200", "week": w1.isoformat(), "quantity": "800"}])
    with django_assert_num_queries(1):
        loads = services.weekly_load(world.ours, start=this_monday, weeks=52)
    assert len(loads) == 52
    # The unit is that of the first planned week even when week 0 has no capacity; only the
    # latest forecast counts (week 0 dropped to zero in it).
    assert {x.unit for x in loads} == {unit}
    assert (loads[0].capacity, loads[0].demand) == (0, 0)
    expected = 800 / product.units_per_hour if unit == "hours" else 800
    assert (loads[1].capacity, loads[1].demand) == (80, expected)
    assert all((x.capacity, x.demand) == (0, 0) for x in loads[2:])


def test_weekly_load_without_any_plan_or_forecast(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        loads = services.weekly_load(world.ours, weeks=3)
    assert [(x.capacity, x.demand, x.unit, x.utilisation) for x in loads] == [
        (0, 0, "units", None)
    ] * 3
    assert [x.week for x in loads] == [loads[0].week + dt.timedelta(weeks=i) for i in range(3)]
