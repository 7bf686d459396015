"""examples/erp_sync.py against a live server: pull incrementally, push with retries and an
Idempotency-Key. Only the network glitch is simulated (an ERP's network is truly outside)."""

import datetime as dt
import importlib.util
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from integrations import services as integration_services
from partnership.models import Role
from schedules import services as schedule_services
from schedules.models import DemandPublication

pytestmark = pytest.mark.django_db(transaction=True)

spec = importlib.util.spec_from_file_location(
    "erp_sync", Path(__file__).resolve().parents[2] / "examples" / "erp_sync.py"
)
erp_sync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(erp_sync)


@pytest.fixture
def oem_key(world):
    _key, plaintext = integration_services.issue_api_key(
        by=world.oem_admin, organization=world.oem, name="SAP", scopes=["*:write"], role=Role.BUYER
    )
    return plaintext


class FlakyOpener:
    """Fails the first ``failures`` requests like a dropped connection, then passes through."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = 0
        self.inner = urllib.request.build_opener()

    def open(self, request, timeout=None):
        self.calls += 1
        if self.calls <= self.failures:
            raise urllib.error.URLError("connection reset by peer")
        return self.inner.open(request, timeout=timeout)


def test_pull_follows_the_cursor_and_returns_the_next_marker(world, live_server, oem_key):
    for n in range(7):
        schedule_services.save_product(
            by=world.buyer, partnership=world.ours, part_number=f"PN-{n}", name="Board"
        )
    client = erp_sync.PortalClient(live_server.url, oem_key, backoff=0.01)
    rows, marker = client.pull("products", since="2000-01-01T00:00:00Z", page_size=3)
    assert sorted(r["part_number"] for r in rows) == [f"PN-{n}" for n in range(7)]
    assert marker
    schedule_services.save_product(
        by=world.buyer, partnership=world.ours, part_number="PN-NEW", name="Board"
    )
    again, _ = client.pull("products", since=marker)
    assert "PN-NEW" in {r["part_number"] for r in again}
    # The next sync repeats at most the 30-second overlap window (documented), never a row twice.
    ids = [r["id"] for r in again]
    assert len(ids) == len(set(ids))


def test_push_retries_through_a_network_glitch_and_publishes_once(world, live_server, oem_key):
    schedule_services.save_product(
        by=world.buyer, partnership=world.ours, part_number="MB-200", name="Board"
    )
    week = schedule_services.monday(dt.date.today()) + dt.timedelta(weeks=6)
    flaky = FlakyOpener(failures=2)
    client = erp_sync.PortalClient(live_server.url, oem_key, backoff=0.01, opener=flaky)
    rows = [{"product": "MB-200", "week": week.isoformat(), "quantity": 500}]
    first = client.push_demand(world.ours.pk, rows, note="weekly", idempotency_key="fc-2026-48")
    assert flaky.calls == 3 and first["version"] == 1
    # The ERP timed out and sends the same request again: the stored answer comes back.
    replay = client.push_demand(world.ours.pk, rows, note="weekly", idempotency_key="fc-2026-48")
    assert replay == first
    assert DemandPublication.objects.filter(partnership=world.ours).count() == 1


def test_a_key_of_another_organisation_reaches_nothing(world, live_server):
    _key, foreign = integration_services.issue_api_key(
        by=world.outsider,
        organization=world.other_oem,
        name="Other ERP",
        scopes=["*:read"],
        role=Role.BUYER,
    )
    schedule_services.save_product(
        by=world.buyer, partnership=world.ours, part_number="SECRET-9", name="Board"
    )
    client = erp_sync.PortalClient(live_server.url, foreign, backoff=0.01)
    rows, _ = client.pull("products", since="2000-01-01T00:00:00Z")
    assert "SECRET-9" not in {r["part_number"] for r in rows}
    with pytest.raises(erp_sync.PortalError) as exc:
        client.push_demand(
            world.ours.pk, [{"product": "SECRET-9", "week": "2030-01-07", "quantity": 1}]
        )
    assert exc.value.status in (400, 403)
