"""Production schedules: products and their NPI readiness, production runs, weekly capacity
and demand, the flex-term comparison of demand revisions, and capacity alerts."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from partnership.choices import PortalModel
from partnership.models import Partnership
from partnership.routes import reverse_ids
from partnership.scoping import ScopedQuerySet


class Product(PortalModel):
    class IpcClass(models.IntegerChoices):
        CLASS_1 = 1, _("Class 1 — general")
        CLASS_2 = 2, _("Class 2 — dedicated service")
        CLASS_3 = 3, _("Class 3 — high reliability")

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="products")
    part_number = models.CharField(_("OEM part number"), max_length=60)
    revision = models.CharField(_("revision"), max_length=20, default="A")
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    ipc_class = models.PositiveSmallIntegerField(
        _("IPC-A-610 class"), choices=IpcClass.choices, default=2
    )
    units_per_hour = models.DecimalField(
        _("units per hour"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0.01)],
        help_text=_("Line rate, to turn demand into hours of capacity."),
    )
    external_id = models.CharField(_("external id"), max_length=100, null=True, blank=True)  # noqa: DJ001
    released_at = models.DateTimeField(_("released for launch"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["part_number", "revision"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "part_number", "revision"], name="product_revision_unique"
            ),
            models.UniqueConstraint(
                fields=["partnership", "external_id"],
                condition=Q(external_id__isnull=False),
                name="product_external_id_unique",
            ),
        ]

    def __str__(self):
        return f"{self.part_number} rev {self.revision} — {self.name}"

    def get_absolute_url(self):
        return reverse_ids("schedules:product", self.partnership_id, self.pk)


class ReadinessItemQuerySet(ScopedQuerySet):
    partnership_lookup = "product__partnership"


class ReadinessItem(PortalModel):
    """One document of the NPI package a launch needs."""

    class Kind(models.TextChoices):
        BOM = "bom", _("Bill of materials (MPNs, designators, alternates)")
        GERBER = "gerber", _("Gerber RS-274X incl. paste layers and drill files")
        PICK_PLACE = "pick_place", _("Pick-and-place / centroid")
        ASSEMBLY_DRAWING = "assembly_drawing", _("Assembly drawing")
        TEST_SPEC = "test_spec", _("Test specification and programs")
        SOURCES = "sources", _("Approved / preferred component sources")
        INSPECTION_SCOPE = "inspection_scope", _("Inspection and test scope (AOI, X-ray, ICT, FCT)")

    class Status(models.TextChoices):
        MISSING = "missing", _("Missing")
        SUBMITTED = "submitted", _("Submitted")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="readiness")
    kind = models.CharField(_("document"), max_length=20, choices=Kind.choices)
    required = models.BooleanField(_("required for launch"), default=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.MISSING
    )
    rejection_reason = models.TextField(_("reason for rejection"), blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = ReadinessItemQuerySet.as_manager()

    class Meta:
        ordering = ["product", "id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "kind"], name="readiness_kind_unique")
        ]

    def __str__(self):
        return (
            f"{self.product.part_number}: {self.get_kind_display()} ({self.get_status_display()})"
        )


def readiness_upload_path(instance, filename):
    # Never trust the client's name for the path: a random folder per version keeps names apart.
    return f"readiness/{instance.item.product.partnership_id}/{instance.item.product_id}/{uuid.uuid4().hex}/{filename}"


class ReadinessFile(PortalModel):
    """A version of a readiness document. Files are served only through a scoped view."""

    item = models.ForeignKey(ReadinessItem, on_delete=models.CASCADE, related_name="files")
    version = models.PositiveIntegerField()
    file = models.FileField(upload_to=readiness_upload_path, max_length=300)
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "version"], name="readiness_file_version_unique"
            )
        ]

    def __str__(self):
        return f"{self.name} v{self.version}"


def check_run_dates(launch, due, field="due_date", message=None) -> None:
    """A run is due on or after its launch — for its planned dates (``clean()``, with the
    ``run_due_after_launch`` constraint behind it) and for dates proposed or requested."""
    if launch and due and due < launch:
        raise ValidationError({field: message or _("The due date must not be before the launch.")})


class ProductionRun(PortalModel):
    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        PROPOSED = "proposed", _("New dates proposed by EMS")
        CONFIRMED = "confirmed", _("Confirmed")
        IN_PRODUCTION = "in_production", _("In production")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    class Priority(models.IntegerChoices):
        LOW = 1, _("Low")
        NORMAL = 2, _("Normal")
        HIGH = 3, _("High")
        RUSH = 4, _("Rush")

    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, related_name="production_runs"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="runs")
    external_id = models.CharField(_("external id"), max_length=100, null=True, blank=True)  # noqa: DJ001
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    planned_launch = models.DateField(_("planned launch"))
    due_date = models.DateField(_("due date"))
    proposed_launch = models.DateField(_("proposed launch"), null=True, blank=True)
    proposed_due = models.DateField(_("proposed due date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=14, choices=Status.choices, default=Status.PLANNED
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["planned_launch", "-priority", "id"]
        indexes = [
            # the run list's default order (schedules.lists): a page reads 50 index entries
            # instead of sorting every run of the partnership (#9)
            models.Index(
                fields=["partnership", "planned_launch", "-priority", "-id"], name="run_list_idx"
            ),
            # the dashboard's next launches across an organisation's partnerships: walked in
            # launch order, it stops at the sixth (12 ms → 0.4 ms at 50,000 runs)
            models.Index(
                fields=["planned_launch"],
                condition=~Q(status__in=["completed", "cancelled"]),
                name="run_open_launch_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "external_id"],
                condition=Q(external_id__isnull=False),
                name="run_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(due_date__gte=models.F("planned_launch")), name="run_due_after_launch"
            ),
        ]

    def __str__(self):
        return f"{self.product.part_number} × {self.quantity} ({self.planned_launch:%Y-%m-%d})"

    def clean(self):
        # A field error here, so ``full_clean`` skips the constraint's message under __all__.
        check_run_dates(self.planned_launch, self.due_date)

    def get_absolute_url(self):
        return reverse_ids("schedules:run", self.partnership_id, self.pk)


class PriorityRequestQuerySet(ScopedQuerySet):
    partnership_lookup = "run__partnership"


class PriorityRequest(PortalModel):
    """The OEM asks for a re-prioritisation (rush); the EMS accepts or declines."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")

    run = models.ForeignKey(
        ProductionRun, on_delete=models.CASCADE, related_name="priority_requests"
    )
    priority = models.PositiveSmallIntegerField(choices=ProductionRun.Priority.choices)
    requested_due = models.DateField(_("requested due date"), null=True, blank=True)
    reason = models.TextField(_("reason"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    answer = models.TextField(blank=True)

    objects = PriorityRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self):
        return f"{self.run}: {self.get_priority_display()} ({self.get_status_display()})"


class CapacityUnit(models.TextChoices):
    UNITS = "units", _("units")
    HOURS = "hours", _("line hours")


class CapacityPlan(PortalModel):
    """Weekly capacity the EMS publishes for the partnership (optionally per line)."""

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="capacity")
    week = models.DateField(_("week (Monday)"))
    line = models.CharField(_("line"), max_length=40, blank=True, default="")
    amount = models.DecimalField(
        _("capacity"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    unit = models.CharField(
        _("unit"), max_length=5, choices=CapacityUnit.choices, default=CapacityUnit.UNITS
    )
    external_id = models.CharField(_("external id"), max_length=100, null=True, blank=True)  # noqa: DJ001
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["week", "line"]
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "week", "line"], name="capacity_week_line_unique"
            ),
            models.CheckConstraint(condition=Q(week__week_day=2), name="capacity_week_is_monday"),
        ]

    def __str__(self):
        return f"{self.week:%G-W%V} {self.line or '—'}: {self.amount} {self.unit}"


