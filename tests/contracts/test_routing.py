"""The consult-vs-decide router (a pure function) and the rule-set validation that keeps it
monotone: a worse case never routes to a less restrictive outcome."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from contracts import routing, services, template_data
from contracts.models import (
    FLAG_CONDITIONS,
    NUMERIC_CONDITIONS,
    RESTRICTIVENESS,
    Category,
    DecisionMode,
    DecisionRule,
)

EMS, CONSULT, APPROVAL = (
    DecisionMode.EMS_DECIDES,
    DecisionMode.CONSULT_OEM,
    DecisionMode.OEM_APPROVAL,
)
NUMERIC_FACTS = [fact for _field, fact, _label in NUMERIC_CONDITIONS]
FLAG_FACTS = [fact for _field, fact, _label in FLAG_CONDITIONS]
NO_FACTS = {**dict.fromkeys(NUMERIC_FACTS), **dict.fromkeys(FLAG_FACTS, False)}


def template_rules(exclude=()):
    """The template's rules as unsaved, cleaned objects; pk mimics creation order."""
    rules = []
    for n, data in enumerate(template_data.RULES, start=1):
        if data["clause_ref"] in exclude:
            continue
        rule = DecisionRule(position=n * 10, **data)
        rule.clean_fields(exclude=["contract"])  # "3" → Decimal("3"), as the database returns it
        rule.pk = rule.id = n
        rules.append(rule)
    return rules


def route(rules, category, default=CONSULT, default_hours=72, **facts):
    return routing.route(
        rules,
        category=category,
        facts={**NO_FACTS, **facts},
        default_mode=default,
        default_hours=default_hours,
    )


# --- The template rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "mode", "clause", "hours"),
    [
        (Category.COMPONENT_SUBSTITUTION, CONSULT, "7.1", 72),
        (Category.ALTERNATE_SOURCE, EMS, "7.4", 72),
        (Category.ENGINEERING_CHANGE, APPROVAL, "8.1", 120),
        (Category.PROCESS_CHANGE, CONSULT, "8.3", 72),
        (Category.TEST_SCOPE_CHANGE, APPROVAL, "9.2", 72),
        (Category.DEVIATION, APPROVAL, "9.4", 24),
        (Category.PRICE_CHANGE, CONSULT, "5.2", 120),
        (Category.SCHEDULE_CHANGE, EMS, "4.5", 24),
        (Category.EXCESS_OBSOLETE, CONSULT, "6.2", 240),
        (Category.SUBCONTRACTING, APPROVAL, "10.1", 120),
    ],
)
def test_each_category_has_its_baseline(category, mode, clause, hours):
    result = route(template_rules(), category)

    assert (result.mode, result.rule.clause_ref, result.response_hours) == (mode, clause, hours)
    assert result.explanation.startswith(f"Rule {clause} applies: ")
    assert result.matched == [result.rule]


def test_every_category_is_covered_by_the_template():
    assert {r["category"] for r in template_data.RULES} == set(Category.values)
    services.validate_rules(template_rules(), CONSULT)  # and the template is consistent


@pytest.mark.parametrize(
    ("category", "facts", "mode", "clause"),
    [
        (Category.PRICE_CHANGE, {"price_change_pct": Decimal("2.99")}, CONSULT, "5.2"),
        (Category.PRICE_CHANGE, {"price_change_pct": Decimal("3")}, APPROVAL, "5.3"),
        (Category.PRICE_CHANGE, {"price_change_pct": Decimal("3.00")}, APPROVAL, "5.3"),
        (Category.SCHEDULE_CHANGE, {"delay_days": 2}, EMS, "4.5"),
        (Category.SCHEDULE_CHANGE, {"delay_days": 3}, CONSULT, "4.6"),
        (Category.SCHEDULE_CHANGE, {"delay_days": 9}, CONSULT, "4.6"),
        (Category.SCHEDULE_CHANGE, {"delay_days": 10}, APPROVAL, "4.7"),
        (Category.EXCESS_OBSOLETE, {"cost_impact": Decimal("4999.99")}, CONSULT, "6.2"),
        (Category.EXCESS_OBSOLETE, {"cost_impact": Decimal("5000")}, APPROVAL, "6.3"),
        # Plain numbers (a form or the API may hand over int/float) compare the same way.
        (Category.EXCESS_OBSOLETE, {"cost_impact": 5000}, APPROVAL, "6.3"),
        (Category.PRICE_CHANGE, {"price_change_pct": 2.999}, CONSULT, "5.2"),
    ],
)
def test_thresholds_apply_at_the_value_and_not_just_below(category, facts, mode, clause):
    result = route(template_rules(), category, **facts)

    assert (result.mode, result.rule.clause_ref) == (mode, clause)


