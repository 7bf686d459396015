"""Supplier audits: supplier profile and references, certificates, versioned audit templates,
audits with two-sided answers and scoring, findings and 8D corrective actions, KPIs."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from partnership.choices import PortalModel
from partnership.models import Organization, Partnership
from partnership.routes import reverse_ids
from partnership.scoping import ScopedQuerySet


def _random_path(prefix, filename):
    # A random folder per file: names from the client never collide or traverse.
    return f"{prefix}/{uuid.uuid4().hex}/{filename.rsplit('/', 1)[-1]}"


def upload_certificate(instance, filename):
    return _random_path("certificates", filename)


def upload_evidence(instance, filename):
    return _random_path("evidence", filename)


class SupplierProfile(PortalModel):
    """What an EMS says about itself: sites, lines and capabilities. Visible to its partners."""

    class Capability(models.TextChoices):
        SMT = "smt", "SMT"
        THT = "tht", "THT"
        BGA = "bga", _("BGA / fine pitch")
        COATING = "coating", _("Conformal coating")
        BOX_BUILD = "box_build", _("Box build")
        ICT = "ict", "ICT"
        FCT = "fct", _("Functional test")
        XRAY = "xray", _("X-ray inspection")
        CLEANROOM = "cleanroom", _("Clean room")

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="supplier_profile"
    )
    sites = models.TextField(
        _("sites"), blank=True, help_text=_("One site per line: city, country, m².")
    )
    smt_lines = models.PositiveSmallIntegerField(_("SMT lines"), default=0)
    capabilities = models.JSONField(_("capabilities"), default=list, blank=True)
    industries = models.CharField(_("industries served"), max_length=300, blank=True)
    employees = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self):
        return str(self.organization)


class SupplierReference(PortalModel):
    """What others say of the EMS — the OEM's own research, kept inside the partnership."""

    class Verdict(models.TextChoices):
        POSITIVE = "positive", _("Recommends")
        NEUTRAL = "neutral", _("Neutral")
        NEGATIVE = "negative", _("Advises against")

    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, related_name="supplier_references"
    )
    company = models.CharField(_("company"), max_length=200)
    contact = models.CharField(_("contact"), max_length=200, blank=True)
    verdict = models.CharField(_("verdict"), max_length=10, choices=Verdict.choices)
    notes = models.TextField(_("notes"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.company}: {self.get_verdict_display()}"


class CertificateQuerySet(models.QuerySet):
    def for_user(self, user):
        """Certificates of the user's organisations and of their partners."""
        return self.filter(organization__in=Organization.objects.for_user(user))


class Certificate(PortalModel):
    class Standard(models.TextChoices):
        ISO9001 = "iso9001", "ISO 9001"
        IATF16949 = "iatf16949", "IATF 16949"
        ISO13485 = "iso13485", "ISO 13485"
        AS9100 = "as9100", "AS9100"
        ISO14001 = "iso14001", "ISO 14001"
        ISO45001 = "iso45001", "ISO 45001"
        IPC_A_610 = "ipc_a_610", _("IPC-A-610 certified staff")
        J_STD_001 = "j_std_001", _("J-STD-001 certified staff")
        OTHER = "other", _("Other")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="certificates"
    )
    standard = models.CharField(_("standard"), max_length=12, choices=Standard.choices)
    number = models.CharField(_("certificate number"), max_length=100)
    issuer = models.CharField(_("issued by"), max_length=200)
    scope = models.TextField(_("scope"), blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    file = models.FileField(
        _("certificate file"), upload_to=upload_certificate, blank=True, max_length=300
    )
    expired = models.BooleanField(
        default=False, help_text=_("Set by the daily check once the end date passed.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = CertificateQuerySet.as_manager()

    class Meta:
        ordering = ["valid_until"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gte=models.F("valid_from")), name="certificate_dates"
            )
        ]

    def __str__(self):
        return f"{self.get_standard_display()} {self.number}"

    def days_left(self, today=None):
        return (self.valid_until - (today or timezone.localdate())).days


class CertificateWarning(PortalModel):
    """One row per certificate and threshold: the warning goes out exactly once."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="warnings")
    threshold_days = models.PositiveSmallIntegerField()
    valid_until = models.DateField(help_text=_("The end date warned about; a renewal warns again."))
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["certificate", "threshold_days", "valid_until"],
                name="one_warning_per_threshold",
            )
        ]

    def __str__(self):
        return f"{self.certificate} −{self.threshold_days} d"


class AuditTemplate(PortalModel):
    """A checklist with a scoring scheme. Versioned: an audit keeps the version it used."""

    class Kind(models.TextChoices):
        PRELIMINARY = "preliminary", _("Preliminary analysis")
        QUALITY_SYSTEM = "quality_system", _("Quality-system audit")
        PROCESS = "process", _("Process audit")

    class Scheme(models.TextChoices):
        PROCESS_AUDIT = (
            "process_audit",
            _("Process audit: 0/4/6/8/10, grades A/B/C with downgrade rules"),
        )
        PERCENT = "percent", _("Percentage of points with grade bands")

    key = models.SlugField(_("key"), max_length=60, help_text=_("Stays the same across versions."))
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    scheme = models.CharField(_("scoring scheme"), max_length=16, choices=Scheme.choices)
    scale = models.JSONField(_("allowed scores"), default=list)
    description = models.TextField(blank=True)
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="template_version_unique")
        ]

    def __str__(self):
        return f"{self.name} (v{self.version})"


class TemplateSection(PortalModel):
    template = models.ForeignKey(AuditTemplate, on_delete=models.CASCADE, related_name="sections")
    code = models.CharField(max_length=10)
    title = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["template", "position"]

    def __str__(self):
        return f"{self.code} {self.title}"


class TemplateQuestion(PortalModel):
    section = models.ForeignKey(TemplateSection, on_delete=models.CASCADE, related_name="questions")
    code = models.CharField(max_length=12)
    text = models.TextField()
    guidance = models.TextField(blank=True)
    starred = models.BooleanField(default=False, help_text=_("Special-risk question (*)."))
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["section", "position"]

    def __str__(self):
        return f"{self.code}{'*' if self.starred else ''} {self.text[:60]}"


class Audit(PortalModel):
    class Kind(models.TextChoices):
        PRELIMINARY = "preliminary", _("Preliminary analysis")
        QUALITY = "quality", _("On-site quality audit")
        PROCESS = "process", _("Process audit")
        FOLLOW_UP = "follow_up", _("Follow-up audit")

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        IN_PROGRESS = "in_progress", _("In progress")
        REPORT_ISSUED = "report_issued", _("Report issued")
        CLOSED = "closed", _("Closed")

    class Recommendation(models.TextChoices):
        PROCEED = "proceed", _("Proceed to audit")
        REJECT = "reject", _("Reject")

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="audits")
    template = models.ForeignKey(AuditTemplate, on_delete=models.PROTECT, related_name="audits")
    kind = models.CharField(_("type"), max_length=12, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=200)
    planned_date = models.DateField(_("planned date"))
    actual_date = models.DateField(_("actual date"), null=True, blank=True)
    lead_auditor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("lead auditor"),
    )
    team = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("team")
    )
    status = models.CharField(
        _("status"), max_length=14, choices=Status.choices, default=Status.PLANNED
    )
    response_days = models.PositiveSmallIntegerField(
        _("days to respond to a finding"),
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(180)],
    )
    summary = models.TextField(_("summary"), blank=True)
    recommendation = models.CharField(
        _("recommendation"), max_length=8, choices=Recommendation.choices, blank=True
    )
    recommendation_reason = models.TextField(_("reasons"), blank=True)
    score_pct = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    grade = models.CharField(max_length=2, blank=True)
    grade_reasons = models.JSONField(default=list, blank=True)
    report_issued_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords(m2m_fields=[])

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-planned_date", "-id"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse_ids("audits:audit", self.partnership_id, self.pk)


class Answer(PortalModel):
    """A score for one question, by one side: the OEM's audit or the EMS's self-assessment."""

    class Side(models.TextChoices):
        OEM = "oem", _("OEM audit")
        EMS = "ems", _("EMS self-assessment")

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(TemplateQuestion, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=3, choices=Side.choices)
    score = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Empty: not applicable / not answered.")
    )
    notes = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    answered_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["audit", "question", "side"], name="one_answer_per_side"
            )
        ]

    def __str__(self):
        return f"{self.question.code} {self.side}: {self.score}"


class Evidence(PortalModel):
    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="evidence")
    question = models.ForeignKey(
        TemplateQuestion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    file = models.FileField(upload_to=upload_evidence, max_length=300)
    name = models.CharField(max_length=200)
    caption = models.CharField(max_length=300, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at"]

    def __str__(self):
        return self.name


class FindingQuerySet(ScopedQuerySet):
    partnership_lookup = "audit__partnership"


class Finding(PortalModel):
    class Classification(models.TextChoices):
        MAJOR = "major", _("Major nonconformity")
        MINOR = "minor", _("Minor nonconformity")
        OBSERVATION = "observation", _("Observation / opportunity for improvement")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACTION_SUBMITTED = "submitted", _("Action submitted")
        CLOSED = "closed", _("Closed")

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="findings")
    number = models.PositiveIntegerField()
    classification = models.CharField(_("class"), max_length=12, choices=Classification.choices)
    clause = models.CharField(_("clause / question"), max_length=60, blank=True)
    description = models.TextField(_("description"))
    evidence = models.TextField(_("objective evidence"), blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    response_due = models.DateField(_("response due"), null=True, blank=True)
    external_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    # The audit's partnership, copied on save: external_id is unique per partnership, and a
    # database constraint cannot reach through the audit.
    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, null=True, editable=False, related_name="+"
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["audit", "number"]
        constraints = [
            models.UniqueConstraint(fields=["audit", "number"], name="finding_number_unique"),
            models.UniqueConstraint(
                fields=["partnership", "external_id"],
                condition=Q(external_id__isnull=False),
                name="finding_external_id_unique",
            ),
        ]

    def __str__(self):
        return f"F{self.number} {self.get_classification_display()}"

    def save(self, *args, **kwargs):
        if self.audit_id and not self.partnership_id:
            self.partnership_id = self.audit.partnership_id
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse_ids("audits:finding", self.audit.partnership_id, self.pk)

    @property
    def needs_action(self):
        return self.classification != self.Classification.OBSERVATION


EIGHT_D = [
    (1, _("D1 Team")),
    (2, _("D2 Problem description")),
    (3, _("D3 Containment")),
    (4, _("D4 Root cause and escape point")),
    (5, _("D5 Chosen corrective action")),
    (6, _("D6 Implementation and validation")),
    (7, _("D7 Prevention of recurrence")),
    (8, _("D8 Closure")),
]


class CorrectiveActionQuerySet(ScopedQuerySet):
    partnership_lookup = "finding__audit__partnership"


class CorrectiveAction(PortalModel):
    """The EMS's 8D answer to a finding. D1–D7 by the EMS in order; D8 is the OEM's verification."""

    class Status(models.TextChoices):
        OPEN = "open", _("In work")
        SUBMITTED = "submitted", _("Submitted for verification")
        VERIFIED = "verified", _("Verified and closed")

    finding = models.OneToOneField(Finding, on_delete=models.CASCADE, related_name="action")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    due_date = models.DateField(_("due date"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    steps = models.JSONField(default=dict, help_text=_("{step: {text, done_at, done_by}}"))
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_note = models.TextField(blank=True)
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = CorrectiveActionQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["status", "due_date"], name="action_due_idx")]

    def __str__(self):
        return f"8D for {self.finding}"

    def step(self, n: int) -> dict:
        return self.steps.get(str(n), {})

    def next_step(self) -> int | None:
        return next((n for n, _label in EIGHT_D[:7] if not self.step(n).get("done_at")), None)


class KpiRecord(PortalModel):
    """Delivery and quality figures for a month, fed by the ERP or typed in."""

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="kpis")
    month = models.DateField(help_text=_("First day of the month."))
    lines_due = models.PositiveIntegerField(_("order lines due"), default=0)
    lines_on_time = models.PositiveIntegerField(
        _("lines delivered by the confirmed date"), default=0
    )
    units_delivered = models.PositiveIntegerField(_("units delivered"), default=0)
    units_nonconforming = models.PositiveIntegerField(_("nonconforming units"), default=0)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["partnership", "month"]
        constraints = [
            models.UniqueConstraint(fields=["partnership", "month"], name="kpi_month_unique"),
            models.CheckConstraint(
                condition=Q(lines_on_time__lte=models.F("lines_due")), name="kpi_on_time_le_due"
            ),
            models.CheckConstraint(
                condition=Q(units_nonconforming__lte=models.F("units_delivered")),
                name="kpi_nc_le_delivered",
            ),
        ]

    def __str__(self):
        return f"{self.partnership_id} {self.month:%Y-%m}"

    @property
    def on_time_pct(self):
        return round(100 * self.lines_on_time / self.lines_due, 1) if self.lines_due else None

    @property
    def ppm(self):
        return (
            round(1_000_000 * self.units_nonconforming / self.units_delivered)
            if self.units_delivered
            else None
        )
