"""Core domain: users, organisations, memberships and partnerships — the tenant boundary."""

import hashlib
import secrets
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .choices import FrozenChoices, PortalModel
from .routes import reverse_ids

TIME_ZONE_CHOICES = [
    ("UTC", "UTC"),
    *sorted((tz, tz) for tz in zoneinfo.available_timezones() if "/" in tz),
]
#: The same, for form fields (see FrozenChoices).
TIME_ZONE_FORM_CHOICES = FrozenChoices(TIME_ZONE_CHOICES)


class UserManager(DjangoUserManager):
    """Users log in with their e-mail address; there is no username."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    username = None
    email = models.EmailField(_("e-mail address"), unique=True)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        choices=TIME_ZONE_CHOICES,
        help_text=_("Dates and times are shown in this zone. Empty: your organisation's."),
    )
    language = models.CharField(_("language"), max_length=8, blank=True, choices=settings.LANGUAGES)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]

    def __str__(self):
        return self.get_full_name() or self.email

    def organizations(self):
        return Organization.objects.filter(memberships__user=self)


class OrganizationQuerySet(models.QuerySet):
    def for_user(self, user):
        """The user's own organisations and those they are in partnership with."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        scoped = Partnership.objects.for_user(user)
        return self.filter(
            Q(pk__in=Membership.objects.filter(user=user).values("organization_id"))
            | Q(pk__in=scoped.values("oem_id"))
            | Q(pk__in=scoped.values("ems_id"))
        )


class Organization(PortalModel):
    class Kind(models.TextChoices):
        OEM = "oem", _("OEM")
        EMS = "ems", _("EMS")

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=3, choices=Kind.choices)
    country = models.CharField(
        _("country"), max_length=2, blank=True, help_text=_("ISO 3166 code, e.g. PL")
    )
    website = models.URLField(_("website"), blank=True)
    founded_year = models.PositiveSmallIntegerField(_("founded"), null=True, blank=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", choices=TIME_ZONE_CHOICES
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = _unique_slug(Organization, self.name)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("organization_detail", args=[self.pk])

    def clean(self):
        if self.founded_year and not 1800 <= self.founded_year <= timezone.now().year:
            raise ValidationError({"founded_year": _("Enter a year between 1800 and this year.")})
        if self.country:
            self.country = self.country.upper()


def _unique_slug(model, name):
    base = slugify(name)[:180] or "org"
    slug, n = base, 1
    while model.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


class Role(models.TextChoices):
    BUYER = "buyer", _("Buyer")
    QUALITY = "quality", _("Quality engineer")
    ACCOUNT_MANAGER = "account_manager", _("Account manager")
    PLANNER = "planner", _("Production planner")
    VIEWER = "viewer", _("Viewer")
    ADMIN = "admin", _("Organisation admin")


class Membership(PortalModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["organization__name", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="one_membership_per_org")
        ]

    def __str__(self):
        return f"{self.user} @ {self.organization} ({self.get_role_display()})"

    @property
    def is_admin(self):
        return self.role == Role.ADMIN

    @property
    def can_write(self):
        return self.role != Role.VIEWER


class PartnershipQuerySet(models.QuerySet):
    def for_user(self, user, organization=None):
        """Partnerships the user's organisations are party to (optionally only one of them).

        This is the tenant boundary every other queryset in the portal starts from.
        """
        if not getattr(user, "is_authenticated", False):
            return self.none()
        orgs = Membership.objects.filter(user=user).values("organization_id")
        if organization is not None:
            orgs = orgs.filter(organization=organization)
        return self.filter(Q(oem_id__in=orgs) | Q(ems_id__in=orgs))

    def with_parties(self):
        return self.select_related("oem", "ems", "oem_contact", "ems_contact")


class Partnership(PortalModel):
    class Status(models.TextChoices):
        PROSPECT = "prospect", _("Prospect")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        ENDED = "ended", _("Ended")

    oem = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="partnerships_as_oem",
        limit_choices_to={"kind": Organization.Kind.OEM},
        verbose_name=_("OEM"),
    )
    ems = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="partnerships_as_ems",
        limit_choices_to={"kind": Organization.Kind.EMS},
        verbose_name=_("EMS"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PROSPECT
    )
    start_date = models.DateField(_("start date"), null=True, blank=True)
    description = models.TextField(
        _("scope"), blank=True, help_text=_("What the EMS builds for the OEM.")
    )
    oem_contact = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("OEM key contact"),
    )
    ems_contact = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("EMS key contact"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = PartnershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("partnership")
        verbose_name_plural = _("partnerships")
        ordering = ["oem__name", "ems__name"]
        constraints = [
            models.UniqueConstraint(fields=["oem", "ems"], name="one_partnership_per_pair")
        ]

    def __str__(self):
        return f"{self.oem} ↔ {self.ems}"

    def get_absolute_url(self):
        return reverse_ids("partnership_detail", self.pk)

    def clean(self):
        errors = {}
        if self.oem_id and self.oem.kind != Organization.Kind.OEM:
            errors["oem"] = _("This organisation is not an OEM.")
        if self.ems_id and self.ems.kind != Organization.Kind.EMS:
            errors["ems"] = _("This organisation is not an EMS.")
        if (
            self.oem_contact_id
            and self.oem_id
            and not self.oem.memberships.filter(user_id=self.oem_contact_id).exists()
        ):
            errors["oem_contact"] = _("The OEM key contact must be a member of the OEM.")
        if (
            self.ems_contact_id
            and self.ems_id
            and not self.ems.memberships.filter(user_id=self.ems_contact_id).exists()
        ):
            errors["ems_contact"] = _("The EMS key contact must be a member of the EMS.")
        if errors:
            raise ValidationError(errors)

    def side_of(self, organization):
        """'oem' or 'ems' for a party of this partnership, None otherwise."""
        if organization is None:
            return None
        if organization.pk == self.oem_id:
            return Organization.Kind.OEM
        if organization.pk == self.ems_id:
            return Organization.Kind.EMS
        return None

    def counterpart_of(self, organization):
        return self.ems if organization and organization.pk == self.oem_id else self.oem

    def membership_of(self, user):
        """The user's membership on one side of this partnership (OEM side first)."""
        return (
            Membership.objects.filter(user=user, organization_id__in=[self.oem_id, self.ems_id])
            .select_related("organization")
            .order_by("-organization__kind")  # "oem" sorts after "ems"
            .first()
        )


class Invitation(PortalModel):
    """An organisation admin invites a colleague by e-mail; the link is single-use and expires."""

    VALID_FOR = timedelta(days=7)

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.VIEWER)
    token = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.email} → {self.organization}"

    def save(self, *args, **kwargs):
        if not self.token:
            self.token = secrets.token_urlsafe(32)
        if not self.expires_at:
            self.expires_at = timezone.now() + self.VALID_FOR
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("invitation_accept", args=[self.token])

    @property
    def is_pending(self):
        return not self.accepted_at and not self.revoked_at and self.expires_at > timezone.now()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiToken(PortalModel):
    """A personal API token. Only a SHA-256 hash is stored; the key is shown once at creation."""

    PREFIX = "pp_"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(
        _("name"), max_length=100, help_text=_("What uses this token, e.g. 'SAP sync'.")
    )
    key_prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name, expires_at=None):
        """Create a token; returns (token, plaintext key). The key cannot be recovered later."""
        key = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            key_prefix=key[:10],
            key_hash=cls.hash_key(key),
            expires_at=expires_at,
        )
        return token, key

    @property
    def is_active(self):
        return not self.revoked_at and (not self.expires_at or self.expires_at > timezone.now())


