"""Demo contracts and decision requests, built through the services like a user would."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from partnership.models import Partnership, User

from . import services


def _user(email):
    return User.objects.get(email=email)


def load() -> None:
    nordwind_baltic = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
    aurora_baltic = Partnership.objects.get(oem__slug="aurora", ems__slug="baltic")
    if not nordwind_baltic.contracts.exists():
        buyer, am = _user("buyer@nordwind.example"), _user("account.manager@baltic.example")
        contract = services.create_draft(by=buyer, partnership=nordwind_baltic)
        services.update_terms(
            by=buyer,
            contract=contract,
            effective_from=dt.date(2026, 1, 1),
            effective_until=dt.date(2028, 12, 31),
        )
        services.propose(by=buyer, contract=contract)
        services.sign(by=buyer, contract=contract)
        services.sign(by=am, contract=contract)
        planner = _user("planner@baltic.example")
        services.raise_decision_request(
            by=am,
            partnership=nordwind_baltic,
            title="Replace C47 (Murata GRM) with Samsung CL21 equivalent",
            category="component_substitution",
            outside_avl=True,
            quantity=12000,
            description="Murata lead time is 38 weeks; Samsung CL21B106KOQNNNE has identical ratings and footprint.",
        )
        services.raise_decision_request(
            by=planner,
            partnership=nordwind_baltic,
            title="Move reflow profile to nitrogen atmosphere on line 2",
            category="process_change",
            description="Reduces voiding under QFN thermal pads.",
        )
        late = services.raise_decision_request(
            by=planner,
            partnership=nordwind_baltic,
            title="MB-200 rev C batch 14 slips by 4 days",
            category="schedule_change",
            delay_days=4,
            quantity=500,
            description="Late delivery of the STM32 lot from the distributor.",
        )
        services.answer_decision_request(
            by=buyer,
            request=late,
            action="acknowledge",
            text="Understood; please keep the 1,000 pcs call-off on time.",
        )
        services.raise_decision_request(
            by=am,
            partnership=nordwind_baltic,
            title="Second source for 0402 resistors (Yageo → Vishay)",
            category="alternate_source",
            description="Vishay is on the AVL.",
        )
        price = services.raise_decision_request(
            by=am,
            partnership=nordwind_baltic,
            title="Copper surcharge on PSU-40 boards",
            category="price_change",
            price_change_pct=Decimal("4.5"),
            description="LME copper +18% since the last quotation.",
        )
        # One request already past its deadline, to show escalation.
        price.due_at = timezone.now() - dt.timedelta(hours=2)
        price.save(update_fields=["due_at"])
        services.escalate_overdue()
    if not aurora_baltic.contracts.exists():
        admin = _user("admin@aurora.example")
        draft = services.create_draft(by=admin, partnership=aurora_baltic)
        services.update_terms(
            by=admin, contract=draft, currency="USD", effective_from=dt.date(2027, 1, 1)
        )
