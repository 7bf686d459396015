"""End-to-end in Chromium: a forecast above capacity turns the week red for the EMS, and a
product with a missing Gerber cannot be released for launch."""

import datetime as dt
import os

import pytest
from openpyxl import Workbook
from playwright.sync_api import Browser, Page, expect

from partnership.demo import DEMO_PASSWORD, load_demo_data
from partnership.models import Partnership
from schedules import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    load_demo_data()
    return live_server


def session(browser: Browser, base: str, email: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(base + "/")
    return page


def test_forecast_above_capacity_alerts_the_ems(demo, browser: Browser, output_path: str, tmp_path):
    base = demo.url
    p = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
    week = services.monday(dt.date.today()) + dt.timedelta(weeks=20)

    oem = session(browser, base, "buyer@nordwind.example")
    oem.goto(base + f"/partnerships/{p.pk}/capacity/")
    expect(oem.locator("rect[data-week-class=critical] >> title")).not_to_have_count(0)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"product,week,quantity\nMB-200,{week},5000\nMB-999,{week},1\n")
    oem.set_input_files("form:has(input[value=demand]) input[type=file]", str(bad))
    oem.get_by_role("button", name="Publish forecast").click()
    expect(oem.locator("[role=alert]")).to_contain_text("Row 2, product")
    assert p.demand_publications.count() == 2  # nothing published

    # The good one comes from Excel, as most buyers' forecasts do.
    good = tmp_path / "good.xlsx"
    book = Workbook()
    for row in (["Product", "Week", "Quantity"], ["MB-200", week, 5000], ["PSU-40", week, 700]):
        book.active.append(row)
    book.save(good)
    oem.set_input_files("form:has(input[value=demand]) input[type=file]", str(good))
    oem.fill("form:has(input[value=demand]) input[name=note]", "Tender volume")
    oem.get_by_role("button", name="Publish forecast").click()
    expect(oem.locator(".messages")).to_contain_text("Forecast v3 published")
    services.refresh_alerts(p)  # in production the worker does this right after the commit

    ems = session(browser, base, "account.manager@baltic.example")
    ems.goto(base + f"/partnerships/{p.pk}/capacity/")
    label = f"{week:%G-W%V}"
    overload = ems.locator("[data-testid=alert]", has_text=label).filter(has_text="Critical")
    expect(overload).to_contain_text("demand 5700 vs capacity 2500")
    expect(ems.locator("rect[data-week-class=critical] >> title", has_text=label)).to_have_count(1)
    os.makedirs(output_path, exist_ok=True)
    ems.screenshot(path=os.path.join(output_path, "capacity-alert.png"), full_page=True)


def test_product_with_missing_gerber_cannot_be_released(demo, browser: Browser, output_path: str):
    base = demo.url
    p = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
    psu = p.products.get(part_number="PSU-40")
    page = session(browser, base, "account.manager@baltic.example")
    page.goto(base + psu.get_absolute_url())
    expect(page.locator("[data-testid=blockers]")).to_contain_text("Gerber")
    expect(page.get_by_role("button", name="Release for launch")).to_be_disabled()
    os.makedirs(output_path, exist_ok=True)
    page.screenshot(path=os.path.join(output_path, "readiness-blocked.png"), full_page=True)
    psu.refresh_from_db()
    assert psu.released_at is None


def test_a_run_pushed_out_beyond_the_band_goes_back_to_the_ems(
    demo, browser: Browser, output_path: str
):
    """The demo run PO-MB-200-9 is confirmed and due in week 13 (band 9–13: push-out ≤ 4 weeks).
    The buyer pushes it out five weeks; the EMS sees the breach and confirms again."""
    base = demo.url
    p = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
    run = p.production_runs.get(external_id="PO-MB-200-9")
    assert run.status == "confirmed"
    oem = session(browser, base, "buyer@nordwind.example")
    oem.goto(base + run.get_absolute_url())
    oem.get_by_text("Change quantity or dates").click()
    oem.fill("input[name=planned_launch]", str(run.planned_launch + dt.timedelta(weeks=5)))
    oem.fill("input[name=due_date]", str(run.due_date + dt.timedelta(weeks=5)))
    oem.get_by_role("button", name="Save the change").click()
    expect(oem.locator(".messages")).to_contain_text("the EMS must confirm")
    expect(oem.locator("#flex-changes")).to_contain_text("Pushed out beyond the band")

    ems = session(browser, base, "account.manager@baltic.example")
    ems.goto(base + run.get_absolute_url())
    expect(ems.locator("#flex-changes")).to_contain_text("awaiting the EMS")
    os.makedirs(output_path, exist_ok=True)
    ems.screenshot(path=os.path.join(output_path, "run-pushed-out.png"), full_page=True)
    ems.get_by_role("button", name="Confirm dates").click()
    expect(ems.locator(".messages")).to_contain_text("Run confirmed")
    expect(ems.locator("#flex-changes")).not_to_contain_text("awaiting the EMS")
    run.refresh_from_db()
    assert (
        run.status == "confirmed" and run.changes.filter(acknowledged_at__isnull=True).count() == 0
    )
