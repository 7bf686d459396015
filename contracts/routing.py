"""The consult-vs-decide router: a pure function of the rules, the category and the facts.

Rules are data. A rule matches when its category is the request's and every condition it sets
holds (numeric facts at or above the threshold, required flags set). The most restrictive
matching rule wins (ties: the most specific, then the shortest response time); when none
matches, the contract's default applies. Because conditions only escalate (see
``services.validate_rules``), a worse case never routes to a less restrictive outcome.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _

from .models import FLAG_CONDITIONS, NUMERIC_CONDITIONS, RESTRICTIVENESS, DecisionMode


@dataclass(frozen=True)
class Routing:
    mode: str
    rule: object | None
    response_hours: int
    silence_is_consent: bool
    explanation: str
    matched: list = field(default_factory=list)


def rule_matches(rule, category: str, facts: dict) -> bool:
    if rule.category != category:
        return False
    for rule_field, fact, _label in NUMERIC_CONDITIONS:
        threshold = getattr(rule, rule_field)
        if threshold is None:
            continue
        value = facts.get(fact)
        if value is None or Decimal(str(value)) < Decimal(str(threshold)):
            return False
    return all(
        facts.get(fact) for rule_field, fact, _label in FLAG_CONDITIONS if getattr(rule, rule_field)
    )


def is_set(condition) -> bool:
    """Whether a rule sets this condition. Not ``v not in (None, False)``: ``0 == False``, yet a
    threshold of 0 is a real condition (``rule_matches`` requires the fact to be known)."""
    return condition is not None and condition is not False


def is_conditional(rule) -> bool:
    return any(is_set(v) for v in rule.conditions())


def _specificity(rule) -> int:
    return sum(1 for v in rule.conditions() if is_set(v))


def route(rules, *, category: str, facts: dict, default_mode: str, default_hours: int) -> Routing:
    matched = [r for r in rules if rule_matches(r, category, facts)]
    if not matched:
        return Routing(
            mode=default_mode,
            rule=None,
            response_hours=default_hours,
            silence_is_consent=False,
            explanation=_("No rule covers this case, so the contract's default applies: %(mode)s.")
            % {"mode": DecisionMode(default_mode).label},
        )
    winner = max(
        matched,
        key=lambda r: (RESTRICTIVENESS[r.outcome], _specificity(r), -r.response_hours, -r.pk_or_0),
    )
    others = len(matched) - 1
    explanation = _("Rule %(ref)s applies: %(rule)s") % {
        "ref": winner.clause_ref or f"#{winner.pk_or_0}",
        "rule": winner.describe(),
    }
    if others:
        explanation += " " + (
            _("%(n)s other matching rule(s) are less restrictive or less specific.") % {"n": others}
        )
    return Routing(
        mode=winner.outcome,
        rule=winner,
        response_hours=winner.response_hours,
        silence_is_consent=winner.silence_is_consent and winner.outcome != DecisionMode.EMS_DECIDES,
        explanation=explanation,
        matched=matched,
    )
