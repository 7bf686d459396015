"""The product page shows who reviewed each readiness document without a query per item
(issue #9)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from partnership.models import Role
from schedules.models import ReadinessItem
from tests.factories import member


def test_reviewers_cost_no_query_per_item(world, client, product):
    url = product.get_absolute_url()
    client.force_login(world.buyer)
    items = list(product.readiness.all())
    assert len(items) >= 7
    reviewers = []

    def review(item, i):  # a different EMS reviewer for each document
        reviewer = member(world.ems, Role.QUALITY, email=f"reviewer{i}@ems.example")
        reviewers.append(reviewer)
        item.status = ReadinessItem.Status.APPROVED
        item.reviewed_by, item.reviewed_at = reviewer, timezone.now()
        item.save()

    # Five reviewed documents first, so that the history card's five latest changes are
    # reviews (naming people) in both readings; then two more reviews must cost nothing.
    for i, item in enumerate(items[:5]):
        review(item, i)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for i, item in enumerate(items[5:], start=5):
        review(item, i)
    with CaptureQueriesContext(connection) as every:
        body = client.get(url).content.decode()
    assert len(every) == len(one)
    assert all(escape(str(r)) in body for r in reviewers)
