"""Contracts: versioned terms, the RACI responsibility matrix, consult-vs-decide rules and the
decision requests those rules route. See DESIGN.md §2 and §6."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
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


class DecisionMode(models.TextChoices):
    EMS_DECIDES = "ems_decides", _("EMS decides")
    CONSULT_OEM = "consult_oem", _("Consult OEM")
    OEM_APPROVAL = "oem_approval", _("OEM approval")


#: How restrictive each mode is; routing picks the highest among matching rules.
RESTRICTIVENESS = {
    DecisionMode.EMS_DECIDES: 0,
    DecisionMode.CONSULT_OEM: 1,
    DecisionMode.OEM_APPROVAL: 2,
}


class Category(models.TextChoices):
    COMPONENT_SUBSTITUTION = "component_substitution", _("Component substitution")
    ALTERNATE_SOURCE = "alternate_source", _("Alternate source")
    ENGINEERING_CHANGE = "engineering_change", _("Engineering change order")
    PROCESS_CHANGE = "process_change", _("Process change")
    TEST_SCOPE_CHANGE = "test_scope_change", _("Test-scope change")
    DEVIATION = "deviation", _("Deviation / waiver")
    PRICE_CHANGE = "price_change", _("Price change")
    SCHEDULE_CHANGE = "schedule_change", _("Schedule change")
    EXCESS_OBSOLETE = "excess_obsolete", _("Excess and obsolete inventory")
    SUBCONTRACTING = "subcontracting", _("Subcontracting")


class ContractQuerySet(ScopedQuerySet):
    def active(self):
        return self.filter(status=Contract.Status.ACTIVE)


class Contract(PortalModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PROPOSED = "proposed", _("Proposed")
        ACTIVE = "active", _("Active")
        SUPERSEDED = "superseded", _("Superseded")
        EXPIRED = "expired", _("Expired")

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="contracts")
    version = models.PositiveIntegerField(_("version"))
    title = models.CharField(
        _("title"), max_length=200, default=_("Manufacturing services agreement")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.DRAFT
    )
    effective_from = models.DateField(_("effective from"), null=True, blank=True)
    effective_until = models.DateField(_("effective until"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    frozen_zone_weeks = models.PositiveSmallIntegerField(
        _("frozen zone (weeks)"),
        default=4,
        validators=[MaxValueValidator(52)],
        help_text=_("Demand inside this many weeks may not change."),
    )
    default_decision_mode = models.CharField(
        _("default decision mode"),
        max_length=12,
        choices=DecisionMode.choices,
        default=DecisionMode.CONSULT_OEM,
        help_text=_("Applies to matters no rule covers."),
    )
    default_response_hours = models.PositiveIntegerField(
        _("default response time (hours)"), default=72, validators=[MinValueValidator(1)]
    )
    capacity_warning_pct = models.PositiveSmallIntegerField(
        _("capacity warning at %"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text=_("Load above this share of capacity raises a warning."),
    )
    capacity_critical_pct = models.PositiveSmallIntegerField(
        _("capacity critical at %"),
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text=_("Load above this share of capacity is critical."),
    )
    notes = models.TextField(_("notes"), blank=True)
    previous = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("based on"),
    )
    drafted_by = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    proposed_at = models.DateTimeField(null=True, blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    oem_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    oem_signed_at = models.DateTimeField(null=True, blank=True)
    ems_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ems_signed_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(
        max_length=64, blank=True, help_text=_("SHA-256 of the signed content.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = ContractQuerySet.as_manager()

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["partnership", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "version"], name="contract_version_unique"
            ),
            models.UniqueConstraint(
                fields=["partnership"],
                condition=Q(status="active"),
                name="one_active_contract_per_partnership",
            ),
        ]

    def __str__(self):
        return f"{self.title} v{self.version}"

    def get_absolute_url(self):
        return reverse_ids("contracts:detail", self.partnership_id, self.pk)

    def clean(self):
        errors = {}
        if (
            self.effective_from
            and self.effective_until
            and self.effective_until < self.effective_from
        ):
            errors["effective_until"] = _("The end must not be before the start.")
        if (self.capacity_warning_pct or 0) > (self.capacity_critical_pct or 0):
            errors["capacity_warning_pct"] = _(
                "The warning level must not be above the critical level."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def is_editable(self):
        return self.status == self.Status.DRAFT

    @property
    def is_signed_by_both(self):
        return bool(self.oem_signed_at and self.ems_signed_at)


class FlexBand(PortalModel):
    """A row of the flexibility table: how much demand may change at a distance from delivery."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="flex_bands")
    from_week = models.PositiveSmallIntegerField(_("from week"))
    to_week = models.PositiveSmallIntegerField(
        _("to week"), null=True, blank=True, help_text=_("Empty: open-ended.")
    )
    max_increase_pct = models.DecimalField(
        _("max. increase %"), max_digits=5, decimal_places=1, validators=[MinValueValidator(0)]
    )
    max_decrease_pct = models.DecimalField(
        _("max. decrease %"),
        max_digits=5,
        decimal_places=1,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    # Reschedule limits: how far a committed delivery in this band may move. Empty: no limit.
    max_pull_in_weeks = models.PositiveSmallIntegerField(
        _("max. pull-in (weeks)"),
        null=True,
        blank=True,
        help_text=_("How many weeks earlier a delivery in this band may be moved. Empty: any."),
    )
    max_push_out_weeks = models.PositiveSmallIntegerField(
        _("max. push-out (weeks)"),
        null=True,
        blank=True,
        help_text=_("How many weeks later a delivery in this band may be moved. Empty: any."),
    )
    lineage = models.UUIDField(default=uuid.uuid4, editable=False)
    history = HistoricalRecords()

    #: The terms of a band: what is edited, synced, signed and compared between versions.
    TERMS = (
        "from_week",
        "to_week",
        "max_increase_pct",
        "max_decrease_pct",
        "max_pull_in_weeks",
        "max_push_out_weeks",
    )

    class Meta:
        ordering = ["contract", "from_week"]
        verbose_name = _("flex band")
        verbose_name_plural = _("flex bands")

    def __str__(self):
        end = self.to_week if self.to_week is not None else "…"
        return (
            f"weeks {self.from_week}–{end}: +{self.max_increase_pct}% / −{self.max_decrease_pct}%"
        )

    def clean(self):
        if self.to_week is not None and self.to_week < self.from_week:
            raise ValidationError({"to_week": _("The band must end at or after its first week.")})


RACI_LETTERS = "RACI"


def normalise_letters(value: str) -> str:
    """'a r' → 'RA': keep RACI letters once each, in RACI order; reject anything else."""
    cleaned = "".join(ch for ch in (value or "").upper() if not ch.isspace() and ch not in ",/+")
    unknown = set(cleaned) - set(RACI_LETTERS)
    if unknown:
        raise ValidationError(
            _("Use only the letters R, A, C and I (not %(letters)s).")
            % {"letters": ", ".join(sorted(unknown))}
        )
    return "".join(letter for letter in RACI_LETTERS if letter in cleaned)


class ResponsibilityItemQuerySet(ScopedQuerySet):
    partnership_lookup = "contract__partnership"


class ResponsibilityItem(PortalModel):
    """One activity of the RACI matrix with the OEM's and the EMS's letters."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="matrix")
    area = models.CharField(_("area"), max_length=100)
    activity = models.CharField(_("activity"), max_length=200)
    oem = models.CharField(_("OEM"), max_length=4, blank=True)
    ems = models.CharField(_("EMS"), max_length=4, blank=True)
    position = models.PositiveIntegerField(default=0)
    lineage = models.UUIDField(default=uuid.uuid4, editable=False)
    history = HistoricalRecords()

    objects = ResponsibilityItemQuerySet.as_manager()

    class Meta:
        ordering = ["contract", "position", "id"]
        verbose_name = _("responsibility")
        verbose_name_plural = _("responsibility matrix")
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "area", "activity"], name="matrix_activity_unique"
            )
        ]

    def __str__(self):
        return f"{self.area} / {self.activity}: OEM {self.oem or '—'}, EMS {self.ems or '—'}"

    def clean(self):
        errors = {}
        for side in ("oem", "ems"):
            try:
                setattr(self, side, normalise_letters(getattr(self, side)))
            except ValidationError as exc:
                errors[side] = exc.messages
        if not errors:
            accountable = ("A" in self.oem) + ("A" in self.ems)
            if accountable != 1:
                errors["__all__"] = [
                    _("Exactly one side must be Accountable (A) for each activity.")
                ]
            elif "R" not in self.oem + self.ems:
                errors["__all__"] = [
                    _("At least one side must be Responsible (R) for each activity.")
                ]
        if errors:
            raise ValidationError(errors)


class DecisionRuleQuerySet(ScopedQuerySet):
    partnership_lookup = "contract__partnership"


#: Numeric facts a rule can set a threshold on: (field on the rule, fact name, label).
NUMERIC_CONDITIONS = [
    ("min_cost_impact", "cost_impact", _("cost impact of at least %(value)s %(currency)s")),
    ("min_price_change_pct", "price_change_pct", _("a price change of at least %(value)s%%")),
    ("min_delay_days", "delay_days", _("a delay of at least %(value)s days")),
    ("min_quantity", "quantity", _("a quantity of at least %(value)s")),
]
#: Yes/no facts a rule can require: (field on the rule, fact name, label).
FLAG_CONDITIONS = [
    ("if_safety_critical", "safety_critical", _("a safety-critical part")),
    ("if_outside_avl", "outside_avl", _("a part outside the approved vendor list")),
    ("if_fff_impact", "fff_impact", _("an impact on form, fit or function")),
    ("if_ipc_class3", "ipc_class3", _("an IPC class 3 product")),
    ("if_customer_visible", "customer_visible", _("a change the end customer can see")),
]


class DecisionRule(PortalModel):
    """Plain data, never code: a category, conditions that all must hold, and an outcome.

    Conditions only ever escalate: thresholds are lower bounds and flags are required facts,
    so a rule that matches a case also matches every worse case.
    """

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="rules")
    category = models.CharField(_("category"), max_length=32, choices=Category.choices)
    min_cost_impact = models.DecimalField(
        _("cost impact ≥"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    min_price_change_pct = models.DecimalField(
        _("price change ≥ %"),
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    min_delay_days = models.PositiveIntegerField(_("delay ≥ days"), null=True, blank=True)
    min_quantity = models.PositiveIntegerField(_("quantity ≥"), null=True, blank=True)
    if_safety_critical = models.BooleanField(_("safety-critical part"), default=False)
    if_outside_avl = models.BooleanField(_("outside approved vendor list"), default=False)
    if_fff_impact = models.BooleanField(_("form/fit/function impact"), default=False)
    if_ipc_class3 = models.BooleanField(_("IPC class 3 product"), default=False)
    if_customer_visible = models.BooleanField(_("visible to end customer"), default=False)
    outcome = models.CharField(_("outcome"), max_length=12, choices=DecisionMode.choices)
    response_hours = models.PositiveIntegerField(
        _("response time (hours)"),
        default=48,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 90)],
    )
    silence_is_consent = models.BooleanField(
        _("silence is consent"),
        default=False,
        help_text=_("No answer within the response time counts as yes."),
    )
    clause_ref = models.CharField(_("clause"), max_length=40, blank=True)
    clause_text = models.TextField(_("clause text"), blank=True)
    position = models.PositiveIntegerField(default=0)
    lineage = models.UUIDField(default=uuid.uuid4, editable=False)
    history = HistoricalRecords()

    objects = DecisionRuleQuerySet.as_manager()

    class Meta:
        ordering = ["contract", "category", "position", "id"]
        verbose_name = _("decision rule")
        verbose_name_plural = _("decision rules")

    def __str__(self):
        return self.describe()

    CONDITION_FIELDS = [f for f, _fact, _label in NUMERIC_CONDITIONS] + [
        f for f, _fact, _label in FLAG_CONDITIONS
    ]

    def conditions(self) -> tuple:
        """The rule's conditions as a comparable tuple (for duplicates and diffs)."""
        return tuple(getattr(self, f) for f in self.CONDITION_FIELDS)

    @property
    def pk_or_0(self) -> int:
        """A stable tie-breaker that also works for unsaved rules (the rule tester)."""
        return self.pk or 0

    @property
    def is_conditional(self) -> bool:
        # Identity, not equality: a threshold of 0 is a condition although 0 == False.
        return any(v is not None and v is not False for v in self.conditions())

    def condition_phrases(self, currency=None) -> list[str]:
        currency = currency or (self.contract.currency if self.contract_id else "EUR")
        phrases = []
        for field, _fact, label in NUMERIC_CONDITIONS:
            value = getattr(self, field)
            if value is not None:
                shown = f"{value.normalize():f}" if isinstance(value, Decimal) else value
                phrases.append(str(label) % {"value": shown, "currency": currency})
        phrases += [str(label) for field, _fact, label in FLAG_CONDITIONS if getattr(self, field)]
        return phrases

    def describe(self, currency=None) -> str:
        """The rule in plain language, as it appears in the PDF and the rule tester."""
        currency = currency or (self.contract.currency if self.contract_id else "EUR")
        phrases = self.condition_phrases(currency)
        when = (
            _("when it involves %(conditions)s") % {"conditions": _(" and ").join(phrases)}
            if phrases
            else _("always")
        )
        outcome = {
            DecisionMode.EMS_DECIDES: _("the EMS decides alone and informs the OEM"),
            DecisionMode.CONSULT_OEM: _("the EMS consults the OEM, who answers within %(hours)s h"),
            DecisionMode.OEM_APPROVAL: _("the OEM must approve in writing within %(hours)s h"),
        }[self.outcome] % {"hours": self.response_hours}
        text = f"{self.get_category_display()}, {when}: {outcome}"
        if self.silence_is_consent and self.outcome != DecisionMode.EMS_DECIDES:
            text += str(_("; no answer in time counts as consent"))
        return text + "."


class DecisionRequestQuerySet(ScopedQuerySet):
    def open(self):
        return self.filter(
            status__in=[DecisionRequest.Status.AWAITING_OEM, DecisionRequest.Status.OVERDUE]
        )


class DecisionRequest(PortalModel):
    class Status(models.TextChoices):
        DECIDED_BY_EMS = "decided_by_ems", _("Decided by EMS")
        AWAITING_OEM = "awaiting_oem", _("Awaiting OEM")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        DEEMED_ACCEPTED = "deemed_accepted", _("Deemed accepted (no answer)")
        OVERDUE = "overdue", _("Overdue")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, related_name="decision_requests"
    )
    contract = models.ForeignKey(
        Contract, on_delete=models.PROTECT, related_name="decision_requests"
    )
    number = models.PositiveIntegerField(_("number"))
    # NULL, not "", so the uniqueness per partnership ignores requests without one.
    external_id = models.CharField(_("external id"), max_length=100, null=True, blank=True)  # noqa: DJ001
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    category = models.CharField(_("category"), max_length=32, choices=Category.choices)
    # Facts the rules look at.
    cost_impact = models.DecimalField(
        _("cost impact"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    price_change_pct = models.DecimalField(
        _("price change %"),
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    delay_days = models.PositiveIntegerField(_("delay (days)"), null=True, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), null=True, blank=True)
    safety_critical = models.BooleanField(_("safety-critical part"), default=False)
    outside_avl = models.BooleanField(_("part outside the approved vendor list"), default=False)
    fff_impact = models.BooleanField(_("form/fit/function impact"), default=False)
    ipc_class3 = models.BooleanField(_("IPC class 3 product"), default=False)
    customer_visible = models.BooleanField(_("visible to end customer"), default=False)
    # Routing, recorded so every outcome can be explained.
    rule = models.ForeignKey(
        DecisionRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    mode = models.CharField(_("routed to"), max_length=12, choices=DecisionMode.choices)
    routing_explanation = models.TextField(_("why"), blank=True)
    response_hours = models.PositiveIntegerField(null=True, blank=True)
    silence_is_consent = models.BooleanField(default=False)
    due_at = models.DateTimeField(_("answer due"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    raised_by_org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    answer = models.TextField(_("answer"), blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = DecisionRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("decision request")
        verbose_name_plural = _("decision requests")
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "number"], name="decision_number_unique"
            ),
            models.UniqueConstraint(
                fields=["partnership", "external_id"],
                condition=Q(external_id__isnull=False),
                name="decision_external_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="decision_due_idx"),
            # the decision list's default order (contracts.lists)
            models.Index(fields=["partnership", "-created_at", "-id"], name="decision_list_idx"),
        ]

    def __str__(self):
        return f"{self.reference} {self.title}"

    def get_absolute_url(self):
        return reverse_ids("contracts:decision_detail", self.partnership_id, self.pk)

    @property
    def reference(self):
        return f"DR-{self.number:04d}"

    @property
    def is_open(self):
        return self.status in (self.Status.AWAITING_OEM, self.Status.OVERDUE)

    def facts(self) -> dict:
        return {fact: getattr(self, fact) for _f, fact, _l in NUMERIC_CONDITIONS + FLAG_CONDITIONS}

    def time_left(self):
        if not self.is_open or not self.due_at:
            return None
        return self.due_at - timezone.now()


class DecisionEvent(PortalModel):
    """The timeline of a decision request: every step, who and when."""

    class Kind(models.TextChoices):
        RAISED = "raised", _("Raised")
        ROUTED = "routed", _("Routed")
        COMMENT = "comment", _("Comment")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        DEEMED_ACCEPTED = "deemed_accepted", _("Deemed accepted")
        OVERDUE = "overdue", _("Overdue, escalated")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    request = models.ForeignKey(DecisionRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M}"


def attachment_path(instance, filename):
    return f"decisions/{instance.request.partnership_id}/{instance.request_id}/{uuid.uuid4().hex}/{filename}"


class DecisionAttachment(PortalModel):
    request = models.ForeignKey(
        DecisionRequest, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path)
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at"]

    def __str__(self):
        return self.name
