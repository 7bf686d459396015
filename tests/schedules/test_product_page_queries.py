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
    client.get(url)
    with CaptureQueriesContext(connection) as unreviewed:
        client.get(url)
    items = list(product.readiness.all())
    assert len(items) >= 3
    reviewers = []
    for i, item in enumerate(items):  # a different EMS reviewer for each document
        reviewer = member(world.ems, Role.QUALITY, email=f"reviewer{i}@ems.example")
        reviewers.append(reviewer)
        item.status = ReadinessItem.Status.APPROVED
        item.reviewed_by, item.reviewed_at = reviewer, timezone.now()
        item.save()
    with CaptureQueriesContext(connection) as reviewed:
        body = client.get(url).content.decode()
    assert len(reviewed) == len(unreviewed)
    assert all(escape(str(r)) in body for r in reviewers)
