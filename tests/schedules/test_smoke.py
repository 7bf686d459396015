import datetime as dt

import pytest

from schedules import services
from schedules.models import CapacityAlert

pytestmark = pytest.mark.django_db


def test_overload_opens_one_alert(world, product, this_monday):
    weeks = [this_monday + dt.timedelta(weeks=i) for i in range(4)]
    services.publish_capacity(
        by=world.account_manager,
        partnership=world.ours,
        rows=[{"week": w.isoformat(), "amount": "1000"} for w in weeks],
    )
    services.publish_demand(
        by=world.buyer,
        partnership=world.ours,
        rows=[
            {"product": "MB-200", "week": w.isoformat(), "quantity": q}
            for w, q in zip(weeks, [500, 950, 1200, 100], strict=True)
        ],
    )
    counts = services.refresh_alerts(world.ours)
    assert counts["opened"] == 2
    assert services.refresh_alerts(world.ours)["opened"] == 0
    alerts = {a.week: a.severity for a in CapacityAlert.objects.all()}
    assert alerts == {weeks[1]: "warning", weeks[2]: "critical"}
    loads = services.weekly_load(world.ours)
    assert loads[2].demand == 1200 and loads[2].capacity == 1000 and loads[2].utilisation == 120
