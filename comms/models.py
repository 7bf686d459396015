"""Communications: meetings (recurring, with time zones), agenda, minutes and action items,
reminders planned in the database, the open problem log, and shared goals."""

import secrets
import uuid
import zoneinfo

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from partnership.choices import PortalModel
from partnership.models import TIME_ZONE_CHOICES, Partnership
from partnership.routes import reverse_ids
from partnership.scoping import ScopedQuerySet

from .recurrence import series_starts


def not_over(now) -> Q:
    """Meetings with an occurrence still to come or under way (series included)."""
    return Q(last_end__gte=now) | Q(last_end__isnull=True)


class Meeting(PortalModel):
    class Kind(models.TextChoices):
        OPERATIONS = "operations", _("Operations review")
        QUALITY = "quality", _("Quality review")
        BUSINESS = "business", _("Quarterly business review")
        AD_HOC = "ad_hoc", _("Ad hoc")

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CANCELLED = "cancelled", _("Cancelled")

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="meetings")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.OPERATIONS)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        choices=TIME_ZONE_CHOICES,
        help_text=_("Recurrences keep their wall-clock time in this zone."),
    )
    location = models.CharField(_("location"), max_length=200, blank=True)
    conference_url = models.URLField(_("conference link"), blank=True)
    rrule = models.CharField(
        _("recurrence (RFC 5545)"),
        max_length=200,
        blank=True,
        help_text=_("e.g. FREQ=WEEKLY;COUNT=12. Empty: a single meeting."),
    )
    #: The end of the last occurrence (the meeting's own end if it does not repeat), kept by
    #: save(): what is over can be left out in SQL instead of expanding every series (#9).
    last_end = models.DateTimeField(null=True, editable=False)
    exdates = models.JSONField(
        default=list, blank=True, help_text=_("Cancelled occurrences (UTC ISO datetimes).")
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="overrides",
        help_text=_("For a single changed occurrence of a series."),
    )
    recurrence_id = models.DateTimeField(
        null=True, blank=True, help_text=_("The original start of that occurrence.")
    )
    organiser = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    attendees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="meetings"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    uid = models.CharField(max_length=80, unique=True, editable=False)
    sequence = models.PositiveIntegerField(
        default=0, help_text=_("Raised on every change, for calendar updates.")
    )
    external_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords(m2m_fields=[])

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["start"]
        indexes = [models.Index(fields=["partnership", "last_end"], name="meeting_last_end_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="meeting_ends_after_start"
            ),
            models.UniqueConstraint(
                fields=["parent", "recurrence_id"], name="one_override_per_occurrence"
            ),
            models.UniqueConstraint(
                fields=["partnership", "external_id"],
                condition=Q(external_id__isnull=False),
                name="meeting_external_id_unique",
            ),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        if not self.uid:
            self.uid = self.parent.uid if self.parent_id else f"{uuid.uuid4()}@oem-ems-portal"
            if self.parent_id:  # overrides share the series' UID, told apart by RECURRENCE-ID
                self.uid = f"{self.parent.uid}#{uuid.uuid4().hex[:8]}"
        self.last_end = self.compute_last_end()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "last_end"}
        super().save(*args, **kwargs)

    def compute_last_end(self):
        if not self.rrule or not self.start or not self.end:
            return self.end
        try:
            starts = series_starts(self.rrule, self.start, self.time_zone)
        except (ValueError, KeyError, zoneinfo.ZoneInfoNotFoundError):
            return None  # an invalid rule is refused by validation; unknown: never left out
        return (starts[-1] if starts else self.start) + (self.end - self.start)

    def get_absolute_url(self):
        return reverse_ids("comms:meeting", self.partnership_id, self.pk)

    @property
    def ical_uid(self):
        """Overrides use their series' UID in the calendar (with RECURRENCE-ID)."""
        return self.uid.split("#", 1)[0]


class AgendaItem(PortalModel):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="agenda")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(_("item"), max_length=300)
    notes = models.TextField(blank=True)
    source = models.CharField(
        max_length=20, blank=True, help_text=_("Where a proposed item came from.")
    )
    source_url = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["meeting", "position", "id"]

    def __str__(self):
        return self.title


class Minutes(PortalModel):
    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="minutes")
    notes = models.TextField(_("notes"), blank=True)
    decisions = models.TextField(_("decisions"), blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self):
        return f"Minutes of {self.meeting}"


#: Most severe first: the problem list's sort (and its index).
SEVERITY_RANK = models.Case(
    *(
        models.When(severity=s, then=models.Value(n))
        for n, s in enumerate(["critical", "high", "medium", "low"])
    ),
    output_field=models.IntegerField(),
)


