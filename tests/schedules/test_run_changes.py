"""Changes to committed production runs judged against the contract's flex table, and the
long-lead material a cut exposes — through the services, the pages and the API.

The active contract is the template: frozen zone 4 weeks; weeks 5–8 ±10 %, pull-in ≤ 1 week,
push-out ≤ 2 weeks; weeks 9–13 ±25 %, pull-in ≤ 2, push-out ≤ 4; weeks 14+ ±50 %, no limit.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from partnership.models import Notification
from schedules import services
from schedules.models import CapacityAlert, LongLeadItem, ProductionRun, RunChange
from tests.contracts.conftest import active_contract, draft  # noqa: F401
from tests.schedules.test_products_runs import approve_all


@pytest.fixture
def released(world, product):
    approve_all(world, product)
    return services.release_for_launch(by=world.buyer, product=product)


def due_in(this_monday, weeks, weekday=2):
    return this_monday + dt.timedelta(weeks=weeks, days=weekday)


@pytest.fixture
def confirmed(world, released, this_monday, active_contract):  # noqa: F811
    """A run of 500 due on Wednesday six weeks out (band 5–8), confirmed by the EMS."""
    due = due_in(this_monday, 6)
    run = services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=released,
        quantity=500,
        planned_launch=due - dt.timedelta(days=7),
        due_date=due,
    )
    return services.confirm_run(by=world.account_manager, run=run)


def change(world, run, **fields):
    return services.save_run(by=world.buyer, partnership=world.ours, run=run, **fields)


def test_a_push_out_within_the_band_keeps_the_run_confirmed(world, confirmed):
    due = confirmed.due_date
    run = change(world, confirmed, due_date=due + dt.timedelta(weeks=2))
    run.refresh_from_db()
    assert run.status == ProductionRun.Status.CONFIRMED
    (record,) = RunChange.objects.filter(run=run)
    assert (record.verdict, record.weeks_out, record.band_label) == ("within", 6, "weeks 5–8")
    assert (record.previous_due, record.new_due, record.changed_by) == (
        due,
        due + dt.timedelta(weeks=2),
        world.buyer,
    )
    note = Notification.objects.get(user=world.account_manager, subject__contains="within")
    assert "within the flex terms" in note.subject and str(due) in note.body


def test_a_push_out_beyond_the_band_needs_the_ems_again(world, confirmed):
    run = change(world, confirmed, due_date=confirmed.due_date + dt.timedelta(weeks=2, days=1))
    run.refresh_from_db()
    assert run.status == ProductionRun.Status.PLANNED
    assert (run.confirmed_by, run.confirmed_at) == (None, None)  # no longer confirmed by anyone
    record = RunChange.objects.get(run=run)
    assert record.verdict == RunChange.Verdict.PUSH_OUT_BREACH and record.is_breach
    assert record.acknowledged_at is None
    assert Notification.objects.filter(
        user=world.account_manager, subject__contains="please confirm"
    ).exists()
    # The EMS confirms the run again: that acknowledges the change.
    services.confirm_run(by=world.account_manager, run=run)
    record.refresh_from_db()
    assert record.acknowledged_by == world.account_manager and record.acknowledged_at


def test_a_pull_in_beyond_the_band_is_a_breach(world, confirmed):
    eight_days = dt.timedelta(days=8)
    run = change(
        world,
        confirmed,
        planned_launch=confirmed.planned_launch - eight_days,
        due_date=confirmed.due_date - eight_days,
    )
    assert RunChange.objects.get(run=run).verdict == RunChange.Verdict.PULL_IN_BREACH
    assert ProductionRun.objects.get(pk=run.pk).status == ProductionRun.Status.PLANNED


def test_quantity_is_judged_by_the_band_too(world, confirmed):
    run = change(world, confirmed, quantity=550)  # +10 %: the band's limit
    assert RunChange.objects.get(run=run).verdict == RunChange.Verdict.WITHIN
    assert ProductionRun.objects.get(pk=run.pk).status == ProductionRun.Status.CONFIRMED
    run = change(world, run, quantity=400)  # −27 % of 550: beyond −10 %, a cancellation
    latest = RunChange.objects.filter(run=run).first()
    assert latest.verdict == RunChange.Verdict.CANCELLATION
    assert ProductionRun.objects.get(pk=run.pk).status == ProductionRun.Status.PLANNED


def test_the_worst_count_wins_when_date_and_quantity_change(world, confirmed):
    run = change(
        world, confirmed, quantity=505, due_date=confirmed.due_date + dt.timedelta(weeks=3)
    )
    assert RunChange.objects.get(run=run).verdict == RunChange.Verdict.PUSH_OUT_BREACH


def test_any_change_inside_the_frozen_zone_is_frozen(world, released, this_monday, active_contract):  # noqa: F811
    due = due_in(this_monday, 2)
    run = services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=released,
        quantity=100,
        planned_launch=due - dt.timedelta(days=3),
        due_date=due,
    )
    run = services.confirm_run(by=world.account_manager, run=run)
    run = change(world, run, due_date=due + dt.timedelta(days=1))
    assert RunChange.objects.get(run=run).verdict == RunChange.Verdict.FROZEN
    assert ProductionRun.objects.get(pk=run.pk).status == ProductionRun.Status.PLANNED


def test_without_an_active_contract_every_change_goes_back_to_the_ems(world, released, this_monday):
    due = due_in(this_monday, 20)
    run = services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=released,
        quantity=100,
        planned_launch=due - dt.timedelta(days=3),
        due_date=due,
    )
    run = services.confirm_run(by=world.account_manager, run=run)
    run = change(world, run, due_date=due + dt.timedelta(days=1))
    assert ProductionRun.objects.get(pk=run.pk).status == ProductionRun.Status.PLANNED
    assert RunChange.objects.get(run=run).verdict == RunChange.Verdict.NON_BINDING


def test_changes_to_a_planned_run_are_not_judged(world, released, active_contract):  # noqa: F811
    run = services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=released,
        quantity=100,
        planned_launch=dt.date(2030, 3, 4),
        due_date=dt.date(2030, 3, 15),
    )
    change(world, run, quantity=10, due_date=dt.date(2030, 6, 1))
    assert not RunChange.objects.exists()


def test_a_cut_run_reports_the_long_lead_material_it_exposes(world, confirmed):
    product = confirmed.product
    services.save_long_lead_item(
        by=world.account_manager,
        product=product,
        component="FPGA XC7A35T",
        lead_time_weeks=16,
        quantity_per_assembly=Decimal(1),
        unit_price=Decimal("38.50"),
    )
    services.save_long_lead_item(
        by=world.account_manager,
        product=product,
        component="Connector 80p",
        lead_time_weeks=4,  # shorter than 6 weeks out: not yet bought
        quantity_per_assembly=Decimal(2),
        unit_price=Decimal("1.20"),
    )
    run = change(world, confirmed, quantity=450)
    assert RunChange.objects.get(run=run).exposure == Decimal("1925.00")  # 50 × 38.50


def test_a_breach_opens_a_flex_alert_for_the_week(world, confirmed, this_monday, settings):
    due = confirmed.due_date
    change(world, confirmed, due_date=due + dt.timedelta(weeks=3))
    services.refresh_alerts(world.ours)
    # The alert sits in the week the EMS had committed to deliver.
    alert = CapacityAlert.objects.get(partnership=world.ours, kind="flex_breach")
    assert alert.week == services.monday(due)
    services.confirm_run(by=world.account_manager, run=ProductionRun.objects.get(pk=confirmed.pk))
    services.refresh_alerts(world.ours)
    alert.refresh_from_db()
    assert alert.status == CapacityAlert.Status.RESOLVED


def test_only_the_ems_keeps_the_long_lead_list(world, product):
    with pytest.raises(PermissionDenied):
        services.save_long_lead_item(
            by=world.buyer, product=product, component="X", lead_time_weeks=8, unit_price=1
        )
    with pytest.raises(PermissionDenied):
        services.save_long_lead_item(
            by=world.outsider, product=product, component="X", lead_time_weeks=8, unit_price=1
        )
    assert not LongLeadItem.objects.exists()


# --- pages -----------------------------------------------------------------------------------


def test_the_oem_changes_a_run_on_its_page_and_sees_the_verdict(client, world, confirmed):
    client.force_login(world.buyer)
    url = reverse("schedules:run", args=[world.ours.pk, confirmed.pk])
    new_due = confirmed.due_date + dt.timedelta(weeks=3)
    response = client.post(
        url,
        {
            "what": "change",
            "quantity": 500,
            "planned_launch": confirmed.planned_launch.isoformat(),
            "due_date": new_due.isoformat(),
        },
        follow=True,
    )
    text = response.content.decode()
    assert "the EMS must confirm" in text
    assert "Pushed out beyond the band" in text and 'id="flex-changes"' in text
    assert ProductionRun.objects.get(pk=confirmed.pk).due_date == new_due


def test_a_bad_run_change_shows_field_errors_and_changes_nothing(client, world, confirmed):
    client.force_login(world.buyer)
    url = reverse("schedules:run", args=[world.ours.pk, confirmed.pk])
    response = client.post(
        url,
        {
            "what": "change",
            "quantity": 0,
            "planned_launch": confirmed.planned_launch.isoformat(),
            "due_date": "not a date",
        },
    )
    assert response.status_code == 400
    form = response.context["change_form"]
    assert "quantity" in form.errors and "due_date" in form.errors
    run = ProductionRun.objects.get(pk=confirmed.pk)
    assert (run.quantity, run.due_date, run.status) == (500, confirmed.due_date, "confirmed")
    assert not RunChange.objects.exists()


def test_the_ems_cannot_change_a_run(client, world, confirmed):
    client.force_login(world.account_manager)
    url = reverse("schedules:run", args=[world.ours.pk, confirmed.pk])
    response = client.post(
        url,
        {
            "what": "change",
            "quantity": 1,
            "planned_launch": confirmed.planned_launch.isoformat(),
            "due_date": confirmed.due_date.isoformat(),
        },
    )
    assert response.status_code == 403
    assert ProductionRun.objects.get(pk=confirmed.pk).quantity == 500


def test_the_ems_records_long_lead_material_on_the_product_page(client, world, product):
    client.force_login(world.account_manager)
    url = reverse("schedules:product", args=[world.ours.pk, product.pk])
    data = {
        "what": "long-lead",
        "component": "MCU STM32H7",
        "description": "main controller",
        "lead_time_weeks": 20,
        "quantity_per_assembly": "1",
        "unit_price": "9.8000",
    }
    assert client.post(url, data).status_code == 302
    item = LongLeadItem.objects.get(product=product)
    assert (item.component, item.lead_time_weeks, item.cost_per_assembly) == (
        "MCU STM32H7",
        20,
        Decimal("9.8"),
    )
    # The same component twice, and nonsense numbers: field errors, nothing saved.
    response = client.post(url, {**data, "lead_time_weeks": 0, "unit_price": "-1"})
    assert response.status_code == 400
    errors = response.context["long_lead_form"].errors
    assert {"lead_time_weeks", "unit_price"} <= set(errors)
    response = client.post(url, data)
    assert response.status_code == 400
    assert (
        "component" in response.context["long_lead_form"].errors
        or response.context["long_lead_form"].non_field_errors()
    )
    assert LongLeadItem.objects.count() == 1
    # The OEM sees it on the page but cannot add or remove.
    client.force_login(world.buyer)
    page = client.get(url).content.decode()
    assert "MCU STM32H7" in page and 'value="long-lead"' not in page
    assert (
        client.post(url, {"what": "long-lead-delete", "long_lead_item": item.pk}).status_code == 403
    )
    client.force_login(world.account_manager)
    assert (
        client.post(url, {"what": "long-lead-delete", "long_lead_item": item.pk}).status_code == 302
    )
    assert not LongLeadItem.objects.exists()


def test_long_lead_items_of_another_partnership_answer_404(client, world, product):
    from schedules.models import Product

    foreign = Product.objects.create(partnership=world.theirs, part_number="F-1", name="Foreign")
    item = LongLeadItem.objects.create(
        product=foreign, component="SECRET-PART", lead_time_weeks=10, unit_price=5
    )
    client.force_login(world.account_manager)
    url = reverse("schedules:product", args=[world.ours.pk, product.pk])
    assert (
        client.post(url, {"what": "long-lead-delete", "long_lead_item": item.pk}).status_code == 404
    )
    foreign_url = reverse("schedules:product", args=[world.theirs.pk, foreign.pk])
    assert client.get(foreign_url).status_code == 404
    assert LongLeadItem.objects.filter(pk=item.pk).exists()
