"""Every write with an audit rule: planning and scoring, findings and 8D actions, certificates
and their expiry warnings, KPIs and the scorecard."""

import datetime as dt
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership.models import Membership, Organization, Partnership, Role
from partnership.notifications import members, notify
from partnership.permissions import side_membership

from . import scoring
from .models import (
    EIGHT_D,
    Answer,
    Audit,
    AuditTemplate,
    Certificate,
    CertificateWarning,
    CorrectiveAction,
    Evidence,
    Finding,
    KpiRecord,
    SupplierProfile,
    SupplierReference,
    TemplateQuestion,
)

AUDIT_ROLES = {Role.ADMIN, Role.QUALITY, Role.BUYER}
EMS_ROLES = {Role.ADMIN, Role.QUALITY, Role.ACCOUNT_MANAGER, Role.PLANNER}
EXPIRY_THRESHOLDS = (60, 30, 7)
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


def _side(user, partnership, side, roles, message):
    s, m = side_membership(user, partnership)
    if m is None or s != side or m.role not in roles:
        raise PermissionDenied(message)
    return m


def require_oem_auditor(user, partnership):
    return _side(
        user,
        partnership,
        "oem",
        AUDIT_ROLES,
        _("Only the OEM's quality engineers, buyers and admins do this."),
    )


def require_ems_member(user, partnership):
    return _side(user, partnership, "ems", EMS_ROLES, _("Only EMS members who can edit do this."))


# --- Audits and scoring --------------------------------------------------------------------


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
    notify(
        members(partnership, "ems", [Role.QUALITY, Role.ACCOUNT_MANAGER, Role.ADMIN]),
        partnership=partnership,
        subject=_("Audit planned: %(t)s on %(d)s") % {"t": title, "d": planned_date},
        body=_("You can self-assess against the same checklist before the audit."),
        url=audit.get_absolute_url(),
    )
    return audit


@transaction.atomic
def start_audit(*, by, audit: Audit) -> Audit:
    require_oem_auditor(by, audit.partnership)
    if audit.status != Audit.Status.PLANNED:
        raise ValidationError(_("Only a planned audit can start."))
    audit.status = Audit.Status.IN_PROGRESS
    audit.actual_date = audit.actual_date or timezone.localdate()
    audit.save()
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


@transaction.atomic
def record_answer(
    *, by, audit: Audit, question: TemplateQuestion, score, notes: str = ""
) -> Answer:
    """The OEM scores its audit while it is in progress; the EMS self-assesses before it is issued.
    Nobody scores the other side's column, and the EMS never scores the OEM's."""
    side, m = side_membership(by, audit.partnership)
    if m is None or m.role == Role.VIEWER:
        raise PermissionDenied(_("Viewers cannot score."))
    if side == "ems":
        require_ems_member(by, audit.partnership)
    if side == "oem":
        require_oem_auditor(by, audit.partnership)
        if audit.status != Audit.Status.IN_PROGRESS:
            raise ValidationError(_("Start the audit before scoring it."))
    elif audit.status not in (Audit.Status.PLANNED, Audit.Status.IN_PROGRESS):
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
    answer, _created = Answer.objects.update_or_create(
        audit=audit,
        question=question,
        side=side,
        defaults={"score": score, "notes": notes, "answered_by": by},
    )
    if side == "oem":
        result = compute_score(audit)
        Audit.objects.filter(pk=audit.pk).update(
            score_pct=result.pct,
            grade=result.grade,
            grade_reasons=result.reasons,
            updated_at=timezone.now(),
        )
    else:  # the self-assessment changed: an incremental sync must see the audit again
        Audit.objects.filter(pk=audit.pk).update(updated_at=timezone.now())
    return answer


@transaction.atomic
def add_evidence(*, by, audit: Audit, upload, question=None, caption: str = "") -> Evidence:
    _side, m = side_membership(by, audit.partnership)
    if m is None or m.role == Role.VIEWER:
        raise PermissionDenied(_("Viewers cannot add evidence."))
    name = upload.name.rsplit("/", 1)[-1][:200]
    if upload.size > MAX_EVIDENCE_BYTES:
        raise ValidationError({"file": _("The file is larger than 15 MB.")})
    if not any(name.lower().endswith(s) for s in EVIDENCE_SUFFIXES):
        raise ValidationError({"file": _("Photos, PDFs, videos and office files only.")})
    if question is not None and question.section.template_id != audit.template_id:
        raise ValidationError(
            {"question": _("This question is not part of the audit's checklist.")}
        )
    return Evidence.objects.create(
        audit=audit,
        question=question,
        file=upload,
        name=name,
        caption=caption[:300],
        uploaded_by=by,
    )


