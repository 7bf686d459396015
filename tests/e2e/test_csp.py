"""The Content-Security-Policy holds in a real browser: Chromium reports no violation on the
main pages of both sides (no inline script, no eval, nothing from elsewhere), and htmx still
works without eval (the matrix row form resets itself through static/js/portal.js)."""

import pytest
from playwright.sync_api import Browser, expect

from contracts.models import Contract
from partnership.demo import DEMO_PASSWORD, load_demo_data
from partnership.models import Partnership
from tests.e2e.test_accessibility import pages_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script, outside the page's CSP: records every violation event.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
});
"""


@pytest.fixture
def demo(live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    load_demo_data()
    return live_server


def signed_in(browser, demo, email):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    console = []
    page.on(
        "console",
        lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(demo.url + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(demo.url + "/")
    return page, console


# Redoc's "powered by" logo comes from its CDN: the policy refusing it is the point.
EXPECTED = "https://cdn.redoc.ly/"


def test_main_pages_raise_no_csp_violation(demo, browser: Browser):
    p = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
    page, console = signed_in(browser, demo, "buyer@nordwind.example")
    found = {}
    for path in [*pages_for(p), "/settings/profile/", "/api/docs/", "/api/redoc/"]:
        response = page.goto(demo.url + path)
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        if path.startswith("/api/"):
            page.wait_for_load_state("networkidle")  # the docs build themselves in script
        violations = [v for v in page.evaluate("window.__csp") if EXPECTED not in v]
        if violations:
            found[path] = violations
    assert not found, found
    assert not [m for m in console if EXPECTED not in m], console
    # The API docs really rendered under their policy (no inline script, no eval).
    page.goto(demo.url + "/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)


def test_htmx_works_without_eval(demo, browser: Browser):
    """The matrix 'add an activity' form used hx-on (eval); now portal.js resets it."""
    p = Partnership.objects.get(oem__slug="aurora", ems__slug="baltic")
    draft = Contract.objects.get(partnership=p, status=Contract.Status.DRAFT)
    page, console = signed_in(browser, demo, "admin@aurora.example")
    page.goto(f"{demo.url}/partnerships/{p.pk}/contracts/{draft.pk}/")
    form = page.locator("#matrix-add")
    rows_before = page.locator("#matrix-body tr").count()
    form.locator("[name=area]").fill("Quality")
    form.locator("[name=activity]").fill("Conformal coating inspection")
    form.locator("[name=oem]").fill("A")
    form.locator("[name=ems]").fill("R")
    form.locator("button[type=submit]").click()
    # (A string predicate would be eval: the page's CSP refuses even Playwright's.)
    expect(page.locator("#matrix-body tr")).to_have_count(rows_before + 1)
    assert form.locator("[name=activity]").input_value() == ""
    assert page.evaluate("window.__csp") == [] and not console
