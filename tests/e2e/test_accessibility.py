"""Accessibility: axe-core (vendored, 4.14) on the main pages of both roles, in Chromium.
No serious or critical violation is allowed."""

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from audits.models import Audit
from contracts.models import Contract
from partnership.demo import DEMO_PASSWORD, load_demo_data
from partnership.models import Partnership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()


@pytest.fixture
def demo(live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    load_demo_data()
    return live_server


def pages_for(p: Partnership) -> list[str]:
    contract = Contract.objects.filter(partnership=p, status="active").first()
    audit = Audit.objects.filter(partnership=p).first()
    return [
        "/",
        f"/partnerships/{p.pk}/",
        f"/partnerships/{p.pk}/contracts/{contract.pk}/",
        f"/partnerships/{p.pk}/decisions/",
        f"/partnerships/{p.pk}/products/",
        f"/partnerships/{p.pk}/runs/",
        f"/partnerships/{p.pk}/capacity/",
        f"/partnerships/{p.pk}/audits/{audit.pk}/",
        f"/partnerships/{p.pk}/scorecard/",
        f"/partnerships/{p.pk}/meetings/",
        f"/partnerships/{p.pk}/problems/",
        f"/partnerships/{p.pk}/goals/",
        "/decisions/",
        "/actions/",
    ]


def serious_violations(page) -> list[dict]:
    page.add_script_tag(content=AXE)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:3]],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("email", ["quality@nordwind.example", "account.manager@baltic.example"])
def test_main_pages_have_no_serious_accessibility_violations(demo, browser: Browser, email):
    p = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
    # axe is injected by the test as an inline script, which the portal's CSP rightly refuses.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.goto(demo.url + "/accounts/login/")
    assert not serious_violations(page), "login page"
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(demo.url + "/")
    problems = {}
    for path in pages_for(p):
        page.goto(demo.url + path)
        found = serious_violations(page)
        if found:
            problems[path] = found
    assert not problems, json.dumps(problems, indent=1)


def test_keyboard_reaches_the_main_content_first(demo, browser: Browser):
    page = browser.new_context().new_page()
    page.goto(demo.url + "/accounts/login/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