def test_a_missing_numeric_fact_never_meets_a_threshold():
    result = route(template_rules(), Category.SCHEDULE_CHANGE, delay_days=None)

    assert result.rule.clause_ref == "4.5"


@pytest.mark.parametrize(
    ("category", "flag", "clause"),
    [
        (Category.COMPONENT_SUBSTITUTION, "outside_avl", "7.2"),
        (Category.COMPONENT_SUBSTITUTION, "safety_critical", "7.3"),
        (Category.ALTERNATE_SOURCE, "outside_avl", "7.5"),
        (Category.PROCESS_CHANGE, "fff_impact", "8.4"),
        (Category.PROCESS_CHANGE, "ipc_class3", "8.5"),
    ],
)
def test_a_required_flag_escalates_to_approval(category, flag, clause):
    assert route(template_rules(), category, **{flag: False}).mode != APPROVAL

    result = route(template_rules(), category, **{flag: True})

    assert (result.mode, result.rule.clause_ref) == (APPROVAL, clause)


def test_a_flag_of_another_category_changes_nothing():
    result = route(
        template_rules(), Category.SCHEDULE_CHANGE, outside_avl=True, safety_critical=True
    )

    assert (result.mode, result.rule.clause_ref) == (EMS, "4.5")


def test_the_most_restrictive_matching_rule_wins():
    result = route(template_rules(), Category.SCHEDULE_CHANGE, delay_days=12)

    assert [r.clause_ref for r in result.matched] == ["4.5", "4.6", "4.7"]
    assert (result.mode, result.rule.clause_ref, result.response_hours) == (APPROVAL, "4.7", 24)
    assert "Rule 4.7 applies" in result.explanation
    assert "2 other matching rule(s)" in result.explanation


def test_equally_restrictive_and_specific_rules_prefer_the_shorter_response_time():
    result = route(
        template_rules(), Category.COMPONENT_SUBSTITUTION, outside_avl=True, safety_critical=True
    )

    assert (result.rule.clause_ref, result.response_hours) == ("7.3", 24)


def test_full_tie_goes_to_the_earlier_rule():
    result = route(template_rules(), Category.PROCESS_CHANGE, fff_impact=True, ipc_class3=True)

    assert result.rule.clause_ref == "8.4"  # same mode, specificity and hours as 8.5


def test_equally_restrictive_rules_prefer_the_more_specific():
    broad = DecisionRule(
        pk=1,
        category=Category.DEVIATION,
        outcome=APPROVAL,
        response_hours=24,
        if_outside_avl=True,
        clause_ref="A",
    )
    specific = DecisionRule(
        pk=2,
        category=Category.DEVIATION,
        outcome=APPROVAL,
        response_hours=96,
        if_outside_avl=True,
        if_safety_critical=True,
        clause_ref="B",
    )

    both = route([broad, specific], Category.DEVIATION, outside_avl=True, safety_critical=True)
    only_broad = route([broad, specific], Category.DEVIATION, outside_avl=True)

    assert (both.rule.clause_ref, both.response_hours) == ("B", 96)
    assert only_broad.rule.clause_ref == "A"


def test_more_restrictive_beats_more_specific():
    specific = DecisionRule(
        pk=1,
        category=Category.DEVIATION,
        outcome=CONSULT,
        response_hours=24,
        min_quantity=10,
        if_outside_avl=True,
        if_fff_impact=True,
        clause_ref="S",
    )
    strict = DecisionRule(
        pk=2,
        category=Category.DEVIATION,
        outcome=APPROVAL,
        response_hours=24,
        min_quantity=100,
        clause_ref="X",
    )

    result = route(
        [specific, strict], Category.DEVIATION, quantity=500, outside_avl=True, fff_impact=True
    )

    assert result.rule.clause_ref == "X"


@pytest.mark.parametrize("default", [EMS, CONSULT, APPROVAL])
def test_the_default_applies_when_no_rule_of_the_category_matches(default):
    # Without its baseline 4.5, schedule changes are only covered from a 3-day delay on.
    rules = template_rules(exclude={"4.5"})

    result = route(rules, Category.SCHEDULE_CHANGE, default=default, default_hours=36, delay_days=2)

    assert result.rule is None and result.matched == []
    assert (result.mode, result.response_hours, result.silence_is_consent) == (default, 36, False)
    assert "default applies" in result.explanation
    assert str(DecisionMode(default).label) in result.explanation
    # Rules of other categories never stand in for the missing one.
    assert route(rules, Category.SCHEDULE_CHANGE, delay_days=3).rule.clause_ref == "4.6"


