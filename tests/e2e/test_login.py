"""End-to-end: a demo OEM buyer logs in through the real login form in Chromium."""

import os
import re

import pytest
from playwright.sync_api import Page, expect

from partnership.demo import DEMO_PASSWORD, load_demo_data
from partnership.models import Partnership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BUYER = "buyer@nordwind.example"


@pytest.fixture
def demo(live_server):
    load_demo_data()
    return live_server


def log_in(page: Page, base_url: str, email: str = BUYER) -> None:
    page.goto(base_url + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("main").get_by_role("button", name=re.compile("sign in|log in", re.I)).click()
    page.wait_for_url(base_url + "/")


def screenshot(page: Page, output_path: str, name: str) -> str:
    os.makedirs(output_path, exist_ok=True)
    path = os.path.join(output_path, name)
    page.screenshot(path=path, full_page=True)
    assert os.path.isfile(path)
    assert os.path.getsize(path) > 0
    return path


def test_buyer_sees_only_own_partnerships(demo, page: Page, output_path: str):
    base = demo.url
    log_in(page, base)

    # Dashboard: exactly Nordwind's two partnerships, named by their EMS.
    expect(page.get_by_role("heading", level=1, name="Partnerships")).to_be_visible()
    cards = page.locator("[data-testid=partnership-card]")
    expect(cards).to_have_count(2)
    names = sorted(t.strip() for t in cards.locator(".parties").all_inner_texts())
    assert names == ["Baltic Assembly Sp. z o.o.", "Vistula Electronics S.A."]
    assert "Aurora Instruments" not in page.content()
    screenshot(page, output_path, "dashboard.png")

    # Detail page of the Baltic partnership shows both parties.
    cards.filter(has_text="Baltic Assembly").click()
    nordwind_baltic = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
    page.wait_for_url(base + nordwind_baltic.get_absolute_url())
    header = page.get_by_role("heading", level=1)
    expect(header).to_contain_text("Nordwind Medical GmbH")
    expect(header).to_contain_text("Baltic Assembly Sp. z o.o.")
    assert "Aurora Instruments" not in page.content()
    screenshot(page, output_path, "detail.png")

    # Somebody else's partnership is a 404, not a 403: its existence is not disclosed.
    aurora_baltic = Partnership.objects.get(oem__slug="aurora", ems__slug="baltic")
    response = page.goto(base + aurora_baltic.get_absolute_url())
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert "Aurora Instruments" not in page.content()


def test_narrow_screen_navigation(demo, browser, output_path: str):
    context = browser.new_context(viewport={"width": 390, "height": 800})
    try:
        page = context.new_page()
        log_in(page, demo.url)

        toggle = page.locator("[data-toggle=nav]")
        organisation = page.locator("#main-nav").get_by_role("link", name="Organisation")
        expect(toggle).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(organisation).to_be_hidden()

        toggle.click()
        expect(organisation).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(page.locator("[data-testid=partnership-card]")).to_have_count(2)
        screenshot(page, output_path, "dashboard-narrow.png")
    finally:
        context.close()
