"""The capacity page at a fixed number of queries (issue #9): acknowledged changes and alerts
show who acknowledged them without a query per row, and the changes table built in the view
shows the same facts the template did."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from schedules import services
from schedules.models import CapacityAlert, DemandChange
from tests.contracts.conftest import active_contract, draft  # noqa: F401


@pytest.fixture
def breaches(world, product, this_monday, active_contract):  # noqa: F811
    weeks = [this_monday + dt.timedelta(weeks=n) for n in range(4)]
    services.publish_capacity(
        by=world.account_manager,
        partnership=world.ours,
        rows=[{"week": w, "amount": 100} for w in weeks],
    )
    for quantity in (50, 300):  # the second version breaks the frozen zone and overloads
        services.publish_demand(
            by=world.buyer,
            partnership=world.ours,
            rows=[{"product": "MB-200", "week": w, "quantity": quantity} for w in weeks],
        )
    services.refresh_alerts(world.ours)
    return services.latest_publication(world.ours)


def test_acknowledgements_cost_no_query_per_row(world, client, breaches, django_assert_num_queries):
    url = reverse("schedules:capacity", args=[world.ours.pk])
    client.force_login(world.buyer)
    alerts = list(CapacityAlert.objects.filter(partnership=world.ours, status="open"))
    assert len(alerts) >= 4
    # One alert acknowledged first: the history card then names a person in both readings.
    services.acknowledge_alert(by=world.account_manager, alert=alerts[0])
    client.get(url)
    with CaptureQueriesContext(connection) as unacknowledged:
        body = client.get(url).content.decode()
    assert body.count('<tr class="breach"><td>MB-200</td>') == 4
    assert "✓" not in body
    services.acknowledge_changes(by=world.account_manager, publication=breaches)
    for alert in alerts[1:]:
        services.acknowledge_alert(by=world.account_manager, alert=alert)
    with django_assert_num_queries(len(unacknowledged)):
        body = client.get(url).content.decode()
    who = str(world.account_manager)
    assert body.count(f'<span class="small muted">✓ {who}</span>') == 4  # the changes
    assert body.count(f'<span class="small muted">{who}</span>') == len(alerts)


def test_changes_table_shows_week_band_and_verdict(world, client, breaches, this_monday):
    client.force_login(world.buyer)
    body = client.get(reverse("schedules:capacity", args=[world.ours.pk])).content.decode()
    change = breaches.changes.order_by("week").first()
    assert change.verdict == DemandChange.Verdict.FROZEN
    assert (
        f'<tr class="breach"><td>MB-200</td><td>{change.week:%G-W%V}</td><td class="num">0</td>'
        f'<td class="num">50</td><td class="num">300</td><td>{change.band_label or "—"}'
    ) in body
    # No long-lead material is recorded: no exposure.
    assert f'<td>{change.get_verdict_display()}</td><td class="num">—</td></tr>' in body