def test_no_rules_at_all_means_the_default():
    result = route([], Category.SUBCONTRACTING, default=APPROVAL, default_hours=5)

    assert (result.mode, result.rule, result.response_hours) == (APPROVAL, None, 5)


def test_silence_is_consent_comes_from_the_winning_rule():
    baseline = route(template_rules(), Category.PROCESS_CHANGE)
    with_fff = route(template_rules(), Category.PROCESS_CHANGE, fff_impact=True)

    assert (baseline.rule.clause_ref, baseline.silence_is_consent) == ("8.3", True)
    assert (with_fff.rule.clause_ref, with_fff.silence_is_consent) == ("8.4", False)


def test_silence_never_counts_when_the_ems_decides():
    rule = DecisionRule(
        category=Category.SCHEDULE_CHANGE, outcome=EMS, silence_is_consent=True, clause_ref="Z"
    )

    assert route([rule], Category.SCHEDULE_CHANGE).silence_is_consent is False


def test_explanation_names_the_clause_and_describes_the_rule():
    result = route(template_rules(), Category.COMPONENT_SUBSTITUTION, outside_avl=True)

    assert result.explanation.startswith(
        "Rule 7.2 applies: Component substitution, when it involves"
    )
    assert "a part outside the approved vendor list" in result.explanation
    assert "the OEM must approve in writing within 48 h" in result.explanation
    assert "1 other matching rule(s)" in result.explanation


def test_explanation_of_a_numeric_threshold_shows_the_value():
    result = route(template_rules(), Category.EXCESS_OBSOLETE, cost_impact=Decimal("7000"))

    assert "cost impact of at least 5000 EUR" in result.explanation


def test_explanation_of_a_rule_without_clause_uses_its_number():
    rule = DecisionRule(pk=42, category=Category.DEVIATION, outcome=APPROVAL, response_hours=8)

    assert route([rule], Category.DEVIATION).explanation.startswith("Rule #42 applies: ")


@pytest.mark.django_db
def test_saved_template_rules_route_like_the_template(world):
    contract = services.create_draft(by=world.buyer, partnership=world.ours)

    for category, facts, clause in [
        (Category.PRICE_CHANGE, {"price_change_pct": Decimal("3")}, "5.3"),
        (Category.SCHEDULE_CHANGE, {"delay_days": 10}, "4.7"),
        (Category.COMPONENT_SUBSTITUTION, {"outside_avl": True, "safety_critical": True}, "7.3"),
        (Category.PROCESS_CHANGE, {"fff_impact": True, "ipc_class3": True}, "8.4"),
    ]:
        result = services.route_facts(contract, category, {**NO_FACTS, **facts})
        assert result.rule.clause_ref == clause


# --- Validation of rule sets ------------------------------------------------------------------


def test_validate_rules_names_a_conditional_rule_less_restrictive_than_the_baseline():
    rules = [
        *template_rules(),
        DecisionRule(
            category=Category.ENGINEERING_CHANGE,
            outcome=CONSULT,
            min_cost_impact=100,
            clause_ref="8.9",
        ),
    ]

    with pytest.raises(ValidationError) as exc:
        services.validate_rules(rules, CONSULT)

    [message] = exc.value.messages
    assert "8.9" in message and "less restricted" in message


@pytest.mark.parametrize(
    "field", ["min_cost_impact", "min_price_change_pct", "min_delay_days", "min_quantity"]
)
def test_a_zero_threshold_is_a_condition(field):
    """ "cost impact ≥ 0" only matches a case whose cost impact is known, so it is conditional:
    it may not relax the baseline, and it counts towards specificity."""
    fact = next(fact for f, fact, _l in NUMERIC_CONDITIONS if f == field)
    zero = DecisionRule(
        pk=1, category=Category.SUBCONTRACTING, outcome=EMS, clause_ref="Z", **{field: 0}
    )
    # Unknown fact → default; known fact (a worse case) → the zero-threshold rule.
    assert route([zero], Category.SUBCONTRACTING, default=CONSULT).mode == CONSULT
    assert route([zero], Category.SUBCONTRACTING, default=CONSULT, **{fact: 1}).mode == EMS

    with pytest.raises(ValidationError, match="Rule Z would make a worse case less restricted"):
        services.validate_rules([zero], CONSULT)

    always = DecisionRule(
        pk=2, category=Category.SUBCONTRACTING, outcome=APPROVAL, response_hours=9, clause_ref="A"
    )
    specific = DecisionRule(
        pk=3,
        category=Category.SUBCONTRACTING,
        outcome=APPROVAL,
        response_hours=99,
        clause_ref="S",
        **{field: 0},
    )
    services.validate_rules([always, specific], CONSULT)
    assert route([always, specific], Category.SUBCONTRACTING, **{fact: 1}).rule.clause_ref == "S"


