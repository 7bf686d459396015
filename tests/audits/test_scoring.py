"""The scoring rules as a pure function: grade bands at their boundaries, the two-thirds rule,
the process-audit downgrades (with reasons that name what caused them) and monotonicity."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audits import scoring

PROCESS, PERCENT = "process_audit", "percent"
SCALE = [0, 4, 6, 8, 10]
RANK = {"A": 0, "B": 1, "C": 2}


def score(*elements, starred=(), scheme=PROCESS):
    """``elements``: (code, [points or None, …]); question n of element P6 is "P6.n"."""
    sections, answers = [], {}
    for code, points in elements:
        questions = []
        for n, value in enumerate(points, 1):
            qcode = f"{code}.{n}"
            questions.append((qcode, qcode, qcode in starred))
            if value is not None:
                answers[qcode] = value
        sections.append((code, f"Element {code}", questions))
    return scoring.score(sections, answers, scheme=scheme)


# --- Grade bands -------------------------------------------------------------------------------

BANDS = [
    # Single element, no zeros, no starred questions: only the band decides.
    pytest.param([10] * 5 + [8] * 5, "90.0", "A", id="90.0-is-A"),
    pytest.param([10] * 33 + [8] * 34, "89.9", "B", id="89.9-is-B"),  # 602 / 670
    pytest.param([8] * 10, "80.0", "B", id="80.0-is-B"),
    pytest.param([8] * 133 + [6], "79.9", "C", id="79.9-is-C"),  # 1070 / 1340
    pytest.param([10] * 10, "100.0", "A", id="100-is-A"),
]


@pytest.mark.parametrize("scheme", [PROCESS, PERCENT])
@pytest.mark.parametrize(("points", "pct", "grade"), BANDS)
def test_grade_bands_at_their_boundaries(points, pct, grade, scheme):
    result = score(("P6", points), scheme=scheme)

    assert (result.pct, result.grade, result.reasons) == (Decimal(pct), grade, [])
    assert (result.answered, result.total) == (len(points), len(points))


def test_percent_scheme_bands_with_a_zero_to_ten_scale():
    """The ISO-style checklist scores 0/5/10: 620 of 690 points is 89.9 %, a B."""
    result = score(("8", [10] * 62 + [0] * 7), scheme=PERCENT)
    assert (result.pct, result.grade) == (Decimal("89.9"), "B")


def test_sections_report_their_own_points_and_percentages():
    result = score(("P2", [10, 8, None]), ("P3", [None, None]), ("P6", [6, 6]))

    assert [
        (s.code, s.points, s.possible, s.answered, s.total, s.pct) for s in result.sections
    ] == [
        ("P2", 18, 20, 2, 3, Decimal("90.0")),
        ("P3", 0, 0, 0, 2, None),  # nothing answered: no percentage rather than 0 %
        ("P6", 12, 20, 2, 2, Decimal("60.0")),
    ]
    assert (result.answered, result.total, result.pct) == (4, 7, Decimal("75.0"))


def test_not_applicable_questions_are_left_out_of_the_possible_points():
    # 9 answered at 10, 1 not applicable: 100 %, not 90 %.
    result = score(("P6", [10] * 9 + [None]))
    assert (result.pct, result.grade, result.answered, result.total) == (Decimal(100), "A", 9, 10)


# --- Two thirds of the questions answered ------------------------------------------------------


@pytest.mark.parametrize("scheme", [PROCESS, PERCENT])
def test_exactly_two_thirds_answered_is_graded(scheme):
    result = score(("P5", [10, 10, 10]), ("P6", [10, 10, 10, None, None, None]), scheme=scheme)

    assert (result.answered, result.total) == (6, 9)
    assert (result.pct, result.grade, result.reasons) == (Decimal(100), "A", [])


@pytest.mark.parametrize("scheme", [PROCESS, PERCENT])
def test_one_answer_fewer_than_two_thirds_gives_no_grade_and_says_why(scheme):
    result = score(("P5", [10, 10, 10]), ("P6", [10, 10, None, None, None, None]), scheme=scheme)

    assert (result.answered, result.total, result.grade) == (5, 9, "")
    assert result.pct == Decimal(100)  # the percentage is still shown, the grade is not
    assert result.reasons == [
        "Only 5 of 9 questions answered; at least two thirds are needed for a grade."
    ]


def test_an_empty_checklist_gets_no_grade():
    result = scoring.score([], {}, scheme=PROCESS)
    assert (result.pct, result.grade, result.answered, result.total) == (None, "", 0, 0)
    assert result.reasons


def test_nothing_answered_gets_no_grade():
    result = score(("P6", [None] * 4))
    assert (result.pct, result.grade) == (None, "")
    assert result.reasons == [
        "Only 0 of 4 questions answered; at least two thirds are needed for a grade."
    ]


# --- Downgrades (process-audit scheme) ---------------------------------------------------------


def test_an_element_under_80_percent_drops_an_a_to_b():
    # P5: 36 × 8 + 6 = 294 of 370 = 79.5 %; overall 684 of 760 = 90.0 %.
    result = score(("P5", [8] * 36 + [6]), ("P6", [10] * 39))

    assert [s.pct for s in result.sections] == [Decimal("79.5"), Decimal(100)]
    assert (result.pct, result.grade) == (Decimal("90.0"), "B")
    assert result.reasons == ["Downgraded to B: element P5 at 79.5% is under 80%."]


def test_an_element_at_exactly_80_percent_keeps_the_a():
    result = score(("P5", [8] * 5), ("P6", [10] * 5))
    assert (result.pct, result.grade, result.reasons) == (Decimal("90.0"), "A", [])


def test_a_starred_question_scoring_4_drops_an_a_to_b():
    result = score(("P2", [4, 10, 10, 10, 10]), ("P6", [10] * 5), starred={"P2.1"})

    assert (result.pct, result.grade) == (Decimal("94.0"), "B")
    assert result.reasons == ["Downgraded to B: starred question P2.1 scored 4."]


def test_an_ordinary_question_scoring_4_keeps_the_a():
    result = score(("P2", [4, 10, 10, 10, 10]), ("P6", [10] * 5), starred={"P6.1"})
    assert (result.grade, result.reasons) == ("A", [])


def test_any_question_scoring_0_drops_an_a_to_b():
    result = score(("P6", [0] + [10] * 9), ("P7", [10] * 10))

    assert (result.pct, result.grade) == (Decimal("95.0"), "B")
    assert result.reasons == ["Downgraded to B: question P6.1 scored 0."]


def test_every_cause_of_a_downgrade_to_b_is_named():
    result = score(("P2", [4, 0] + [10] * 8), ("P6", [10] * 20), starred={"P2.1"})

    assert result.grade == "B"
    assert result.reasons == [
        "Downgraded to B: starred question P2.1 scored 4.",
        "Downgraded to B: question P2.2 scored 0.",
    ]


def test_an_element_under_70_percent_drops_an_a_to_c():
    result = score(("P3", [6, 6, 8]), ("P6", [10] * 7))

    assert (result.pct, result.grade) == (Decimal("90.0"), "C")
    assert result.reasons == ["Downgraded to C: element P3 at 66.7% is under 70%."]


def test_an_element_at_exactly_70_percent_drops_an_a_only_to_b():
    result = score(("P3", [6, 8]), ("P6", [10] * 4))

    assert (result.pct, result.grade) == (Decimal("90.0"), "B")
    assert result.reasons == ["Downgraded to B: element P3 at 70.0% is under 80%."]


def test_a_starred_question_scoring_0_drops_an_a_to_c():
    result = score(("P6", [0] + [10] * 9), ("P7", [10] * 10), starred={"P6.1"})

    assert (result.pct, result.grade) == (Decimal("95.0"), "C")
    assert result.reasons == ["Downgraded to C: starred question P6.1 scored 0."]


def test_an_element_under_70_percent_drops_a_b_to_c():
    result = score(("P3", [6, 6, 8]), ("P6", [10] * 3 + [8] * 4))

    assert (result.pct, result.grade) == (Decimal("82.0"), "C")
    assert result.reasons == ["Downgraded to C: element P3 at 66.7% is under 70%."]


def test_a_b_is_not_dropped_by_the_rules_that_only_demote_an_a():
    # A starred question at 4, element P5 at 72 % and a 0: only A → B rules.
    result = score(("P5", [4, 8, 8, 8, 8]), ("P6", [0] + [10] * 9), starred={"P5.1"})

    assert [s.pct for s in result.sections] == [Decimal("72.0"), Decimal("90.0")]
    assert (result.pct, result.grade, result.reasons) == (Decimal("84.0"), "B", [])


def test_a_c_stays_c_without_downgrade_reasons():
    result = score(("P6", [0] + [6] * 9), starred={"P6.1"})

    assert (result.pct, result.grade, result.reasons) == (Decimal("54.0"), "C", [])


def test_all_causes_of_a_downgrade_to_c_are_named():
    result = score(("P3", [6, 6, 8]), ("P6", [0] + [10] * 19), starred={"P6.1"})

    assert result.grade == "C"
    assert result.reasons == [
        "Downgraded to C: element P3 at 66.7% is under 70%.",
        "Downgraded to C: starred question P6.1 scored 0.",
    ]


@pytest.mark.parametrize(
    ("elements", "starred"),
    [
        pytest.param([("P5", [8] * 36 + [6]), ("P6", [10] * 39)], (), id="element-under-80"),
        pytest.param([("P2", [4] + [10] * 4), ("P6", [10] * 5)], {"P2.1"}, id="starred-4"),
        pytest.param([("P6", [0] + [10] * 9), ("P7", [10] * 10)], (), id="any-0"),
        pytest.param([("P3", [6, 6, 8]), ("P6", [10] * 7)], (), id="element-under-70"),
        pytest.param([("P6", [0] + [10] * 9), ("P7", [10] * 10)], {"P6.1"}, id="starred-0"),
    ],
)
def test_the_percent_scheme_has_no_downgrades(elements, starred):
    process = score(*elements, starred=starred, scheme=PROCESS)
    percent = score(*elements, starred=starred, scheme=PERCENT)

    assert process.grade in ("B", "C") and process.reasons
    assert (percent.pct, percent.grade, percent.reasons) == (process.pct, "A", [])


# --- Properties --------------------------------------------------------------------------------


@st.composite
def answer_sheets(draw):
    """A checklist, answers on the 0/4/6/8/10 scale (some not applicable), and one answered
    question with a score above 0 together with a lower score for it."""
    sections, answers = [], {}
    for s in range(draw(st.integers(1, 4))):
        questions = []
        for n in range(draw(st.integers(1, 6))):
            qid = f"P{s}.{n}"
            questions.append((qid, qid, draw(st.booleans())))
            answers[qid] = draw(st.sampled_from([None, *SCALE, *SCALE]))
        sections.append((f"P{s}", "", questions))
    lowerable = sorted(q for q, v in answers.items() if v)
    qid = draw(st.sampled_from(lowerable)) if lowerable else None
    lower = draw(st.sampled_from([v for v in SCALE if v < answers[qid]])) if qid else None
    return sections, answers, qid, lower


@given(answer_sheets(), st.sampled_from([PROCESS, PERCENT]))
def test_lowering_one_answer_never_improves_the_grade(sheet, scheme):
    sections, answers, qid, lower = sheet
    before = scoring.score(sections, answers, scheme=scheme)
    if qid is None:
        return
    after = scoring.score(sections, {**answers, qid: lower}, scheme=scheme)

    assert after.answered == before.answered
    assert after.pct <= before.pct
    if before.grade == "":
        assert after.grade == ""
    else:
        assert RANK[after.grade] >= RANK[before.grade], (before, after)


@given(answer_sheets())
def test_the_downgrade_rules_only_ever_lower_the_band(sheet):
    sections, answers, _qid, _lower = sheet
    process = scoring.score(sections, answers, scheme=PROCESS)
    percent = scoring.score(sections, answers, scheme=PERCENT)

    assert (process.pct, process.answered) == (percent.pct, percent.answered)
    assert (process.grade == "") == (percent.grade == "")
    if process.grade:
        assert RANK[process.grade] >= RANK[percent.grade]
        # Every downgrade is explained; an undowngraded grade has no reasons.
        assert bool(process.reasons) == (process.grade != percent.grade)
