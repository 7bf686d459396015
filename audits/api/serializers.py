"""Serializers of the audits API. Output mirrors the models; input serializers only check the
shape of a body — ``audits.services`` decides who may do what and whether it is allowed now."""

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from partnership.api.fields import ScopedIdField, ScopedPersonField
from partnership.api.serializers import PartyContactSerializer
from partnership.models import Partnership

from .. import scoring, services
from ..models import (
    EIGHT_D,
    Answer,
    Audit,
    AuditTemplate,
    Certificate,
    CorrectiveAction,
    Finding,
    KpiRecord,
    TemplateQuestion,
    TemplateSection,
)

MAX_INT = 2147483647


# --- Templates ------------------------------------------------------------------------------


class TemplateQuestionSerializer(serializers.ModelSerializer):
    class Meta:
        model = TemplateQuestion
        fields = ["id", "code", "text", "guidance", "starred", "position"]
        read_only_fields = fields


class TemplateSectionSerializer(serializers.ModelSerializer):
    questions = TemplateQuestionSerializer(many=True, read_only=True)

    class Meta:
        model = TemplateSection
        fields = ["id", "code", "title", "position", "questions"]
        read_only_fields = fields


class AuditTemplateSerializer(serializers.ModelSerializer):
    scale = serializers.ListField(
        child=serializers.IntegerField(), read_only=True, help_text=_("The allowed scores.")
    )
    sections = TemplateSectionSerializer(many=True, read_only=True)

    class Meta:
        model = AuditTemplate
        fields = [
            "id",
            "key",
            "version",
            "name",
            "kind",
            "scheme",
            "scale",
            "description",
            "is_current",
            "created_at",
            "sections",
        ]
        read_only_fields = fields


# --- Audits, answers and scores --------------------------------------------------------------


class SectionScoreSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    points = serializers.IntegerField()
    possible = serializers.IntegerField(help_text=_("Possible points of the answered questions."))
    answered = serializers.IntegerField()
    total = serializers.IntegerField()
    pct = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True)


class ScoreSerializer(serializers.Serializer):
    """One side's score, as ``services.compute_score`` computes it."""

    pct = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True)
    grade = serializers.CharField(allow_blank=True, help_text=_("A, B, C or empty: no grade."))
    reasons = serializers.ListField(child=serializers.CharField())
    answered = serializers.IntegerField()
    total = serializers.IntegerField()
    sections = SectionScoreSerializer(many=True)


class AnswerSerializer(serializers.ModelSerializer):
    question_code = serializers.CharField(source="question.code", read_only=True)
    answered_by = PartyContactSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Answer
        fields = [
            "id",
            "question",
            "question_code",
            "side",
            "score",
            "notes",
            "answered_by",
            "answered_at",
        ]
        read_only_fields = fields


def audit_scores(audit: Audit, template_sections: dict) -> dict[str, scoring.Score]:
    """Both sides' scores from the audit's prefetched answers.

    The same computation as ``services.compute_score`` (same sections, answers and scheme), but
    without three queries per audit and side: a list page would otherwise cost hundreds.
    ``template_sections`` caches ``services.template_sections`` per template for the request.
    """
    sections = template_sections.get(audit.template_id)
    if sections is None:
        sections = template_sections[audit.template_id] = services.template_sections(audit.template)
    answers = {side: {} for side in Answer.Side.values}
    for answer in audit.answers.all():
        answers[answer.side][answer.question_id] = answer.score
    return {
        side: scoring.score(
            sections,
            given,
            scheme=audit.template.scheme,
            max_points=max(audit.template.scale or [10]),
        )
        for side, given in answers.items()
    }


