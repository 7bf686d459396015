"""The audit report PDF: parties, audit data, score and grade with the reasons for a downgrade,
score per section (table and bar chart, OEM audit beside the EMS self-assessment), every
question with both sides' scores, and the findings with their 8D corrective actions.

Rendered by :func:`partnership.pdf.render_pdf` in the house style of the contract summary
(``static/css/pdf.css``). The context is read in a fixed number of queries, however many
questions, answers, findings and actions the audit has.
"""

import datetime as dt

from django.utils import timezone
from django.utils.translation import ngettext

from partnership.pdf import render_pdf

from . import charts, services
from .models import (
    EIGHT_D,
    Answer,
    Audit,
    AuditTemplate,
    CorrectiveAction,
    Evidence,
    Finding,
    TemplateSection,
)

TEMPLATE = "audits/pdf/report.html"

#: An audit in these states has no issued report: every page says so.
DRAFT_STATUSES = (Audit.Status.PLANNED, Audit.Status.IN_PROGRESS)

#: Bar colours by band (≥ 80 %, ≥ 70 %, below, not scored): solid for the OEM audit, a light
#: tint of the same colour for the EMS self-assessment.
BAR_FILLS = {
    "good": ("#1d7a4f", "#a9dcc0"),
    "fair": ("#c98a00", "#f3d593"),
    "poor": ("#a4262c", "#eeb4b7"),
    "none": ("#b8c2cd", "#dde3ea"),
}
#: "2 major · 1 minor · 3 observations" beside the findings heading.
FINDING_COUNT_LABELS = {
    Finding.Classification.MAJOR: lambda n: ngettext("%(n)d major", "%(n)d major", n) % {"n": n},
    Finding.Classification.MINOR: lambda n: ngettext("%(n)d minor", "%(n)d minor", n) % {"n": n},
    Finding.Classification.OBSERVATION: lambda n: (
        ngettext("%(n)d observation", "%(n)d observations", n) % {"n": n}
    ),
}
CHART_WIDTH = 640
CHART_LABEL_W = 46
CHART_AXIS_H = 16


def _band(pct) -> str:
    if pct is None:
        return "none"
    return "good" if pct >= 80 else "fair" if pct >= 70 else "poor"


def _sections(template_id):
    """The template's sections with their questions, in the order ``services.template_sections``
    uses for scoring: two queries."""
    return list(
        TemplateSection.objects.filter(template_id=template_id).prefetch_related("questions")
    )


def _chart(oem_score, ems_score, has_self_assessment: bool) -> dict:
    """Geometry of the section bar chart (inline SVG): ``charts.section_bars`` plus colours,
    the bar heights and an axis."""
    row_h = 30 if has_self_assessment else 22
    chart = charts.section_bars(
        oem_score, ems_score, width=CHART_WIDTH, row_h=row_h, label_w=CHART_LABEL_W
    )
    scale = (CHART_WIDTH - CHART_LABEL_W - 50) / 100
    bar_h = 11 if has_self_assessment else 14
    for row in chart["rows"]:
        oem_fill, _light = BAR_FILLS[_band(row["oem"])]
        _solid, ems_fill = BAR_FILLS[_band(row["ems"])]
        row.update(
            oem_fill=oem_fill,
            ems_fill=ems_fill,
            bar_h=bar_h,
            # The code sits level with the middle of its bar, or of its pair of bars.
            label_y=row["y"]
            + (2 * bar_h - 1 if has_self_assessment and row["ems"] is not None else bar_h) / 2
            + 3.6,
            oem_text_y=row["y"] + bar_h - 2.5,
            ems_y=row["y"] + bar_h + 2,
            ems_h=bar_h - 3,
            ems_text_y=row["y"] + 2 * bar_h - 3,
            oem_text_x=CHART_LABEL_W + row["oem_w"] + 4,
            ems_text_x=CHART_LABEL_W + row["ems_w"] + 4,
        )
    plot_bottom = chart["height"] - 4
    chart.update(
        show_ems=has_self_assessment,
        plot_top=4,
        plot_bottom=plot_bottom,
        svg_height=chart["height"] + CHART_AXIS_H,
        tick_y=plot_bottom + 11,
        ticks=[{"x": CHART_LABEL_W + v * scale, "label": v} for v in (0, 20, 40, 60, 80, 100)],
    )
    return chart


