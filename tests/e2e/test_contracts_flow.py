"""End-to-end in Chromium: an OEM buyer and an EMS account manager draft, sign and activate a
contract, then raise and answer a decision request routed by its rules."""

import os

import pytest
from playwright.sync_api import Browser, Page, expect

from contracts.models import Contract, DecisionRequest
from partnership.demo import DEMO_PASSWORD, load_demo_data
from partnership.models import Partnership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OEM_BUYER = "buyer@nordwind.example"
EMS_MANAGER = "account.manager@vistula.example"


@pytest.fixture
def demo(live_server):
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


def shot(page: Page, output_path: str, name: str):
    os.makedirs(output_path, exist_ok=True)
    page.screenshot(path=os.path.join(output_path, name), full_page=True)


def test_contract_sign_off_and_decision_routing(demo, browser: Browser, output_path: str):
    base = demo.url
    partnership = Partnership.objects.get(oem__slug="nordwind", ems__slug="vistula")

    # The OEM buyer drafts a contract from the template.
    oem = session(browser, base, OEM_BUYER)
    oem.goto(base + partnership.get_absolute_url())
    oem.get_by_role("link", name="Contract", exact=True).click()
    oem.get_by_role("button", name="Draft a contract").click()
    expect(oem.locator(".problems")).to_contain_text("Set the date the contract takes effect")
    expect(oem.get_by_role("button", name="Propose to partner")).to_be_disabled()

    oem.get_by_role("link", name="Edit terms").click()
    oem.fill("input[name=effective_from]", "2027-01-01")
    oem.get_by_role("button", name="Save").click()
    expect(oem.locator(".messages")).to_contain_text("Terms saved")

    # Edit a matrix row in place (htmx): the page does not reload.
    oem.evaluate("window.__marker = 1")
    row = oem.locator("#matrix-body tr").first
    row.get_by_role("link", name="Edit").click()
    oem.locator("#matrix-body input[name=ems]").fill("a")
    oem.locator("#matrix-body input[name=oem]").fill("a")
    oem.locator("#matrix-body").get_by_role("button", name="Save").click()
    expect(oem.locator("#matrix-body .errorlist")).to_contain_text(
        "Exactly one side must be Accountable"
    )
    oem.locator("#matrix-body input[name=oem]").fill("r")
    oem.locator("#matrix-body").get_by_role("button", name="Save").click()
    expect(oem.locator("#matrix-body tr").first.locator("td.raci").nth(1)).to_have_text("A")
    assert oem.evaluate("window.__marker") == 1
    shot(oem, output_path, "contract-draft.png")

    oem.get_by_role("button", name="Propose to partner").click()
    oem.get_by_role("button", name="Sign for the OEM").click()
    expect(oem.locator(".messages")).to_contain_text("Waiting for the other side")

    # The EMS account manager signs: the contract becomes active.
    ems = session(browser, base, EMS_MANAGER)
    contract = Contract.objects.get(partnership=partnership)
    ems.goto(base + contract.get_absolute_url())
    ems.get_by_role("button", name="Sign for the EMS").click()
    expect(ems.locator(".messages")).to_contain_text("is now active")

    # The EMS raises a 12-day delay: the contract says the OEM must approve (clause 4.7).
    ems.get_by_role("link", name="Decisions", exact=True).last.click()
    ems.get_by_role("link", name="Raise a decision request").click()
    ems.fill("input[name=title]", "Pump controller lot 3 slips by 12 days")
    ems.select_option("select[name=category]", "schedule_change")
    ems.fill("input[name=delay_days]", "12")
    ems.get_by_role("button", name="Raise request").click()
    expect(ems.locator("h2.h1")).to_contain_text("Pump controller lot 3")
    expect(ems.locator("main")).to_contain_text("Rule 4.7 applies")
    expect(ems.get_by_role("button", name="Approve")).to_have_count(0)
    shot(ems, output_path, "decision-raised.png")

    # The OEM buyer finds it in the inbox and approves it.
    oem.goto(base + "/decisions/")
    oem.get_by_role("link", name="Pump controller lot 3").click()
    oem.fill("textarea[name=text]", "Approved; ship the first 200 pcs by air.")
    oem.get_by_role("button", name="Approve").click()
    expect(oem.locator(".timeline")).to_contain_text("Approved")
    shot(oem, output_path, "decision-approved.png")
    decision = DecisionRequest.objects.get(partnership=partnership)
    assert decision.status == "approved" and decision.rule.clause_ref == "4.7"

    # Both can download the summary PDF of the active contract.
    pdf = ems.request.get(
        base + f"/partnerships/{partnership.pk}/contracts/{contract.pk}/summary.pdf"
    )
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