class AuditSerializer(serializers.ModelSerializer):
    """An audit with both sides' scores and answers. ``score_pct``, ``grade`` and
    ``grade_reasons`` are the OEM's result as stored with the audit."""

    lead_auditor = PartyContactSerializer(read_only=True)
    team = PartyContactSerializer(many=True, read_only=True)
    grade_reasons = serializers.ListField(child=serializers.CharField(), read_only=True)
    oem_score = serializers.SerializerMethodField(
        help_text=_("The OEM's audit: overall and per section (element).")
    )
    ems_score = serializers.SerializerMethodField(
        help_text=_("The EMS's self-assessment: overall and per section (element).")
    )
    answers = AnswerSerializer(many=True, read_only=True)
    # Read-only model choice fields lose allow_blank: say that "" (not decided yet) occurs.
    recommendation = serializers.ChoiceField(
        choices=Audit.Recommendation.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Audit
        fields = [
            "id",
            "partnership",
            "template",
            "kind",
            "title",
            "planned_date",
            "actual_date",
            "lead_auditor",
            "team",
            "status",
            "response_days",
            "summary",
            "recommendation",
            "recommendation_reason",
            "score_pct",
            "grade",
            "grade_reasons",
            "oem_score",
            "ems_score",
            "answers",
            "report_issued_at",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _scores(self, audit):
        cache = self.context.setdefault("_audit_scores", {})
        if audit.pk not in cache:
            sections = self.context.setdefault("_template_sections", {})
            cache[audit.pk] = audit_scores(audit, sections)
        return cache[audit.pk]

    @extend_schema_field(ScoreSerializer)
    def get_oem_score(self, audit):
        return ScoreSerializer(self._scores(audit)[Answer.Side.OEM]).data

    @extend_schema_field(ScoreSerializer)
    def get_ems_score(self, audit):
        return ScoreSerializer(self._scores(audit)[Answer.Side.EMS]).data


class RecordAnswerSerializer(serializers.Serializer):
    question = serializers.PrimaryKeyRelatedField(
        queryset=TemplateQuestion.objects.select_related("section"),
        help_text=_("A question of the audit's template."),
    )
    score = serializers.IntegerField(
        min_value=0,
        max_value=32767,
        allow_null=True,
        help_text=_("One of the template's scale; null: not applicable / not answered."),
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="")


# --- Findings and corrective actions ---------------------------------------------------------


class FindingSerializer(serializers.ModelSerializer):
    """A finding. On create the server numbers it and sets the response due date."""

    audit = ScopedIdField(queryset=Audit.objects.all())
    partnership = serializers.IntegerField(source="audit.partnership_id", read_only=True)
    raised_by = PartyContactSerializer(read_only=True, allow_null=True)
    closed_by = PartyContactSerializer(read_only=True, allow_null=True)
    needs_action = serializers.BooleanField(
        read_only=True, help_text=_("Major and minor findings need an 8D corrective action.")
    )
    action = serializers.SerializerMethodField(
        help_text=_("Id of the corrective action; null while there is none.")
    )

    class Meta:
        model = Finding
        fields = [
            "id",
            "audit",
            "partnership",
            "number",
            "classification",
            "clause",
            "description",
            "evidence",
            "external_id",
            "status",
            "needs_action",
            "response_due",
            "action",
            "raised_by",
            "closed_by",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "number",
            "status",
            "response_due",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "external_id": {
                "help_text": _(
                    "Your system's id. Raising a finding again with the same external id in "
                    "the partnership returns the first one and records nothing."
                )
            }
        }
        # Numbering and uniqueness are the service's business.
        validators = []

    def get_action(self, finding) -> int | None:
        action = getattr(finding, "action", None)
        return action.pk if action is not None else None


class StepSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    label = serializers.CharField()
    done = serializers.BooleanField()
    text = serializers.CharField(allow_null=True)
    done_at = serializers.DateTimeField(allow_null=True)
    done_by = serializers.IntegerField(allow_null=True)
    done_by_name = serializers.CharField(allow_null=True)


class CorrectiveActionSerializer(serializers.ModelSerializer):
    """The EMS's 8D answer to a finding: D1–D7 by the EMS in order, D8 the OEM's verification."""

    finding = ScopedIdField(queryset=Finding.objects.all())
    partnership = serializers.IntegerField(source="finding.audit.partnership_id", read_only=True)
    owner = ScopedPersonField(
        required=False,
        help_text=_("A member of the EMS; you when left out."),
    )
    owner_contact = PartyContactSerializer(source="owner", read_only=True)
    steps = serializers.SerializerMethodField(help_text=_("D1 to D8, in order."))
    next_step = serializers.SerializerMethodField(
        help_text=_("The next step the EMS completes; null once D1–D7 are done.")
    )
    verified_by = PartyContactSerializer(read_only=True, allow_null=True)

    class Meta:
        model = CorrectiveAction
        fields = [
            "id",
            "finding",
            "partnership",
            "owner",
            "owner_contact",
            "due_date",
            "status",
            "steps",
            "next_step",
            "verified_by",
            "verified_at",
            "verification_note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "verified_at",
            "verification_note",
            "created_at",
            "updated_at",
        ]
        validators = []

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, action):
        rows = []
        for n, label in EIGHT_D:
            step = action.step(n)
            done_at = step.get("done_at")
            rows.append(
                {
                    "step": n,
                    "label": str(label),
                    "done": bool(done_at),
                    "text": step.get("text"),
                    "done_at": parse_datetime(done_at) if done_at else None,
                    "done_by": step.get("done_by"),
                    "done_by_name": step.get("done_by_name"),
                }
            )
        return StepSerializer(rows, many=True).data

    def get_next_step(self, action) -> int | None:
        return action.next_step()


class CompleteStepSerializer(serializers.Serializer):
    step = serializers.IntegerField(help_text=_("1 to 7: D1–D7, each after the one before."))
    text = serializers.CharField(help_text=_("What was done."))


class VerifySerializer(serializers.Serializer):
    accept = serializers.BooleanField(
        help_text=_("true: effective, the finding closes; false: send the 8D back.")
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Required when sending back: say what is missing."),
    )


# --- Certificates ---------------------------------------------------------------------------


class CertificateSerializer(serializers.ModelSerializer):
    organization_name = serializers.CharField(source="organization.name", read_only=True)
    days_left = serializers.SerializerMethodField(
        help_text=_("Days until the end date; negative once it passed.")
    )
    has_file = serializers.SerializerMethodField()

    class Meta:
        model = Certificate
        fields = [
            "id",
            "organization",
            "organization_name",
            "standard",
            "number",
            "issuer",
            "scope",
            "valid_from",
            "valid_until",
            "expired",
            "days_left",
            "has_file",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_days_left(self, certificate) -> int:
        return certificate.days_left(self.context.get("today"))

    def get_has_file(self, certificate) -> bool:
        return bool(certificate.file)


# --- KPIs and scorecard ---------------------------------------------------------------------


def figure(**kwargs):
    return serializers.IntegerField(min_value=0, max_value=MAX_INT, **kwargs)


class KpiRecordSerializer(serializers.ModelSerializer):
    on_time_pct = serializers.FloatField(
        read_only=True, allow_null=True, help_text=_("OTD in %; null without lines due.")
    )
    ppm = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text=_("Nonconforming parts per million; null without units delivered."),
    )

    class Meta:
        model = KpiRecord
        fields = [
            "id",
            "partnership",
            "month",
            "lines_due",
            "lines_on_time",
            "units_delivered",
            "units_nonconforming",
            "on_time_pct",
            "ppm",
            "updated_at",
        ]
        read_only_fields = fields


class KpiUpsertSerializer(serializers.Serializer):
    """A month's figures, keyed by partnership and month. Figures left out keep their value."""

    partnership = ScopedIdField(queryset=Partnership.objects.all())
    month = serializers.DateField(help_text=_("Any day of the month; stored as its first day."))
    lines_due = figure(required=False)
    lines_on_time = figure(required=False)
    units_delivered = figure(required=False)
    units_nonconforming = figure(required=False)


class KpiFiguresSerializer(serializers.Serializer):
    """All four figures of the record's month (its partnership and month stay)."""

    lines_due = figure()
    lines_on_time = figure()
    units_delivered = figure()
    units_nonconforming = figure()


class ScorecardAuditSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    actual_date = serializers.DateField(allow_null=True)
    score_pct = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True)
    grade = serializers.CharField()


