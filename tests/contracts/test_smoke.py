import pytest

from contracts import services
from contracts.models import DecisionMode, DecisionRequest

pytestmark = pytest.mark.django_db


def test_template_contract_activates_and_routes(world, active_contract):
    request = services.raise_decision_request(
        by=world.account_manager, partnership=world.ours, title="Replace C12 with a Murata part",
        category="component_substitution", outside_avl=True,
    )
    assert request.mode == DecisionMode.OEM_APPROVAL and request.status == DecisionRequest.Status.AWAITING_OEM
    assert request.rule.clause_ref == "7.2"
