"""Audits and their scoring: planning, starting, the two sides' answers, evidence, the
recommendation, the report and closing. Each write announces itself on the event path
(``partnership.events``, kind ``audit``); ``audits.subscribers`` tells people."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership import events
from partnership.models import Membership

from .. import scoring
from ..models import Answer, Audit, AuditTemplate, Evidence, Finding, TemplateQuestion
from .access import EMS, OEM, require_editor, require_ems_member, require_oem_auditor

MAX_EVIDENCE_BYTES = 15 * 1024 * 1024
EVIDENCE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".heic",
    ".pdf",
    ".mp4",
    ".txt",
    ".csv",
    ".xlsx",
    ".docx",
}
#: What the OEM's answers recompute on the audit.
SCORE_FIELDS = ("score_pct", "grade", "grade_reasons")


@transaction.atomic
def plan_audit(
    *,
    by,
    partnership,
    template: AuditTemplate,
    kind,
    title,
    planned_date,
    lead_auditor=None,
    team=(),
    response_days=14,
) -> Audit:
    require_oem_auditor(by, partnership)
    allowed = set(
        Membership.objects.filter(
            organization_id__in=[partnership.oem_id, partnership.ems_id]
        ).values_list("user_id", flat=True)
    )
    lead_auditor = lead_auditor or by
    if lead_auditor.pk not in allowed or any(u.pk not in allowed for u in team):
        raise ValidationError(
            {"team": _("Auditors must be members of either side of the partnership.")}
        )
    audit = Audit(
        partnership=partnership,
        template=template,
        kind=kind,
        title=title,
        planned_date=planned_date,
        lead_auditor=lead_auditor,
        response_days=response_days,
    )
    audit.full_clean()
    audit.save()
    audit.team.set(team)
    events.emit("audit", events.CREATED, audit, by=by)
    return audit


@transaction.atomic
def start_audit(*, by, audit: Audit) -> Audit:
    require_oem_auditor(by, audit.partnership)
    if audit.status != Audit.Status.PLANNED:
        raise ValidationError(_("Only a planned audit can start."))
    before = events.snapshot(audit, ["status", "actual_date"])
    audit.status = Audit.Status.IN_PROGRESS
    audit.actual_date = audit.actual_date or timezone.localdate()
    audit.save()
    events.emit("audit", "started", audit, by=by, changed=events.changed_fields(audit, before))
    return audit


def template_sections(template: AuditTemplate):
    """[(code, title, [(question_id, code, starred)…])…] with two queries."""
    sections = list(template.sections.prefetch_related("questions"))
    return [
        (s.code, s.title, [(q.pk, q.code, q.starred) for q in s.questions.all()]) for s in sections
    ]


def score_of(sections, answers: dict, template: AuditTemplate, side: str) -> scoring.Score:
    """``compute_score`` on rows a page has already read: ``sections`` with their questions
    prefetched, ``answers`` as {(question_id, side): Answer} — no query (#9)."""
    return scoring.score(
        [
            (s.code, s.title, [(q.pk, q.code, q.starred) for q in s.questions.all()])
            for s in sections
        ],
        {qid: a.score for (qid, a_side), a in answers.items() if a_side == side},
        scheme=template.scheme,
        max_points=max(template.scale or [10]),
    )


def compute_score(audit: Audit, side: str = Answer.Side.OEM) -> scoring.Score:
    answers = dict(audit.answers.filter(side=side).values_list("question_id", "score"))
    return scoring.score(
        template_sections(audit.template),
        answers,
        scheme=audit.template.scheme,
        max_points=max(audit.template.scale or [10]),
    )


def scoring_open(audit: Audit, side: str | None) -> bool:
    """Is ``side``'s column of the audit open for scores now? The OEM's while the audit is in
    progress, the EMS's self-assessment until the report is issued. (Who on that side may
    score: ``can_audit``/``can_act_for_ems``.)"""
    if side == OEM:
        return audit.status == Audit.Status.IN_PROGRESS
    if side == EMS:
        return audit.status in (Audit.Status.PLANNED, Audit.Status.IN_PROGRESS)
    return False


@transaction.atomic
def record_answer(
    *, by, audit: Audit, question: TemplateQuestion, score, notes: str = ""
) -> Answer:
    """The OEM scores its audit while it is in progress; the EMS self-assesses before it is issued.
    Nobody scores the other side's column, and the EMS never scores the OEM's.

    One call, one event (``audit.answered``): the audit's recomputed score fields in
    ``changed`` (none for the self-assessment, which only marks the audit updated for an
    incremental sync). The same score and notes again change nothing."""
    side, _m = require_editor(by, audit.partnership, _("Viewers cannot score."))
    if side == OEM:
        require_oem_auditor(by, audit.partnership)
        if not scoring_open(audit, OEM):
            raise ValidationError(_("Start the audit before scoring it."))
    else:
        require_ems_member(by, audit.partnership)
        if not scoring_open(audit, EMS):
            raise ValidationError(_("The self-assessment is closed once the report is issued."))
    if question.section.template_id != audit.template_id:
        raise ValidationError(
            {"question": _("This question is not part of the audit's checklist.")}
        )
    if score is not None and score not in audit.template.scale:
        raise ValidationError(
            {
                "score": _("Use one of the scores %(scale)s.")
                % {"scale": ", ".join(str(s) for s in audit.template.scale)}
            }
        )
    # The audit's row lock serialises answers to one audit: each score is computed from every
    # answer committed before it (two at once would each miss the other's).
    stored = Audit.objects.select_for_update().only(*SCORE_FIELDS).get(pk=audit.pk)
    current = Answer.objects.filter(audit=audit, question=question, side=side).first()
    if current is not None and (current.score, current.notes) == (score, notes):
        return current  # no change, no write, no event
    answer, _created = Answer.objects.update_or_create(
        audit=audit,
        question=question,
        side=side,
        defaults={"score": score, "notes": notes, "answered_by": by},
    )
    fields = {}
    if side == OEM:
        result = compute_score(audit)
        fields = {"score_pct": result.pct, "grade": result.grade, "grade_reasons": result.reasons}
    before = events.snapshot(stored, list(fields))
    for name, value in fields.items():
        setattr(stored, name, value)
    changed = events.changed_fields(stored, before)
    # Set-based, as before: the answer's own history row is the audit trail of a score; the
    # grade follows from the answers. The self-assessment only marks the audit updated, so
    # an incremental sync sees it again.
    now = timezone.now()
    Audit.objects.filter(pk=audit.pk).update(**fields, updated_at=now)
    for name, value in fields.items():
        setattr(audit, name, value)
    audit.updated_at = now
    events.emit(
        "audit",
        "answered",
        audit,
        by=by,
        changed=changed,
        question=question.pk,
        side=str(side),
        answer=answer.pk,
    )
    return answer


@transaction.atomic
def add_evidence(*, by, audit: Audit, upload, question=None, caption: str = "") -> Evidence:
    require_editor(by, audit.partnership, _("Viewers cannot add evidence."))
    name = upload.name.rsplit("/", 1)[-1][:200]
    if upload.size > MAX_EVIDENCE_BYTES:
        raise ValidationError({"file": _("The file is larger than 15 MB.")})
    if not any(name.lower().endswith(s) for s in EVIDENCE_SUFFIXES):
        raise ValidationError({"file": _("Photos, PDFs, videos and office files only.")})
    if question is not None and question.section.template_id != audit.template_id:
        raise ValidationError(
            {"question": _("This question is not part of the audit's checklist.")}
        )
    evidence = Evidence.objects.create(
        audit=audit,
        question=question,
        file=upload,
        name=name,
        caption=caption[:300],
        uploaded_by=by,
    )
    events.emit("audit", "evidence_added", audit, by=by, evidence=evidence.pk)
    return evidence


@transaction.atomic
def set_recommendation(*, by, audit: Audit, recommendation: str, reason: str) -> Audit:
    require_oem_auditor(by, audit.partnership)
    if recommendation not in Audit.Recommendation.values:
        raise ValidationError({"recommendation": _("Choose proceed or reject.")})
    if not reason.strip():
        raise ValidationError(
            {"recommendation_reason": _("Give the reasons for the recommendation.")}
        )
    before = events.snapshot(audit, ["recommendation", "recommendation_reason"])
    audit.recommendation, audit.recommendation_reason = recommendation, reason.strip()
    changed = events.changed_fields(audit, before)
    if not changed:
        return audit
    audit.save()
    events.emit("audit", events.CHANGED, audit, by=by, changed=changed)
    return audit


@transaction.atomic
def issue_report(*, by, audit: Audit, summary: str = "") -> Audit:
    require_oem_auditor(by, audit.partnership)
    if audit.status != Audit.Status.IN_PROGRESS:
        raise ValidationError(_("Only an audit in progress can issue its report."))
    before = events.snapshot(audit, ["status", "report_issued_at", "summary"])
    audit.status, audit.report_issued_at = Audit.Status.REPORT_ISSUED, timezone.now()
    if summary:
        audit.summary = summary
    audit.save()
    events.emit(
        "audit", "report_issued", audit, by=by, changed=events.changed_fields(audit, before)
    )
    return audit


@transaction.atomic
def close_audit(*, by, audit: Audit) -> Audit:
    require_oem_auditor(by, audit.partnership)
    if audit.status != Audit.Status.REPORT_ISSUED:
        raise ValidationError(_("Issue the report before closing the audit."))
    open_findings = audit.findings.exclude(status=Finding.Status.CLOSED).count()
    if open_findings:
        raise ValidationError(
            _("%(n)s finding(s) are still open; an audit closes only when all are closed.")
            % {"n": open_findings}
        )
    before = events.snapshot(audit, ["status", "closed_at"])
    audit.status, audit.closed_at = Audit.Status.CLOSED, timezone.now()
    audit.save()
    events.emit("audit", "closed", audit, by=by, changed=events.changed_fields(audit, before))
    return audit