class OpenFindingsSerializer(serializers.Serializer):
    major = serializers.IntegerField()
    minor = serializers.IntegerField()
    observation = serializers.IntegerField()


class CertificateStatusSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    valid = serializers.IntegerField(help_text=_("Valid for more than 60 days."))
    expiring = serializers.IntegerField(help_text=_("Valid, ending within 60 days."))
    expired = serializers.IntegerField()


class KpiPointSerializer(serializers.Serializer):
    month = serializers.DateField()
    lines_due = serializers.IntegerField()
    lines_on_time = serializers.IntegerField()
    units_delivered = serializers.IntegerField()
    units_nonconforming = serializers.IntegerField()
    on_time_pct = serializers.FloatField(allow_null=True)
    ppm = serializers.IntegerField(allow_null=True)


class ScorecardSerializer(serializers.Serializer):
    """The EMS's scorecard in one partnership; "no data" is null, never a made-up score."""

    partnership = serializers.IntegerField()
    ems = serializers.IntegerField(help_text=_("The EMS organisation's id."))
    latest = ScorecardAuditSerializer(
        allow_null=True, help_text=_("The latest graded audit; null when none.")
    )
    audit_trend = ScorecardAuditSerializer(many=True, help_text=_("Graded audits, oldest first."))
    open_findings = OpenFindingsSerializer(help_text=_("Findings not closed, by class."))
    certificates = CertificateStatusSerializer(help_text=_("The EMS's certificates by status."))
    kpis = KpiPointSerializer(many=True, help_text=_("Monthly KPIs of the last year."))
