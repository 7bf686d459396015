"""Every list page: bounded queries at 1× and 10× rows, sorting, filtering, search, pagination
edge cases, bad input, and exports that hold exactly the filtered rows of the user's scope."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from comms.models import Problem
from partnership.lists import get_spec
from partnership.models import Notification
from tests.lists_data import PAGES, page_url, page_user, seed, seed_partnership

pytestmark = pytest.mark.django_db

ALL_PAGES = sorted(PAGES)


def read_csv(response):
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))


def read_xlsx(response):
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]


def get(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    return response


@pytest.mark.parametrize("list_page", ALL_PAGES)
def test_query_count_is_the_same_at_1x_and_10x_rows(world, client, list_page):
    seed(world, 2)
    client.force_login(page_user(world, list_page))
    url = page_url(world, list_page)
    get(client, url)  # warm-up: sessions, content types, caches
    Notification.objects.update(read_at=None)  # showing unread ones marks them read: again
    with CaptureQueriesContext(connection) as small:
        response = get(client, url)
    assert response.context["list"]["count"] >= 2
    seed(world, 18)
    with CaptureQueriesContext(connection) as large:
        response = get(client, url)
    assert response.context["list"]["count"] >= 20
    assert len(large) == len(small), [q["sql"] for q in large.captured_queries]
    assert "Foreign" not in response.content.decode()


@pytest.mark.parametrize("list_page", ALL_PAGES)
def test_every_sortable_header_sorts_both_ways_and_says_so(world, client, list_page):
    seed(world, 3)
    client.force_login(page_user(world, list_page))
    headers = get(client, page_url(world, list_page)).context["list"]["headers"]
    sortable = [h for h in headers if h["key"]]
    assert sortable, "a list page without a sortable column"
    for header in sortable:
        up = get(client, page_url(world, list_page) + header["url"])
        down = get(client, page_url(world, list_page), sort="-" + header["key"])
        assert up.context["list"]["sort"] == header["key"]
        assert down.context["list"]["sort"] == "-" + header["key"]
        if 'class="sort-link"' in up.content.decode():  # a table: its header says how
            assert 'aria-sort="ascending"' in up.content.decode()
            assert 'aria-sort="descending"' in down.content.decode()
        else:  # cards: the sort menu of the filter bar says it
            assert f'<option value="-{header["key"]}" selected>' in down.content.decode()


@pytest.mark.parametrize("list_page", ALL_PAGES)
def test_bad_input_is_ignored_with_a_message_never_a_500(world, client, list_page):
    seed(world, 3)
    client.force_login(page_user(world, list_page))
    response = get(
        client,
        page_url(world, list_page),
        sort="no-such-key",
        page="abc",
        page_size="7",
        status="nonsense",
        export="pdf",
    )
    assert response.context["list"]["page"].number == 1
    assert response.context["list"]["page_size"] == get_spec_for(list_page).page_size
    assert "Ignored filter" in response.content.decode()


@pytest.mark.parametrize("list_page", ALL_PAGES)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_holds_every_filtered_row_of_the_scope_only(world, client, list_page, fmt):
    seed(world, 3)
    client.force_login(page_user(world, list_page))
    url = page_url(world, list_page)
    shown = get(client, url, page_size=25).context["list"]["count"]
    response = client.get(url, {"export": fmt})
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'.{fmt}"')
    rows = read_csv(response) if fmt == "csv" else read_xlsx(response)
    assert rows[0] == get_spec_for(list_page).header()
    assert len(rows) - 1 == shown
    assert not any("Foreign" in str(cell) for row in rows for cell in row)


def get_spec_for(page):
    names = {
        "dashboard": "partnership.partnerships",
        "notifications": "partnership.notifications",
        "contracts": "contracts.contracts",
        "decisions": "contracts.decisions",
        "inbox": "contracts.inbox",
        "products": "schedules.products",
        "runs": "schedules.runs",
        "audits": "audits.audits",
        "findings": "audits.findings",
        "meetings": "comms.meetings",
        "actions": "comms.actions",
        "my_actions": "comms.my_actions",
        "problems": "comms.problems",
        "goals": "comms.goals",
        "deliveries": "integrations.deliveries",
        "webhooks": "integrations.webhooks",
        "api_keys": "integrations.api_keys",
        "api_tokens": "partnership.api_tokens",
        "members": "partnership.members",
    }
    return get_spec(names[page])


# -- one list in depth: the problem log --------------------------------------------------------


@pytest.fixture
def problems(world):
    seed_partnership(world, world.ours, world.buyer, 60)
    seed_partnership(world, world.theirs, world.outsider, 3, title="Foreign")
    return world


def problem_url(world):
    return page_url(world, "problems")


def test_pages_split_the_rows_and_a_page_beyond_the_end_shows_the_last(problems, client):
    world = problems
    client.force_login(world.buyer)
    first = get(client, problem_url(world), page_size=25)
    assert first.context["list"]["count"] == 60
    assert len(first.context["object_list"]) == 25
    last = get(client, problem_url(world), page_size=25, page=99)
    assert last.context["list"]["page"].number == 3
    assert len(last.context["object_list"]) == 10
    html = first.content.decode()
    assert 'aria-label="Pages"' in html and "page=2" in html and "page_size=25" in html
    seen = set()
    for n in (1, 2, 3):
        rows = get(client, problem_url(world), page_size=25, page=n).context["object_list"]
        seen |= {p.pk for p in rows}
    assert len(seen) == 60  # a total order: no row twice, none lost


def test_sort_filter_and_search_narrow_and_order_the_rows(problems, client):
    world = problems
    client.force_login(world.buyer)
    ours = Problem.objects.filter(partnership=world.ours)
    critical = get(client, problem_url(world), severity="critical", sort="title", page_size=100)
    rows = list(critical.context["object_list"])
    assert {p.severity for p in rows} == {"critical"}
    assert len(rows) == ours.filter(severity="critical").count()
    assert [p.title for p in rows] == sorted(p.title for p in rows)
    newest = get(client, problem_url(world), sort="-number").context["object_list"][0]
    assert newest.number == max(ours.values_list("number", flat=True))
    number = ours.order_by("number")[5].number
    found = get(client, problem_url(world), q=f"P-{number:04d}").context["object_list"]
    assert [p.number for p in found] == [number]
    by_text = get(client, problem_url(world), q=f"problem {number}").context["object_list"]
    assert number in [p.number for p in by_text]


def test_the_default_status_filter_hides_closed_problems_until_asked(problems, client):
    world = problems
    client.force_login(world.buyer)
    ours = Problem.objects.filter(partnership=world.ours)
    ours.filter(number__in=ours.order_by("number").values("number")[:5]).update(status="closed")
    assert get(client, problem_url(world)).context["list"]["count"] == 55
    assert get(client, problem_url(world), status="closed").context["list"]["count"] == 5
    assert get(client, problem_url(world), status="all").context["list"]["count"] == 60


def test_export_is_what_the_filter_shows_in_its_order_with_readable_cells(problems, client):
    world = problems
    client.force_login(world.buyer)
    Problem.objects.filter(partnership=world.ours).update(title="=HYPERLINK(evil)")
    Problem.objects.filter(partnership=world.ours, severity="high").update(title="High one")
    params = {"severity": "high", "sort": "-number", "page_size": 25}
    page = get(client, problem_url(world), **params).context["object_list"]
    shown = [f"P-{p.number:04d}" for p in page]
    assert len(shown) == 15
    rows = read_csv(client.get(problem_url(world), {**params, "export": "csv", "page": 2}))
    assert rows[0][:4] == ["Number", "Problem", "Severity", "Status"]
    assert [r[0] for r in rows[1:]] == shown  # every page, in the page's order
    assert {r[2] for r in rows[1:]} == {"High"}  # choice labels, not codes
    everything = read_csv(client.get(problem_url(world), {"export": "csv", "status": "all"}))
    assert any(r[1] == "'=HYPERLINK(evil)" for r in everything[1:])  # never a formula
    raised = everything[1][everything[0].index("Raised")]
    assert len(raised) == 16 and raised[4] == "-" and raised[10] == " "  # ISO, local time
    book = read_xlsx(client.get(problem_url(world), {**params, "export": "xlsx"}))
    assert [r[0] for r in book[1:]] == shown


def test_a_foreign_partnership_list_and_its_export_answer_404(world, client):
    seed(world, 1)
    client.force_login(world.buyer)
    for name in ("comms:problems", "schedules:products", "audits:audits", "contracts:decisions"):
        url = reverse(name, args=[world.theirs.pk])
        assert client.get(url).status_code == 404
        assert client.get(url, {"export": "csv"}).status_code == 404


def test_findings_filter_by_overdue_and_class(world, client):
    import zoneinfo

    from django.utils import timezone

    from audits.models import Finding

    seed_partnership(world, world.ours, world.buyer, 9)
    seed_partnership(world, world.theirs, world.outsider, 3, title="Foreign")
    ours = Finding.objects.filter(audit__partnership=world.ours)
    # Overdue in the buyer's own zone (their organisation's), whatever the machine's date.
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(world.oem.time_zone))
    late = ours.filter(response_due__lt=today)
    late.filter(classification="major").update(status="closed")
    client.force_login(world.buyer)
    url = page_url(world, "findings")
    overdue = get(client, url, overdue="true").context["object_list"]
    assert {f.pk for f in overdue} == set(
        late.exclude(status="closed").values_list("pk", flat=True)
    )
    assert overdue  # the seed has some still open
    minor = get(client, url, classification="minor").context["list"]["count"]
    assert minor == ours.filter(classification="minor").count()


def test_export_links_carry_the_filters_and_sort_but_not_the_page(problems, client):
    world = problems
    client.force_login(world.buyer)
    response = get(client, problem_url(world), severity="high", sort="-number", page=2)
    links = response.context["list"]["export_urls"]
    for fmt in ("csv", "xlsx"):
        assert links[fmt] == f"?severity=high&sort=-number&export={fmt}"
        assert f'href="{links[fmt].replace("&", "&amp;")}"' in response.content.decode()


def test_a_larger_page_size_is_honoured_and_an_unknown_one_is_not(problems, client):
    world = problems
    client.force_login(world.buyer)
    assert len(get(client, problem_url(world), page_size=100).context["object_list"]) == 60
    odd = get(client, problem_url(world), page_size=100000).context
    assert odd["list"]["page_size"] == 50 and len(odd["object_list"]) == 50