def _steps(action: CorrectiveAction) -> list[dict]:
    rows = []
    for n, label in EIGHT_D:
        step = action.step(n)
        done_at = step.get("done_at")
        rows.append(
            {
                "n": n,
                "label": label,
                "done": bool(done_at),
                "text": step.get("text", ""),
                "by": step.get("done_by_name", ""),
                "at": dt.datetime.fromisoformat(done_at) if done_at else None,
            }
        )
    return rows


def audit_report_context(audit: Audit) -> dict:
    """Everything the report template shows, read in seven queries."""
    audit = (
        Audit.objects.select_related(
            "partnership__oem", "partnership__ems", "template", "lead_auditor"
        )
        .prefetch_related("team")
        .get(pk=audit.pk)
    )
    template = audit.template
    sections = _sections(template.pk)
    answers = {(a.question_id, a.side): a for a in Answer.objects.filter(audit=audit)}
    evidence: dict = {}
    for item in Evidence.objects.filter(audit=audit).order_by("uploaded_at", "pk"):
        evidence.setdefault(item.question_id, []).append(item)
    findings = list(
        Finding.objects.filter(audit=audit)
        .select_related("action__owner", "action__verified_by")
        .order_by("number")
    )

    oem_score = services.score_of(sections, answers, template, Answer.Side.OEM)
    ems_score = services.score_of(sections, answers, template, Answer.Side.EMS)
    has_self_assessment = ems_score.answered > 0
    ems_by_code = {s.code: s for s in ems_score.sections}

    section_rows = []
    for section, s_score in zip(sections, oem_score.sections, strict=True):
        e_score = ems_by_code.get(section.code)
        section_rows.append(
            {
                "section": section,
                "score": s_score,
                "band": _band(s_score.pct),
                "ems": e_score,
                "ems_band": _band(e_score.pct if e_score else None),
                "questions": [
                    {
                        "question": q,
                        "oem": answers.get((q.pk, Answer.Side.OEM)),
                        "ems": answers.get((q.pk, Answer.Side.EMS)),
                        "evidence": evidence.get(q.pk, []),
                    }
                    for q in section.questions.all()
                ],
            }
        )

    finding_rows = []
    for finding in findings:
        action = getattr(finding, "action", None)  # select_related: no query, None if absent
        steps = _steps(action) if action else []
        finding_rows.append(
            {
                "finding": finding,
                "action": action,
                "steps": steps,
                "steps_done": sum(1 for step in steps if step["done"]),
            }
        )

    partnership = audit.partnership
    return {
        "audit": audit,
        "template": template,
        "partnership": partnership,
        "oem": partnership.oem,
        "ems": partnership.ems,
        "team": list(audit.team.all()),
        "draft": audit.status in DRAFT_STATUSES,
        "oem_score": oem_score,
        "ems_score": ems_score,
        "grade_band": {"A": "good", "B": "fair", "C": "poor"}.get(oem_score.grade, "none"),
        "ems_grade_band": {"A": "good", "B": "fair", "C": "poor"}.get(ems_score.grade, "none"),
        "has_self_assessment": has_self_assessment,
        "show_recommendation": bool(audit.recommendation)
        or audit.kind == Audit.Kind.PRELIMINARY
        or template.kind == AuditTemplate.Kind.PRELIMINARY,
        "sections": section_rows,
        "chart": _chart(oem_score, ems_score, has_self_assessment),
        "starred_count": sum(1 for s in sections for q in s.questions.all() if q.starred),
        "general_evidence": evidence.get(None, []),
        "findings": finding_rows,
        "findings_count_text": " · ".join(
            FINDING_COUNT_LABELS[value](n)
            for value in Finding.Classification.values
            if (n := sum(1 for f in findings if f.classification == value))
        ),
        "max_points": max(template.scale or [10]),
        "generated_at": timezone.now(),
    }


def render_audit_pdf(audit: Audit) -> bytes:
    """The audit report as PDF bytes."""
    return render_pdf(TEMPLATE, audit_report_context(audit))