class DemandPublication(PortalModel):
    """A versioned demand forecast: the OEM publishes all its weekly lines at once."""

    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, related_name="demand_publications"
    )
    version = models.PositiveIntegerField()
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(auto_now_add=True)
    reference_week = models.DateField(
        help_text=_("Monday of the week the forecast was published; weeks out count from it.")
    )
    note = models.CharField(max_length=300, blank=True)
    external_id = models.CharField(_("external id"), max_length=100, null=True, blank=True)  # noqa: DJ001

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["partnership", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["partnership", "version"], name="demand_version_unique")
        ]

    def __str__(self):
        return f"Forecast v{self.version} ({self.published_at:%Y-%m-%d})"


class DemandLineQuerySet(ScopedQuerySet):
    partnership_lookup = "publication__partnership"


class DemandLine(PortalModel):
    publication = models.ForeignKey(
        DemandPublication, on_delete=models.CASCADE, related_name="lines"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="demand")
    week = models.DateField()
    quantity = models.PositiveIntegerField()

    objects = DemandLineQuerySet.as_manager()

    class Meta:
        ordering = ["week", "product"]
        constraints = [
            models.UniqueConstraint(
                fields=["publication", "product", "week"], name="demand_line_unique"
            )
        ]
        indexes = [models.Index(fields=["publication", "week"], name="demand_pub_week_idx")]

    def __str__(self):
        return f"{self.product_id} {self.week}: {self.quantity}"