class NotificationQuerySet(models.QuerySet):
    def unread(self):
        return self.filter(read_at__isnull=True)


class Notification(PortalModel):
    """Something a user should know about, shown in the portal and (usually) e-mailed."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, related_name="notifications"
    )
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self):
        return self.subject


def default_reminder_offsets():
    return [24 * 60, 60]


class NotificationSettings(PortalModel):
    """Per-user choices: which e-mails to receive and when meeting reminders come."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, related_name="notification_settings"
    )
    email_enabled = models.BooleanField(
        _("send me e-mail"), default=True, help_text=_("In-app notifications are always kept.")
    )
    reminder_offsets = models.JSONField(
        _("meeting reminders (minutes before)"), default=default_reminder_offsets
    )

    def __str__(self):
        return f"settings of {self.user}"

    @classmethod
    def for_user(cls, user):
        return getattr(user, "notification_settings", None) or cls(user=user)


def job_file_path(instance, filename):
    """A random name: job files are private downloads, never guessable URLs."""
    return f"jobs/{secrets.token_hex(16)}/{filename}"


class BackgroundJob(PortalModel):
    """Long work a user started (a large export, a PDF batch): its progress and its file.

    The row is the source of truth the progress bar polls; the file lives in private storage
    and is served only to the owner while they still belong to the partnership."""

    class Kind(models.TextChoices):
        EXPORT = "export", _("Export")
        AUDIT_REPORTS = "audit_reports", _("Audit reports (ZIP)")
        IMPORT = "import", _("Import")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="background_jobs")
    partnership = models.ForeignKey(
        Partnership,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="background_jobs",
        help_text=_("Empty for lists across the owner's partnerships."),
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    file = models.FileField(upload_to=job_file_path, blank=True, max_length=300)
    filename = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], name="backgroundjob_created_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"

    def get_absolute_url(self):
        return reverse("job", args=[self.pk])

    @property
    def finished(self):
        return self.status in (self.Status.DONE, self.Status.FAILED)
