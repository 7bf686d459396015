"""End-to-end in Chromium on a tablet/phone-sized screen: an OEM quality engineer runs a
process audit, records a major finding; the EMS answers with an 8D; the OEM verifies it and the
audit closes; the report PDF downloads."""

import datetime as dt
import os

import pytest
from playwright.sync_api import Browser, Page, expect

from audits.models import Audit, Finding, TemplateQuestion
from partnership.demo import DEMO_PASSWORD, load_demo_data
from partnership.models import Partnership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    load_demo_data()
    return live_server


def session(browser: Browser, base: str, email: str, width=412) -> Page:
    page = browser.new_context(viewport={"width": width, "height": 900}, has_touch=True).new_page()
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(base + "/")
    return page


def test_audit_finding_8d_and_closure_on_a_narrow_screen(demo, browser: Browser, output_path: str):
    base = demo.url
    p = Partnership.objects.get(oem__slug="nordwind", ems__slug="vistula")
    oem = session(browser, base, "quality@nordwind.example")
    oem.goto(base + f"/partnerships/{p.pk}/audits/")
    oem.fill("input[name=title]", "Process audit Vistula line 1")
    oem.select_option("select[name=kind]", "process")
    oem.select_option("select[name=template]", label="Process audit (VDA 6.3 style) (v1)")
    oem.fill("input[name=planned_date]", dt.date.today().isoformat())
    oem.get_by_role("button", name="Plan audit").click()
    oem.get_by_role("button", name="Start audit").click()
    audit = Audit.objects.get(partnership=p)

    # Score every question by tapping the score buttons; the grade updates as we go.
    questions = TemplateQuestion.objects.filter(section__template=audit.template).order_by(
        "section__position", "position"
    )
    for i, q in enumerate(questions):
        score = "4" if q.code == "6.2.1" else "10"
        oem.locator(f"#q-{q.pk} .score-opt", has_text=score).first.click()
        expect(oem.locator(f"#state-{q.pk}")).to_contain_text("saved")
        if i == 0:
            expect(oem.locator("[data-testid=score]")).to_have_text("100.0%")
    expect(oem.locator("[data-testid=grade]")).to_have_text("B")  # a starred question scored 4
    expect(oem.locator(".score-summary .reasons")).to_contain_text(
        "starred question 6.2.1 scored 4"
    )
    os.makedirs(output_path, exist_ok=True)
    oem.screenshot(path=os.path.join(output_path, "audit-scoring-narrow.png"))

    oem.get_by_text("Record a finding").click()
    oem.select_option("select[name=classification]", "major")
    oem.fill("input[name=clause]", "6.2.1")
    oem.fill("textarea[name=description]", "Reflow profile not validated after maintenance")
    oem.get_by_role("button", name="Record finding").click()
    oem.get_by_role("button", name="Issue report").click()
    expect(oem.locator(".badge-a-report_issued")).to_be_visible()
    finding = Finding.objects.get(audit=audit)

    ems = session(browser, base, "quality@vistula.example")
    ems.goto(base + finding.get_absolute_url())
    ems.fill("input[name=owner]", "Ewa Dąbrowska")
    ems.fill("input[name=due_date]", (dt.date.today() + dt.timedelta(days=10)).isoformat())
    ems.get_by_role("button", name="Start the 8D").click()
    for n in range(1, 8):
        ems.locator("textarea[name=text]").fill(f"D{n}: done and documented")
        ems.get_by_role("button", name="Complete step").click()
    ems.get_by_role("button", name="Submit for verification").click()
    expect(ems.get_by_role("button", name="Verify and close")).to_have_count(0)

    oem.goto(base + finding.get_absolute_url())
    oem.fill("textarea[name=note]", "New profile validated with thermocouples.")
    oem.get_by_role("button", name="Verify and close").click()
    oem.goto(base + audit.get_absolute_url())
    oem.get_by_role("button", name="Close audit").click()
    expect(oem.locator(".badge-a-closed")).to_be_visible()
    oem.screenshot(path=os.path.join(output_path, "audit-closed-narrow.png"), full_page=True)

    pdf = oem.request.get(base + f"/partnerships/{p.pk}/audits/{audit.pk}/report.pdf")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    audit.refresh_from_db()
    assert audit.status == "closed" and audit.grade == "B"