class DemandChangeQuerySet(ScopedQuerySet):
    partnership_lookup = "publication__partnership"


class DemandChange(PortalModel):
    """A line that changed from the previous publication, classified against the flex table."""

    class Verdict(models.TextChoices):
        WITHIN = "within", _("Within flex terms")
        INCREASE_BREACH = "increase_breach", _("Increase beyond the band")
        CANCELLATION = "cancellation", _("Decrease beyond the band (cancellation)")
        FROZEN = "frozen", _("Change inside the frozen zone")
        NON_BINDING = "non_binding", _("Non-binding horizon")

    publication = models.ForeignKey(
        DemandPublication, on_delete=models.CASCADE, related_name="changes"
    )
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    weeks_out = models.IntegerField()
    previous_quantity = models.PositiveIntegerField()
    new_quantity = models.PositiveIntegerField()
    band_label = models.CharField(max_length=60, blank=True)
    max_increase_pct = models.DecimalField(max_digits=5, decimal_places=1, null=True)
    max_decrease_pct = models.DecimalField(max_digits=5, decimal_places=1, null=True)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    exposure = models.DecimalField(
        _("long-lead exposure"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Long-lead material the EMS already holds for the units this change cuts."),
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    objects = DemandChangeQuerySet.as_manager()

    class Meta:
        ordering = ["week", "product"]

    def __str__(self):
        return f"{self.week}: {self.previous_quantity} → {self.new_quantity} ({self.verdict})"

    @property
    def is_breach(self):
        return self.verdict in (
            self.Verdict.INCREASE_BREACH,
            self.Verdict.CANCELLATION,
            self.Verdict.FROZEN,
        )


class CapacityAlert(PortalModel):
    class Kind(models.TextChoices):
        OVERLOAD = "overload", _("Load above capacity")
        FLEX_BREACH = "flex_breach", _("Flex terms broken")

    class Severity(models.TextChoices):
        WARNING = "warning", _("Warning")
        CRITICAL = "critical", _("Critical")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("Resolved")

    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, related_name="capacity_alerts"
    )
    week = models.DateField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    demand = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    capacity = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    utilisation = models.DecimalField(
        max_digits=7, decimal_places=1, null=True, help_text=_("% of capacity")
    )
    message = models.CharField(max_length=300, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["week", "kind"]
        constraints = [
            # Never two unresolved alerts for the same week and kind.
            models.UniqueConstraint(
                fields=["partnership", "week", "kind"],
                condition=~Q(status="resolved"),
                name="one_live_alert_per_week",
            )
        ]

    def __str__(self):
        return f"{self.week:%G-W%V} {self.get_kind_display()} ({self.get_severity_display()})"


class LongLeadItem(PortalModel):
    """A component with a long lead time that the EMS buys ahead for a product.

    The EMS keeps this list so both sides can see what a forecast cut would leave it holding:
    material for a week is ordered ``lead_time_weeks`` before it, so a cut inside that horizon
    hits material already bought (the excess-and-obsolete exposure of the agreement)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="long_lead_items")
    # The product's partnership, copied on save: external ids are unique per partnership, and a
    # constraint cannot reach through the product.
    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, related_name="+", editable=False
    )
    component = models.CharField(_("component (MPN)"), max_length=100)
    description = models.CharField(_("description"), max_length=200, blank=True)
    lead_time_weeks = models.PositiveSmallIntegerField(
        _("lead time (weeks)"), validators=[MinValueValidator(1)]
    )
    quantity_per_assembly = models.DecimalField(
        _("quantity per assembly"),
        max_digits=10,
        decimal_places=3,
        default=1,
        validators=[MinValueValidator(Decimal("0.001"))],
    )
    unit_price = models.DecimalField(
        _("unit price"), max_digits=12, decimal_places=4, validators=[MinValueValidator(0)]
    )
    external_id = models.CharField(_("external id"), max_length=100, null=True, blank=True)  # noqa: DJ001
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["product", "-lead_time_weeks", "component"]
        verbose_name = _("long-lead item")
        verbose_name_plural = _("long-lead items")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "component"],
                name="long_lead_component_unique",
                violation_error_message=_("This component is already listed for the product."),
            ),
            models.UniqueConstraint(
                fields=["partnership", "external_id"],
                condition=Q(external_id__isnull=False),
                name="long_lead_external_id_unique",
                violation_error_message=_(
                    "Another long-lead item of this partnership has this external id."
                ),
            ),
        ]

    def __str__(self):
        return f"{self.component} ({self.lead_time_weeks} wk)"

    def save(self, *args, **kwargs):
        if self.product_id and not self.partnership_id:
            self.partnership_id = self.product.partnership_id
        super().save(*args, **kwargs)

    @property
    def cost_per_assembly(self) -> Decimal:
        return self.quantity_per_assembly * self.unit_price


class RunChangeQuerySet(ScopedQuerySet):
    partnership_lookup = "run__partnership"


class RunChange(PortalModel):
    """The OEM moved or resized a committed run: judged against the contract's flex table."""

    class Verdict(models.TextChoices):
        WITHIN = "within", _("Within flex terms")
        PULL_IN_BREACH = "pull_in_breach", _("Pulled in beyond the band")
        PUSH_OUT_BREACH = "push_out_breach", _("Pushed out beyond the band")
        INCREASE_BREACH = "increase_breach", _("Increase beyond the band")
        CANCELLATION = "cancellation", _("Decrease beyond the band (cancellation)")
        FROZEN = "frozen", _("Change inside the frozen zone")
        NON_BINDING = "non_binding", _("Non-binding horizon")

    run = models.ForeignKey(ProductionRun, on_delete=models.CASCADE, related_name="changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    weeks_out = models.IntegerField(help_text=_("Weeks from the change to the original due date."))
    band_label = models.CharField(max_length=60, blank=True)
    previous_launch = models.DateField()
    previous_due = models.DateField()
    new_launch = models.DateField()
    new_due = models.DateField()
    previous_quantity = models.PositiveIntegerField()
    new_quantity = models.PositiveIntegerField()
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    exposure = models.DecimalField(
        _("long-lead exposure"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    objects = RunChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{self.run_id}: {self.previous_due} → {self.new_due} ({self.verdict})"

    @property
    def is_breach(self):
        return self.verdict not in (self.Verdict.WITHIN, self.Verdict.NON_BINDING)

    @property
    def shift_days(self) -> int:
        return (self.new_due - self.previous_due).days
