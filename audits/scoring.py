"""Audit scoring: a pure function of the template's questions and the answers.

Process-audit scheme (as published for VDA 6.3-style audits): questions score 0, 4, 6, 8 or
10; compliance = points ÷ possible points of the answered questions, per element (section)
and overall. A ≥ 90 %, B ≥ 80 %, C below. Downgrades: A becomes B when any element is under
80 %, a starred question scores 4 or any question scores 0; any grade becomes C when an
element is under 70 % or a starred question scores 0. Fewer than two thirds of the questions
answered: no grade. The percentage scheme uses the same bands without the downgrade rules.
"""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

A_FROM, B_FROM = Decimal(90), Decimal(80)
ELEMENT_B, ELEMENT_C = Decimal(80), Decimal(70)


@dataclass
class SectionScore:
    code: str
    title: str
    points: int
    possible: int
    answered: int
    total: int

    @property
    def pct(self) -> Decimal | None:
        return _pct(self.points, self.possible)


@dataclass
class Score:
    pct: Decimal | None
    grade: str  # "A", "B", "C" or "" (no grade)
    reasons: list[str] = field(default_factory=list)
    sections: list[SectionScore] = field(default_factory=list)
    answered: int = 0
    total: int = 0


def _pct(points, possible) -> Decimal | None:
    if not possible:
        return None
    return (Decimal(points) * 100 / Decimal(possible)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )


def score(sections, answers: dict, *, scheme: str, max_points: int = 10) -> Score:
    """``sections``: [(code, title, [(question_id, code, starred), …]), …];
    ``answers``: {question_id: points or None}."""
    result_sections, reasons = [], []
    points = possible = answered = total = 0
    starred_scores, all_scores = [], []
    for code, title, questions in sections:
        s_points = s_possible = s_answered = 0
        for qid, qcode, starred in questions:
            value = answers.get(qid)
            if value is None:
                continue
            s_points += value
            s_possible += max_points
            s_answered += 1
            all_scores.append((qcode, value))
            if starred:
                starred_scores.append((qcode, value))
        result_sections.append(
            SectionScore(code, title, s_points, s_possible, s_answered, len(questions))
        )
        points, possible, answered, total = (
            points + s_points,
            possible + s_possible,
            answered + s_answered,
            total + len(questions),
        )
    pct = _pct(points, possible)
    result = Score(
        pct=pct, grade="", reasons=reasons, sections=result_sections, answered=answered, total=total
    )
    if total == 0 or answered * 3 < total * 2:
        reasons.append(
            f"Only {answered} of {total} questions answered; at least two thirds are needed for a grade."
        )
        return result
    grade = "A" if pct >= A_FROM else "B" if pct >= B_FROM else "C"
    if scheme != "process_audit":
        result.grade = grade
        return result
    element_pcts = [(s.code, s.pct) for s in result_sections if s.pct is not None]
    to_c = [f"element {c} at {p}% is under 70%" for c, p in element_pcts if p < ELEMENT_C]
    to_c += [f"starred question {q} scored 0" for q, v in starred_scores if v == 0]
    if to_c and grade != "C":
        reasons += [f"Downgraded to C: {r}." for r in to_c]
        grade = "C"
    elif grade == "A":
        to_b = [f"element {c} at {p}% is under 80%" for c, p in element_pcts if p < ELEMENT_B]
        to_b += [f"starred question {q} scored 4" for q, v in starred_scores if v == 4]
        to_b += [f"question {q} scored 0" for q, v in all_scores if v == 0]
        if to_b:
            reasons += [f"Downgraded to B: {r}." for r in to_b]
            grade = "B"
    result.grade = grade
    return result
