"""The decision rules of a draft (consult-vs-decide) and routing by them. A rule's change is a
``contract`` event whose ``data`` carries the ``rule``; an edit lists the rule's changed fields
in ``changed``."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from partnership import events

from .. import routing
from ..models import RESTRICTIVENESS, Contract, DecisionMode, DecisionRule
from .access import require_editable
from .drafting import KIND, save_part


def baseline_mode(rules, category: str, default_mode: str) -> str:
    """What a case of this category gets with no aggravating fact: its unconditional rules, else the default."""
    unconditional = [
        r.outcome for r in rules if r.category == category and not routing.is_conditional(r)
    ]
    return max(unconditional, key=RESTRICTIVENESS.__getitem__) if unconditional else default_mode


def validate_rules(rules, default_mode: str) -> None:
    """Rules must be consistent: conditions only escalate, and no two rules with the same
    conditions disagree. Raises ValidationError naming the rule."""
    errors = []
    by_conditions = {}
    for rule in rules:
        label = rule.clause_ref or rule.get_category_display()
        key = (rule.category, rule.conditions())
        other = by_conditions.get(key)
        if other is not None and (
            other.outcome,
            other.response_hours,
            other.silence_is_consent,
        ) != (rule.outcome, rule.response_hours, rule.silence_is_consent):
            errors.append(
                _(
                    "Rules %(a)s and %(b)s have the same category and conditions but different outcomes."
                )
                % {"a": other.clause_ref or other.get_category_display(), "b": label}
            )
        by_conditions[key] = rule
        if routing.is_conditional(rule):
            base = baseline_mode(list(rules), rule.category, default_mode)
            if RESTRICTIVENESS[rule.outcome] < RESTRICTIVENESS[base]:
                errors.append(
                    _(
                        "Rule %(rule)s would make a worse case less restricted (%(outcome)s) than the "
                        "baseline for %(category)s (%(base)s). Conditions can only make a decision stricter."
                    )
                    % {
                        "rule": label,
                        "outcome": DecisionMode(rule.outcome).label,
                        "category": rule.get_category_display(),
                        "base": DecisionMode(base).label,
                    }
                )
        if rule.outcome == DecisionMode.EMS_DECIDES and rule.silence_is_consent:
            errors.append(
                _("Rule %(rule)s: silence as consent needs someone to ask.") % {"rule": label}
            )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def save_rule(*, by, contract: Contract, rule: DecisionRule) -> DecisionRule:
    """Add (``rule.pk`` None) or edit a rule; an edit that changes nothing is not saved."""
    require_editable(by, contract)
    stored = DecisionRule._base_manager.filter(pk=rule.pk).first() if rule.pk else None
    if (rule.contract_id and rule.contract_id != contract.pk) or (
        stored is not None and stored.contract_id != contract.pk
    ):
        raise PermissionDenied
    before = events.snapshot(stored) if stored is not None else None
    rule.contract = contract
    rule.full_clean()
    others = [r for r in contract.rules.all() if r.pk != rule.pk]
    validate_rules([*others, rule], contract.default_decision_mode)
    if not rule.position:
        rule.position = (contract.rules.aggregate(p=Max("position"))["p"] or 0) + 10
    return save_part(by, contract, rule, before, "rule", rule=rule)


@transaction.atomic
def delete_rule(*, by, rule: DecisionRule) -> None:
    contract = rule.contract
    require_editable(by, contract)
    remaining = [r for r in contract.rules.all() if r.pk != rule.pk]
    validate_rules(remaining, contract.default_decision_mode)
    rule_id = rule.pk
    rule.delete()
    events.emit(KIND, "rule_deleted", contract, by=by, rule=rule, rule_id=rule_id)


def route_facts(contract: Contract, category: str, facts: dict) -> routing.Routing:
    return routing.route(
        list(contract.rules.all()),
        category=category,
        facts=facts,
        default_mode=contract.default_decision_mode,
        default_hours=contract.default_response_hours,
    )
