"""Lists in Chromium: sort by a header with the keyboard, change the page size, page on,
export what is shown; a large export runs in a real Celery worker while the progress bar
(polled by htmx) fills and offers the download. axe-core finds no serious violation."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_accessibility import serious_violations
from tests.factories import PASSWORD
from tests.lists_data import seed_partnership
from tests.workers import CeleryWorker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, settings, tmp_path, world):
    settings.MEDIA_ROOT = tmp_path
    seed_partnership(world, world.ours, world.buyer, 60)
    seed_partnership(world, world.theirs, world.outsider, 2, title="Foreign")
    return live_server


def session(browser: Browser, base: str, email: str) -> Page:
    # bypass_csp: axe-core is injected as an inline script, which our policy forbids.
    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(base + "/")
    return page


def test_sort_page_and_export_the_problem_log(site, world, browser: Browser, output_path: str):
    page = session(browser, site.url, world.buyer.email)
    page.goto(site.url + f"/partnerships/{world.ours.pk}/problems/")
    assert not serious_violations(page)
    expect(page.get_by_test_id("list-count")).to_contain_text("60 rows")

    header = page.locator("th", has=page.locator("a[data-sort=title]"))
    page.locator("a[data-sort=title]").focus()
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "ascending")
    page.locator("a[data-sort=title]").focus()
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "descending")
    first_title = page.locator("tbody tr").first.locator("td").first.inner_text()

    page.select_option("#page-size", "25")  # submits itself (static/js/portal.js)
    page.wait_for_url("**page_size=25**")
    expect(page.locator("tbody tr")).to_have_count(25)
    assert "sort=-title" in page.url  # the sort survives
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_test_id("list-count")).to_contain_text("page 2 of 3")

    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(rows) == 61  # every page
    assert rows[1][1] in first_title
    assert not any("Foreign" in c for r in rows for c in r)
    page.screenshot(path=f"{output_path}/problems-list.png", full_page=True)


@pytest.fixture
def job_worker(settings, site, tmp_path):
    worker = CeleryWorker("test-lists-e2e", {"MEDIA_ROOT": str(settings.MEDIA_ROOT)})
    settings.BACKGROUND_JOB_QUEUE = worker.queue
    settings.LIST_EXPORT_ASYNC_ROWS = 20
    try:
        worker.wait_until_ready()
        yield worker
    finally:
        try:
            worker.stop()
        finally:
            print(worker.output())
            worker.close()


@pytest.mark.worker
def test_a_large_export_shows_its_progress_and_then_the_download(
    site, world, browser: Browser, job_worker, output_path: str
):
    page = session(browser, site.url, world.buyer.email)
    page.goto(site.url + f"/partnerships/{world.ours.pk}/products/")
    page.get_by_test_id("export-xlsx").click()
    page.wait_for_url("**/jobs/*/")
    expect(page.locator("progress")).to_be_visible()
    assert page.get_by_label("Progress").count() == 1  # the bar has its label
    link = page.get_by_test_id("job-download")
    expect(link).to_be_visible(timeout=60_000)  # htmx polled the fragment until done
    expect(page.locator("progress")).to_have_attribute("value", "100")
    assert not serious_violations(page)
    page.screenshot(path=f"{output_path}/export-job.png", full_page=True)
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".xlsx")