class Problem(PortalModel):
    class Severity(models.TextChoices):
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")
        CRITICAL = "critical", _("Critical")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        INVESTIGATING = "investigating", _("Investigating")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="problems")
    number = models.PositiveIntegerField()
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"))
    severity = models.CharField(
        _("severity"), max_length=8, choices=Severity.choices, default=Severity.MEDIUM
    )
    status = models.CharField(
        _("status"), max_length=14, choices=Status.choices, default=Status.OPEN
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.TextField(_("resolution"), blank=True)
    product = models.ForeignKey(
        "schedules.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    production_run = models.ForeignKey(
        "schedules.ProductionRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    audit = models.ForeignKey(
        "audits.Audit", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decision_request = models.ForeignKey(
        "contracts.DecisionRequest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    external_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # the problem list's default order (comms.lists), so a page reads 50 index entries
            # instead of sorting every open problem of the partnership (#9)
            models.Index(
                "partnership",
                SEVERITY_RANK,
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="problem_list_idx",
            ),
            # counts of open problems (the list's, the dashboard's by severity): index-only
            models.Index(fields=["partnership", "status", "severity"], name="problem_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["partnership", "number"], name="problem_number_unique"),
            models.UniqueConstraint(
                fields=["partnership", "external_id"],
                condition=Q(external_id__isnull=False),
                name="problem_external_id_unique",
            ),
        ]

    def __str__(self):
        return f"P-{self.number:04d} {self.title}"

    def get_absolute_url(self):
        return reverse_ids("comms:problem", self.partnership_id, self.pk)


class CommentQuerySet(ScopedQuerySet):
    partnership_lookup = "problem__partnership"


class ProblemComment(PortalModel):
    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    attachment = models.FileField(upload_to="problems/%Y/%m/", blank=True, max_length=300)
    attachment_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.author}: {self.text[:40]}"


class ActionItem(PortalModel):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, related_name="action_items"
    )
    meeting = models.ForeignKey(
        Meeting, on_delete=models.SET_NULL, null=True, blank=True, related_name="action_items"
    )
    problem = models.ForeignKey(
        Problem, on_delete=models.SET_NULL, null=True, blank=True, related_name="action_items"
    )
    title = models.CharField(_("action"), max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="action_items",
        verbose_name=_("owner"),
    )
    due_date = models.DateField(_("due date"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [
            models.Index(fields=["status", "due_date"], name="action_item_due_idx"),
            # the action list's default order (comms.lists)
            models.Index(
                fields=["partnership", "status", "due_date", "id"], name="action_list_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "external_id"],
                condition=Q(external_id__isnull=False),
                name="action_item_external_id_unique",
            ),
        ]

    def __str__(self):
        return self.title


class Goal(PortalModel):
    class Horizon(models.TextChoices):
        SHORT = "short", _("Short-term")
        LONG = "long", _("Long-term")

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="goals")
    horizon = models.CharField(_("horizon"), max_length=5, choices=Horizon.choices)
    title = models.CharField(_("goal"), max_length=200)
    metric = models.CharField(
        _("metric"), max_length=100, help_text=_("e.g. on-time delivery, PPM, lead time")
    )
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    baseline = models.DecimalField(_("baseline"), max_digits=14, decimal_places=2)
    target = models.DecimalField(_("target"), max_digits=14, decimal_places=2)
    current = models.DecimalField(
        _("current value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    due_date = models.DateField(_("due date"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    external_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["horizon", "due_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "external_id"],
                condition=Q(external_id__isnull=False),
                name="goal_external_id_unique",
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("comms:goals", args=[self.partnership_id]) + f"#goal-{self.pk}"

    @property
    def progress_pct(self):
        """How far from baseline to target (works for goals that go down, like PPM)."""
        if self.current is None or self.target == self.baseline:
            return None
        return max(
            0,
            min(
                100,
                round(float((self.current - self.baseline) / (self.target - self.baseline)) * 100),
            ),
        )


class GoalMeasurementQuerySet(ScopedQuerySet):
    partnership_lookup = "goal__partnership"


class GoalMeasurement(PortalModel):
    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="measurements")
    date = models.DateField()
    value = models.DecimalField(max_digits=14, decimal_places=2)

    objects = GoalMeasurementQuerySet.as_manager()

    class Meta:
        ordering = ["goal", "date"]
        constraints = [
            models.UniqueConstraint(fields=["goal", "date"], name="one_measurement_per_day")
        ]

    def __str__(self):
        return f"{self.date}: {self.value}"


class ReminderQuerySet(ScopedQuerySet):
    partnership_lookup = "meeting__partnership"


class Reminder(PortalModel):
    """One row per meeting occurrence × recipient × offset. The database, not the broker,
    decides what is due and what was sent."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="reminders")
    occurrence_start = models.DateTimeField()
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    offset_minutes = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = ReminderQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "occurrence_start", "recipient", "offset_minutes"],
                name="one_reminder_per_offset",
            ),
        ]
        # The due scan reads only unsent rows in due order: a small partial index.
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(sent_at__isnull=True), name="reminder_due_idx"
            )
        ]

    def __str__(self):
        return f"{self.meeting} −{self.offset_minutes} min → {self.recipient}"


class CalendarFeed(PortalModel):
    """A private, revocable iCalendar feed URL per user."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"feed of {self.user}"

    @staticmethod
    def new_token():
        return secrets.token_urlsafe(32)