def test_without_an_unconditional_rule_the_default_is_the_baseline():
    conditional = DecisionRule(
        category=Category.SUBCONTRACTING, outcome=CONSULT, min_quantity=10, clause_ref="S"
    )

    services.validate_rules([conditional], EMS)
    services.validate_rules([conditional], CONSULT)
    with pytest.raises(ValidationError, match="less restricted"):
        services.validate_rules([conditional], APPROVAL)


def test_validate_rules_rejects_same_conditions_with_different_outcomes():
    a = DecisionRule(
        category=Category.DEVIATION, outcome=APPROVAL, response_hours=24, clause_ref="A"
    )
    b = DecisionRule(
        category=Category.DEVIATION, outcome=APPROVAL, response_hours=48, clause_ref="B"
    )

    with pytest.raises(ValidationError, match="Rules A and B have the same category"):
        services.validate_rules([a, b], CONSULT)


def test_validate_rules_rejects_silence_when_the_ems_decides():
    rule = DecisionRule(
        category=Category.SCHEDULE_CHANGE, outcome=EMS, silence_is_consent=True, clause_ref="Q"
    )

    with pytest.raises(ValidationError, match="Rule Q: silence as consent needs someone to ask"):
        services.validate_rules([rule], EMS)


# --- Properties -------------------------------------------------------------------------------

# Few categories and few threshold values, so rules collide and match often.
CATEGORIES = [Category.COMPONENT_SUBSTITUTION, Category.SCHEDULE_CHANGE, Category.PRICE_CHANGE]
MODES = [EMS, CONSULT, APPROVAL]
THRESHOLDS_SET = st.one_of(st.just(0), st.integers(min_value=0, max_value=20))
FACT_VALUES = st.one_of(st.none(), st.integers(min_value=0, max_value=25))


def is_set(value):
    """A condition is set when it is not None/False. Careful: 0 == False, yet "≥ 0" is set."""
    return value is not None and value is not False


def _threshold(field, value):
    decimal_field = field in ("min_cost_impact", "min_price_change_pct")
    return Decimal(value) if decimal_field and value is not None else value


@st.composite
def conditions(draw, at_least_one=False):
    """Like real rules: one or two conditions (thresholds at or near 0 included)."""
    fields = draw(
        st.lists(
            st.sampled_from(DecisionRule.CONDITION_FIELDS),
            unique=True,
            min_size=1 if at_least_one else 0,
            max_size=2,
        )
    )
    result = {f: (False if f.startswith("if_") else None) for f in DecisionRule.CONDITION_FIELDS}
    for f in fields:
        result[f] = True if f.startswith("if_") else _threshold(f, draw(THRESHOLDS_SET))
    return result


@st.composite
def rule_sets(draw):
    """Random rules per category: maybe an unconditional baseline, and some conditional rules.
    About a quarter of the sets are inconsistent; tests that need valid ones `assume` them."""
    rules = []
    for category in draw(st.lists(st.sampled_from(CATEGORIES), unique=True, max_size=3)):
        if draw(st.booleans()):
            rules.append((category, draw(st.sampled_from(MODES)), {}))
        for _ in range(draw(st.integers(0, 3))):
            mode = draw(st.sampled_from([EMS, EMS, CONSULT, CONSULT, APPROVAL, APPROVAL]))
            rules.append((category, mode, draw(conditions(at_least_one=True))))
    built = []
    for n, (category, mode, conds) in enumerate(rules, start=1):
        built.append(
            DecisionRule(
                pk=draw(st.sampled_from([None, n])),
                category=category,
                outcome=mode,
                response_hours=draw(st.sampled_from([24, 48, 72])),
                silence_is_consent=mode != EMS and draw(st.booleans()),
                clause_ref=f"R{n}",
                **conds,
            )
        )
    return built


@st.composite
def facts(draw):
    return {
        **{fact: draw(FACT_VALUES) for fact in NUMERIC_FACTS},
        **{fact: draw(st.sampled_from([False, False, True])) for fact in FLAG_FACTS},
    }