@transaction.atomic
def set_recommendation(*, by, audit: Audit, recommendation: str, reason: str) -> Audit:
    require_oem_auditor(by, audit.partnership)
    if recommendation not in Audit.Recommendation.values:
        raise ValidationError({"recommendation": _("Choose proceed or reject.")})
    if not reason.strip():
        raise ValidationError(
            {"recommendation_reason": _("Give the reasons for the recommendation.")}
        )
    audit.recommendation, audit.recommendation_reason = recommendation, reason.strip()
    audit.save()
    return audit


@transaction.atomic
def issue_report(*, by, audit: Audit, summary: str = "") -> Audit:
    require_oem_auditor(by, audit.partnership)
    if audit.status != Audit.Status.IN_PROGRESS:
        raise ValidationError(_("Only an audit in progress can issue its report."))
    audit.status, audit.report_issued_at = Audit.Status.REPORT_ISSUED, timezone.now()
    if summary:
        audit.summary = summary
    audit.save()
    notify(
        members(audit.partnership, "ems", [Role.QUALITY, Role.ACCOUNT_MANAGER, Role.ADMIN]),
        partnership=audit.partnership,
        subject=_("Audit report issued: %(t)s") % {"t": audit.title},
        body=_("Grade %(g)s. Findings need your corrective actions.") % {"g": audit.grade or "—"},
        url=audit.get_absolute_url(),
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
    audit.status, audit.closed_at = Audit.Status.CLOSED, timezone.now()
    audit.save()
    return audit


# --- Findings and corrective actions -------------------------------------------------------


@transaction.atomic
def raise_finding(
    *, by, audit: Audit, classification, description, clause="", evidence="", external_id=None
) -> Finding:
    require_oem_auditor(by, audit.partnership)
    if audit.status not in (Audit.Status.IN_PROGRESS, Audit.Status.REPORT_ISSUED):
        raise ValidationError(_("Findings are recorded during the audit or in its report."))
    Audit.objects.select_for_update().get(pk=audit.pk)
    number = (audit.findings.aggregate(n=Max("number"))["n"] or 0) + 1
    finding = Finding(
        audit=audit,
        partnership_id=audit.partnership_id,
        external_id=external_id or None,
        number=number,
        classification=classification,
        clause=clause,
        description=description,
        evidence=evidence,
        raised_by=by,
    )
    if finding.needs_action:
        finding.response_due = timezone.localdate() + timedelta(days=audit.response_days)
    finding.full_clean()
    finding.save()
    if finding.needs_action:
        notify(
            members(audit.partnership, "ems", [Role.QUALITY, Role.ACCOUNT_MANAGER, Role.ADMIN]),
            partnership=audit.partnership,
            subject=_("%(cls)s raised in %(audit)s: response due %(due)s")
            % {
                "cls": finding.get_classification_display(),
                "audit": audit.title,
                "due": finding.response_due,
            },
            body=description,
            url=finding.get_absolute_url(),
        )
    return finding


@transaction.atomic
def update_finding(*, by, finding: Finding, **fields) -> Finding:
    """Correct an open finding's class, clause, description or evidence (OEM auditors). Once
    the EMS has answered with an 8D, or the finding is closed, it stays as it was."""
    require_oem_auditor(by, finding.audit.partnership)
    finding = Finding.objects.select_for_update().get(pk=finding.pk)
    if finding.status != Finding.Status.OPEN or hasattr(finding, "action"):
        raise ValidationError(_("Only open findings without a corrective action can change."))
    for name, value in fields.items():
        setattr(finding, name, value)
    if finding.needs_action and finding.response_due is None:
        finding.response_due = timezone.localdate() + timedelta(days=finding.audit.response_days)
    finding.full_clean()
    finding.save()
    return finding


@transaction.atomic
def start_action(*, by, finding: Finding, owner, due_date) -> CorrectiveAction:
    require_ems_member(by, finding.audit.partnership)
    finding = Finding.objects.select_for_update().get(pk=finding.pk)  # two starts at once: one wins
    if not finding.needs_action:
        raise ValidationError(_("Observations need no corrective action."))
    if hasattr(finding, "action"):
        raise ValidationError(_("This finding already has a corrective action."))
    if not Membership.objects.filter(
        user=owner, organization_id=finding.audit.partnership.ems_id
    ).exists():
        raise ValidationError({"owner": _("The owner must be a member of the EMS.")})
    if due_date < timezone.localdate():
        raise ValidationError({"due_date": _("The due date is in the past.")})
    return CorrectiveAction.objects.create(finding=finding, owner=owner, due_date=due_date)


@transaction.atomic
def complete_step(*, by, action: CorrectiveAction, step: int, text: str) -> CorrectiveAction:
    """D1–D7 are completed by the EMS in order: a step needs the one before it."""
    require_ems_member(by, action.finding.audit.partnership)
    action = CorrectiveAction.objects.select_for_update().get(pk=action.pk)
    if action.status != CorrectiveAction.Status.OPEN:
        raise ValidationError(_("This action is with the OEM for verification or closed."))
    if step not in range(1, 8):
        raise ValidationError(
            {"step": _("The EMS completes steps D1 to D7; D8 is the OEM's verification.")}
        )
    if step > 1 and not action.step(step - 1).get("done_at"):
        raise ValidationError(
            {"step": _("Complete %(prev)s first.") % {"prev": EIGHT_D[step - 2][1]}}
        )
    if not text.strip():
        raise ValidationError({"text": _("Describe what was done.")})
    action.steps[str(step)] = {
        "text": text.strip(),
        "done_at": timezone.now().isoformat(),
        "done_by": by.pk,
        "done_by_name": str(by),
    }
    action.save()
    return action


@transaction.atomic
def submit_action(*, by, action: CorrectiveAction) -> CorrectiveAction:
    require_ems_member(by, action.finding.audit.partnership)
    action = (
        CorrectiveAction.objects.select_for_update()
        .select_related("finding__audit")
        .get(pk=action.pk)
    )
    if action.next_step() is not None:
        raise ValidationError(_("Complete D1 to D7 before submitting."))
    if action.status != CorrectiveAction.Status.OPEN:
        raise ValidationError(_("This action was already submitted."))
    action.status = CorrectiveAction.Status.SUBMITTED
    action.save()
    finding = action.finding
    finding.status = Finding.Status.ACTION_SUBMITTED
    finding.save(update_fields=["status", "updated_at"])  # through save(): the audit trail
    notify(
        members(action.finding.audit.partnership, "oem", [Role.QUALITY, Role.BUYER]),
        partnership=action.finding.audit.partnership,
        subject=_("8D submitted for %(f)s — please verify") % {"f": action.finding},
        url=action.finding.get_absolute_url(),
    )
    return action


@transaction.atomic
def verify_action(
    *, by, action: CorrectiveAction, accept: bool, note: str = ""
) -> CorrectiveAction:
    """D8: the OEM verifies the action and closes the finding, or sends it back with a reason."""
    require_oem_auditor(by, action.finding.audit.partnership)
    action = (
        CorrectiveAction.objects.select_for_update().select_related("finding").get(pk=action.pk)
    )
    if action.status != CorrectiveAction.Status.SUBMITTED:
        raise ValidationError(_("Only a submitted action can be verified."))
    if not accept and not note.strip():
        raise ValidationError({"note": _("Say what is missing.")})
    now = timezone.now()
    finding = action.finding
    if accept:
        action.status, action.verified_by, action.verified_at = (
            CorrectiveAction.Status.VERIFIED,
            by,
            now,
        )
        action.steps["8"] = {
            "text": note.strip() or _("Verified effective."),
            "done_at": now.isoformat(),
            "done_by": by.pk,
            "done_by_name": str(by),
        }
        finding.status, finding.closed_by, finding.closed_at = Finding.Status.CLOSED, by, now
    else:
        action.status = CorrectiveAction.Status.OPEN
        finding.status = Finding.Status.OPEN
    action.verification_note = note.strip()
    action.save()
    finding.save()
    notify(
        [action.owner],
        partnership=finding.audit.partnership,
        subject=(_("%(f)s closed") if accept else _("%(f)s: 8D sent back")) % {"f": finding},
        body=note,
        url=finding.get_absolute_url(),
    )
    return action


@transaction.atomic
def close_observation(*, by, finding: Finding) -> Finding:
    require_oem_auditor(by, finding.audit.partnership)
    if finding.needs_action:
        raise ValidationError(
            _("Major and minor findings close through a verified corrective action.")
        )
    finding.status, finding.closed_by, finding.closed_at = Finding.Status.CLOSED, by, timezone.now()
    finding.save()
    return finding


def remind_overdue_actions(now=None) -> int:
    """Daily: open actions past their due date remind their owner, at most once a day each."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    sent = 0
    with transaction.atomic():
        due = list(
            CorrectiveAction.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=CorrectiveAction.Status.OPEN, due_date__lt=today)
            .filter(
                Q(last_reminded_at__isnull=True) | Q(last_reminded_at__lt=now - timedelta(hours=23))
            )
            .select_related("finding__audit__partnership", "owner")
        )
        for action in due:
            p = action.finding.audit.partnership
            notify(
                [action.owner, *members(p, "ems", [Role.ACCOUNT_MANAGER])],
                partnership=p,
                subject=_("Overdue 8D: %(f)s was due %(d)s")
                % {"f": action.finding, "d": action.due_date},
                url=action.finding.get_absolute_url(),
            )
            action.last_reminded_at = now
            action.save(update_fields=["last_reminded_at"])
            sent += 1
    return sent


# --- Certificates --------------------------------------------------------------------------


def require_org_member(user, organization, message=None):
    m = Membership.objects.filter(user=user, organization=organization).first()
    if m is None or m.role == Role.VIEWER:
        raise PermissionDenied(
            message or _("Only members of %(org)s maintain its records.") % {"org": organization}
        )
    return m


@transaction.atomic
def save_certificate(
    *, by, organization: Organization, certificate: Certificate | None = None, **fields
) -> Certificate:
    require_org_member(by, organization)
    certificate = certificate or Certificate(organization=organization)
    if certificate.organization_id != organization.pk:
        raise PermissionDenied
    for name, value in fields.items():
        setattr(certificate, name, value)
    if (
        certificate.valid_from
        and certificate.valid_until
        and certificate.valid_until < certificate.valid_from
    ):
        raise ValidationError({"valid_until": _("The end date is before the start date.")})
    certificate.expired = bool(
        certificate.valid_until and certificate.valid_until < timezone.localdate()
    )
    certificate.full_clean()
    certificate.save()
    return certificate


def _certificate_audience(certificate: Certificate):
    """[(partnership, users)…]: the organisation's own quality people and admins, and each
    partner's quality people in their partnership — everyone active, and everyone once."""
    org = certificate.organization
    people = [
        m.user
        for m in org.memberships.filter(
            role__in=[Role.QUALITY, Role.ADMIN], user__is_active=True
        ).select_related("user")
    ]
    partnerships = (
        Partnership.objects.filter(Q(ems=org) | Q(oem=org))
        .exclude(status=Partnership.Status.ENDED)
        .order_by("pk")
    )
    pairs, told = [], set()
    for p in partnerships:
        other = "oem" if p.ems_id == org.pk else "ems"
        users = [u for u in people + members(p, other, [Role.QUALITY]) if u.pk not in told]
        told.update(u.pk for u in users)
        if users:
            pairs.append((p, users))
    return pairs


def check_certificates(today=None) -> dict[str, int]:
    """Daily: warn 60, 30 and 7 days before expiry — once per threshold — and mark expired ones.
    The warning row is inserted before the notice is sent, under a unique constraint, so two
    workers (or a retry) never send the same warning twice."""
    today = today or timezone.localdate()
    counts = {"warned": 0, "expired": 0}
    horizon = today + timedelta(days=max(EXPIRY_THRESHOLDS))
    for cert in Certificate.objects.filter(expired=False, valid_until__lte=horizon).select_related(
        "organization"
    ):
        days = (cert.valid_until - today).days
        if days < 0:
            with transaction.atomic():
                if Certificate.objects.filter(pk=cert.pk, expired=False).update(expired=True):
                    counts["expired"] += 1
                    cert.expired = True  # the conditional update bypasses save(): record it
                    Certificate.history.bulk_history_create([cert], update=True)
                    for p, people in _certificate_audience(cert):
                        notify(
                            people,
                            partnership=p,
                            subject=_("Certificate expired: %(c)s of %(o)s")
                            % {"c": cert, "o": cert.organization},
                            url=f"/partnerships/{p.pk}/scorecard/",
                        )
            continue
        crossed = [t for t in EXPIRY_THRESHOLDS if days <= t]
        with transaction.atomic():
            new = []
            for t in crossed:
                try:
                    with transaction.atomic():
                        CertificateWarning.objects.create(
                            certificate=cert, threshold_days=t, valid_until=cert.valid_until
                        )
                    new.append(t)
                except IntegrityError:
                    continue
            if new:  # several thresholds crossed at once (a late entry): one notice, the tightest
                counts["warned"] += 1
                for p, people in _certificate_audience(cert):
                    notify(
                        people,
                        partnership=p,
                        subject=_("%(c)s of %(o)s expires in %(d)s days (%(date)s)")
                        % {"c": cert, "o": cert.organization, "d": days, "date": cert.valid_until},
                        url=f"/partnerships/{p.pk}/scorecard/",
                    )
    return counts


# --- Profile, references, KPIs, scorecard --------------------------------------------------


@transaction.atomic
def save_profile(*, by, organization: Organization, **fields) -> SupplierProfile:
    require_org_member(by, organization)
    if organization.kind != Organization.Kind.EMS:
        raise ValidationError(_("Supplier profiles describe EMS companies."))
    profile, _created = SupplierProfile.objects.get_or_create(organization=organization)
    unknown = set(fields.get("capabilities") or []) - set(SupplierProfile.Capability.values)
    if unknown:
        raise ValidationError(
            {"capabilities": _("Unknown capability: %(c)s") % {"c": ", ".join(sorted(unknown))}}
        )
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.full_clean()
    profile.save()
    return profile


@transaction.atomic
def add_reference(*, by, partnership, **fields) -> SupplierReference:
    require_oem_auditor(by, partnership)
    ref = SupplierReference(partnership=partnership, recorded_by=by, **fields)
    ref.full_clean()
    ref.save()
    return ref


@transaction.atomic
def save_kpi(*, by, partnership, month: dt.date, **fields) -> KpiRecord:
    _s, m = side_membership(by, partnership)
    if m is None or m.role == Role.VIEWER:
        raise PermissionDenied(_("Viewers cannot record KPIs."))
    record, _created = KpiRecord.objects.get_or_create(
        partnership=partnership, month=month.replace(day=1)
    )
    for name, value in fields.items():
        setattr(record, name, value)
    errors = {}
    if record.lines_on_time > record.lines_due:
        errors["lines_on_time"] = _("More lines on time than lines due.")
    if record.units_nonconforming > record.units_delivered:
        errors["units_nonconforming"] = _("More nonconforming units than units delivered.")
    if errors:
        raise ValidationError(errors)
    record.save()
    return record


def scorecard(partnership: Partnership, today=None) -> dict:
    """Latest grade, open findings by class, certificate status and KPI trend — a fixed number
    of queries, and "no data" rather than a made-up score where nothing was measured."""
    today = today or timezone.localdate()
    audits = list(
        partnership.audits.exclude(grade="")
        .exclude(status=Audit.Status.PLANNED)
        .order_by("-actual_date", "-id")
        .values("id", "title", "actual_date", "score_pct", "grade")[:12]
    )
    findings = dict(
        Finding.objects.filter(audit__partnership=partnership)
        .exclude(status=Finding.Status.CLOSED)
        .values_list("classification")
        .annotate(n=Count("id"))
    )
    certs = list(partnership.ems.certificates.all())
    kpis = list(
        partnership.kpis.filter(month__gte=(today.replace(day=1) - timedelta(days=366))).order_by(
            "month"
        )
    )
    return {
        "latest": audits[0] if audits else None,
        "audit_trend": list(reversed(audits)),
        "open_findings": {c: findings.get(c, 0) for c in Finding.Classification.values},
        "certificates": certs,
        "certificates_expiring": [
            c for c in certs if not c.expired and 0 <= c.days_left(today) <= 60
        ],
        "certificates_expired": [c for c in certs if c.expired or c.days_left(today) < 0],
        "kpis": kpis,
    }
