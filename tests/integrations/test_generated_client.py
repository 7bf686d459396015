"""A client generated from the live server's OpenAPI schema (``openapi-python-client``, offline)
runs the ERP's main flows against that server with organisation API keys. Every answer is
parsed by the generated models, so a schema that misstates a type, an enum or a response
fails here. Only the generator's output directory is temporary."""

import datetime as dt
import importlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from comms.models import Problem
from integrations import services as key_services
from partnership.models import Role
from schedules import services as schedule_services
from tests.contracts import conftest as contract_fixtures

pytestmark = pytest.mark.django_db(transaction=True)

draft = contract_fixtures.draft
active_contract = contract_fixtures.active_contract

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
CONFIG = """\
package_name_override: portal_client
project_name_override: portal-client
post_hooks: []
content_type_overrides:
  application/pdf: application/octet-stream
  text/calendar: application/octet-stream
"""


@pytest.fixture
def portal_client(live_server, tmp_path):
    """The package generated from ``/api/schema/`` of the live server, imported."""
    with urllib.request.urlopen(f"{live_server.url}/api/schema/?format=json", timeout=60) as r:
        schema = json.load(r)
    assert schema["openapi"].startswith("3.")
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    (tmp_path / "config.yml").write_text(CONFIG)
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--config",
            str(tmp_path / "config.yml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "portal_client"),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        # Offline: no proxy and no index to reach; the generator needs neither.
        env={"PATH": str(GENERATOR.parent), "HOME": str(tmp_path), "NO_PROXY": "*"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("portal_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "portal_client"]:
            del sys.modules[name]


def api_key(world, organization, role):
    admin = world.oem_admin if organization == world.oem else world.ems_admin
    _key, plaintext = key_services.issue_api_key(
        by=admin, organization=organization, name="ERP", scopes=["*:write"], role=role
    )
    return plaintext


def test_erp_flows_through_the_generated_client(world, live_server, portal_client, active_contract):
    from portal_client import AuthenticatedClient
    from portal_client.api.v1 import (
        v1_decision_requests_create,
        v1_decision_requests_list,
        v1_demand_publications_create,
        v1_partnerships_list,
        v1_problems_by_external_id_update,
        v1_production_runs_bulk_upsert_create,
        v1_production_runs_list,
        v1_products_bulk_upsert_create,
        v1_products_list,
    )
    from portal_client.models import (
        CategoryEnum,
        DecisionRequest,
        DecisionRequestRequest,
        DemandPublicationDetail,
        DemandRowRequest,
        PaginatedPartnershipList,
        PaginatedProductionRunList,
        ProblemSeverityEnum,
        ProblemUpsertRequest,
        ProductBulkUpsertRequest,
        ProductUpsertItemRequest,
        PublishDemandRequest,
        RunBulkUpsertRequest,
        RunUpsertItemRequest,
        UpsertResult,
        UpsertValidationError,
        V1ProductsListFieldsItem,
    )
    from portal_client.models import (
        Problem as ProblemModel,
    )

    def client(plaintext):
        return AuthenticatedClient(
            base_url=live_server.url, token=plaintext, raise_on_unexpected_status=True
        )

    oem = client(api_key(world, world.oem, Role.BUYER))
    ems = client(api_key(world, world.ems, Role.ACCOUNT_MANAGER))
    pk = world.ours.pk

    # Partnerships: only ours.
    page = v1_partnerships_list.sync(client=oem)
    assert isinstance(page, PaginatedPartnershipList)
    assert [p.id for p in page.results] == [pk]
    assert page.results[0].ems.name == world.ems.name

    # Products by external id, in bulk; then a slim list with fields=.
    upserted = v1_products_bulk_upsert_create.sync(
        client=oem,
        body=ProductBulkUpsertRequest(
            partnership=pk,
            items=[
                ProductUpsertItemRequest(
                    external_id=f"MAT-{n}", part_number=f"PCB-{n}", name="Board"
                )
                for n in range(3)
            ],
        ),
    )
    assert isinstance(upserted, UpsertResult) and upserted.created == 3
    rejected = v1_products_bulk_upsert_create.sync_detailed(
        client=oem,
        body=ProductBulkUpsertRequest(
            partnership=pk, items=[ProductUpsertItemRequest(external_id="MAT-9")]
        ),
    )
    assert rejected.status_code == 400 and isinstance(rejected.parsed, UpsertValidationError)
    slim = v1_products_list.sync(
        client=oem, fields=[V1ProductsListFieldsItem.ID, V1ProductsListFieldsItem.EXTERNAL_ID]
    )
    assert sorted(p.external_id for p in slim.results) == ["MAT-0", "MAT-1", "MAT-2"]

    # Demand for the products, published by the OEM.
    week = schedule_services.monday(dt.date.today()) + dt.timedelta(weeks=8)
    published = v1_demand_publications_create.sync(
        client=oem,
        body=PublishDemandRequest(
            partnership=pk,
            rows=[
                DemandRowRequest(product=f"PCB-{n}", week=week.isoformat(), quantity=100 * (n + 1))
                for n in range(3)
            ],
        ),
    )
    assert isinstance(published, DemandPublicationDetail)
    assert published.version == 1 and published.lines_count == 3

    # Production runs pushed in bulk, then pulled incrementally through the keyset cursor.
    runs = v1_production_runs_bulk_upsert_create.sync(
        client=oem,
        body=RunBulkUpsertRequest(
            partnership=pk,
            items=[
                RunUpsertItemRequest(
                    external_id=f"PO-{n}",
                    product_external_id=f"MAT-{n % 3}",
                    quantity=250,
                    planned_launch=week,
                    due_date=week + dt.timedelta(days=4),
                )
                for n in range(5)
            ],
        ),
    )
    assert runs.created == 5
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    pulled, cursor, marker = [], None, None
    for _page in range(10):
        kwargs = {"cursor": cursor} if cursor else {}
        page = v1_production_runs_list.sync(client=ems, updated_since=since, page_size=2, **kwargs)
        assert isinstance(page, PaginatedProductionRunList)
        pulled += [run.external_id for run in page.results]
        marker = page.next_updated_since
        if not page.next_:
            break
        cursor = parse_qs(urlparse(page.next_).query)["cursor"][0]
    assert sorted(pulled) == [f"PO-{n}" for n in range(5)]
    assert isinstance(marker, dt.datetime)
    again = v1_production_runs_list.sync(client=ems, updated_since=marker)
    assert len(again.results) <= 5  # only the documented overlap window comes back

    # A decision request raised by the EMS, routed by the contract, listed for the OEM.
    raised = v1_decision_requests_create.sync(
        client=ems,
        body=DecisionRequestRequest(
            partnership=pk,
            title="Alternate capacitor for C12",
            category=CategoryEnum.COMPONENT_SUBSTITUTION,
            outside_avl=True,
        ),
    )
    assert isinstance(raised, DecisionRequest) and raised.status.value == "awaiting_oem"
    listed = v1_decision_requests_list.sync(client=oem)
    assert [d.id for d in listed.results] == [raised.id]

    # A problem created by upsert, then the same body again: one problem, unchanged.
    body = ProblemUpsertRequest(
        partnership=pk,
        title="Solder voids on U3",
        description="X-ray shows voids above 25%.",
        severity=ProblemSeverityEnum.HIGH,
    )
    created = v1_problems_by_external_id_update.sync_detailed("NCR-1", client=ems, body=body)
    assert created.status_code == 201 and isinstance(created.parsed, ProblemModel)
    assert created.parsed.external_id == "NCR-1" and created.parsed.number == 1
    repeated = v1_problems_by_external_id_update.sync_detailed("NCR-1", client=ems, body=body)
    assert repeated.status_code == 200 and repeated.parsed.id == created.parsed.id
    assert Problem.objects.filter(partnership=world.ours).count() == 1