@st.composite
def worse(draw, base):
    """The same case with one or more facts made worse: numbers raised (or newly known),
    flags switched on. (Several at once is a chain of single steps, and finds more.)"""
    changed = dict(base)
    facts_to_worsen = draw(
        st.lists(st.sampled_from(NUMERIC_FACTS + FLAG_FACTS), min_size=1, unique=True)
    )
    for fact in facts_to_worsen:
        if fact in FLAG_FACTS:
            changed[fact] = True
        elif base[fact] is None:
            changed[fact] = draw(st.integers(0, 25))
        else:
            changed[fact] = base[fact] + draw(st.integers(0, 15))
    return changed


def valid(rules, default):
    try:
        services.validate_rules(rules, default)
    except ValidationError:
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(
    rules=rule_sets(),
    default=st.sampled_from(MODES),
    category=st.sampled_from(CATEGORIES),
    data=st.data(),
)
def test_a_worse_case_is_never_routed_to_a_less_restrictive_outcome(rules, default, category, data):
    assume(valid(rules, default))
    if rules:  # mostly a category the rules talk about
        category = data.draw(st.sampled_from([category, *(r.category for r in rules)]))
    base = data.draw(facts(), label="facts")
    worse_facts = data.draw(worse(base), label="worse facts")

    before = routing.route(
        rules, category=category, facts=base, default_mode=default, default_hours=72
    )
    after = routing.route(
        rules, category=category, facts=worse_facts, default_mode=default, default_hours=72
    )

    assert RESTRICTIVENESS[after.mode] >= RESTRICTIVENESS[before.mode]
    # A worse case matches every rule the milder one matched (conditions are lower bounds).
    assert {id(r) for r in before.matched} <= {id(r) for r in after.matched}


@settings(max_examples=200, deadline=None)
@given(
    rules=rule_sets(),
    default=st.sampled_from(MODES),
    category=st.sampled_from(CATEGORIES),
    case=facts(),
)
def test_routing_picks_the_strictest_matching_rule_or_the_default(rules, default, category, case):
    result = routing.route(
        rules, category=category, facts=case, default_mode=default, default_hours=72
    )

    matching = [r for r in rules if routing.rule_matches(r, category, case)]
    if matching:
        assert result.mode == max((r.outcome for r in matching), key=RESTRICTIVENESS.__getitem__)
        assert result.rule in matching and result.response_hours == result.rule.response_hours
        assert f"Rule {result.rule.clause_ref} applies" in result.explanation
    else:
        assert (result.mode, result.rule, result.response_hours) == (default, None, 72)


@settings(max_examples=200, deadline=None)
@given(
    rules=rule_sets(),
    default=st.sampled_from(MODES),
    category=st.sampled_from(CATEGORIES),
    case=facts(),
)
def test_a_valid_rule_set_never_routes_below_the_categorys_baseline(rules, default, category, case):
    assume(valid(rules, default))

    result = routing.route(
        rules, category=category, facts=case, default_mode=default, default_hours=72
    )

    assert (
        RESTRICTIVENESS[result.mode] >= RESTRICTIVENESS[expected_baseline(rules, category, default)]
    )


def expected_baseline(rules, category, default):
    """Independent of services.baseline_mode: the strictest unconditional rule, else the default."""
    unconditional = [
        RESTRICTIVENESS[r.outcome]
        for r in rules
        if r.category == category and not any(is_set(v) for v in r.conditions())
    ]
    if not unconditional:
        return default
    return next(m for m in MODES if RESTRICTIVENESS[m] == max(unconditional))


@settings(max_examples=200, deadline=None)
@given(
    rules=rule_sets(),
    default=st.sampled_from(MODES),
    category=st.sampled_from(CATEGORIES),
    conds=conditions(at_least_one=True),
    data=st.data(),
)
def test_validate_rules_rejects_a_conditional_rule_below_the_baseline(
    rules, default, category, conds, data
):
    base = expected_baseline(rules, category, default)
    weaker = [m for m in MODES if RESTRICTIVENESS[m] < RESTRICTIVENESS[base]]
    assume(weaker)
    outcome = data.draw(st.sampled_from(weaker), label="outcome")
    offender = DecisionRule(category=category, outcome=outcome, clause_ref="OFFENDER", **conds)

    for position in (0, len(rules)):  # wherever it sits in the list
        candidate = [*rules[:position], offender, *rules[position:]]
        with pytest.raises(ValidationError) as exc:
            services.validate_rules(candidate, default)
        assert any("OFFENDER" in m and "less restricted" in m for m in exc.value.messages)
