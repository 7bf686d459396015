"""The contract summary PDF: content read back from the PDF, pagination, query count, access."""

import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from contracts import services
from contracts.models import DecisionRule, ResponsibilityItem
from contracts.pdf import SHORT_HASH, render_contract_pdf

pytestmark = pytest.mark.django_db


def squash(text: str) -> str:
    """Collapse whitespace: text extraction breaks lines wherever the layout wrapped them."""
    return re.sub(r"\s+", " ", text).strip()


def compact(text: str) -> str:
    """Drop whitespace altogether: pypdf also reads a kerned pair ("Te") as two words."""
    return re.sub(r"\s+", "", text)


def contains(text: str, fragment: str) -> bool:
    return compact(fragment) in compact(text)


def page_texts(data: bytes) -> list[str]:
    return [squash(page.extract_text()) for page in PdfReader(io.BytesIO(data)).pages]


def test_summary_of_the_signed_template_contract(world, active_contract):
    data = render_contract_pdf(active_contract)
    assert data.startswith(b"%PDF")
    pages = page_texts(data)
    text = " ".join(pages)

    assert contains(text, world.oem.name) and contains(text, world.ems.name)
    assert f"Version {active_contract.version}" in text
    for item in active_contract.matrix.all():
        assert contains(text, item.activity), item.activity
    rules = list(active_contract.rules.all())
    for rule in rules:
        assert contains(text, rule.clause_ref), rule.clause_ref
    outside_avl = next(r for r in rules if r.clause_ref == "7.2")
    assert contains(text, outside_avl.describe())
    assert contains(text, outside_avl.clause_text)
    assert contains(text, str(world.buyer)) and contains(text, str(world.account_manager))
    assert contains(text, active_contract.content_hash)
    assert "DRAFT" not in text

    short = active_contract.content_hash[:SHORT_HASH]
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert short in page


def test_large_contract_spans_pages_with_footer_and_constant_queries(world, draft):
    # A small contract (the template draft) and a large one in the other partnership.
    large = services.create_draft(by=world.outsider, partnership=world.theirs)
    large.matrix.all().delete()
    large.rules.all().delete()
    ResponsibilityItem.objects.bulk_create(
        ResponsibilityItem(
            contract=large,
            area=f"Area {n // 20 + 1:02d}",
            activity=f"Activity number {n:03d} with a description long enough to wrap sometimes",
            oem="RA" if n % 2 else "C",
            ems="C" if n % 2 else "RA",
            position=n,
        )
        for n in range(200)
    )
    DecisionRule.objects.bulk_create(
        DecisionRule(
            contract=large,
            category="schedule_change",
            outcome="oem_approval",
            min_quantity=1000 + n * 10,
            response_hours=48,
            clause_ref=f"12.{n + 1}",
            clause_text=f"A schedule change of at least {1000 + n * 10} units needs approval.",
            position=n,
        )
        for n in range(100)
    )

    with CaptureQueriesContext(connection) as small_queries:
        render_contract_pdf(draft)
    with CaptureQueriesContext(connection) as large_queries:
        data = render_contract_pdf(large)
    assert len(large_queries) == len(small_queries) <= 5

    pages = page_texts(data)
    assert len(pages) >= 5
    short = services.content_hash(large)[:SHORT_HASH]
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert short in page
        assert "DRAFT" in page  # the footer and the watermark of an unsigned version
    text = " ".join(pages)
    for n in range(200):
        assert contains(text, f"Activity number {n:03d} with a description"), n
    for n in range(100):
        assert contains(text, f"at least {1000 + n * 10} units needs approval"), n
    assert contains(text, "Schedule change, when it involves a quantity of at least 1990:")


def test_pdf_view_is_scoped_and_requires_login(client, world, active_contract):
    url = reverse("contracts:pdf", args=[world.ours.pk, active_contract.pk])

    response = client.get(url)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]

    client.force_login(world.outsider)
    assert client.get(url).status_code == 404
    other = reverse("contracts:pdf", args=[world.theirs.pk, active_contract.pk])
    assert client.get(other).status_code == 404

    client.force_login(world.buyer)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_draft_is_marked_as_unsigned(client, world, draft):
    client.force_login(world.account_manager)
    response = client.get(reverse("contracts:pdf", args=[world.ours.pk, draft.pk]))
    assert response.status_code == 200
    pages = page_texts(response.content)
    assert "DRAFT — not signed" in pages[0]
    assert "not signed" in " ".join(pages).split("Signatures", 1)[1]
    short = services.content_hash(draft)[:SHORT_HASH]
    assert all(short in page for page in pages)


def test_signed_version_whose_rows_changed_says_so(active_contract):
    # Behind the services' back (a bad migration, a manual fix in the database).
    active_contract.matrix.filter(activity="DFM/DFT review").update(oem="I")
    text = " ".join(page_texts(render_contract_pdf(active_contract)))
    assert contains(text, "Content does not match the signature")
    assert contains(text, active_contract.content_hash)  # still shows what was signed


def test_the_summary_states_the_reschedule_limits_of_each_band(world, active_contract):
    text = " ".join(page_texts(render_contract_pdf(active_contract)))
    assert contains(text, "none allowed")  # weeks 0–4
    assert contains(text, "pull-in ≤ 1 week, push-out ≤ 2 weeks")  # weeks 5–8
    assert contains(text, "pull-in ≤ 2 weeks, push-out ≤ 4 weeks")  # weeks 9–13
    assert contains(text, "no limit")  # 14 and beyond
