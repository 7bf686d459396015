"""What machines need to sync safely: organisation API keys with scopes, idempotent POSTs,
tombstones for deletions, and signed outgoing webhooks with a delivery log."""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from partnership.choices import PortalModel
from partnership.models import Organization, Partnership


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiKey(PortalModel):
    """A key that belongs to an organisation, not a person. Only its SHA-256 is stored.

    ``scopes`` is a list like ``["contracts:read", "schedules:write"]``; ``*:read`` and
    ``*:write`` cover every domain. Write implies read.
    """

    PREFIX = "ppk_"
    DOMAINS = ["partnership", "contracts", "schedules", "audits", "comms", "webhooks"]

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100)
    key_prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_(
            "A service user of the organisation in whose name the key writes (history, roles)."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    throttle_rate = models.CharField(max_length=20, default="600/min")

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def new_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    def allows(self, domain: str, write: bool) -> bool:
        wanted = (
            {f"{domain}:write", "*:write"}
            if write
            else {f"{domain}:read", f"{domain}:write", "*:read", "*:write"}
        )
        return bool(wanted & set(self.scopes))


class IdempotencyRecord(PortalModel):
    """The stored answer to a POST with an Idempotency-Key: a replay returns it unchanged."""

    key = models.CharField(max_length=255)
    owner = models.CharField(
        max_length=100, help_text=_("Who sent it: api key or user, e.g. 'key:12'.")
    )
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_per_owner")
        ]

    def __str__(self):
        return f"{self.owner} {self.key}"


class Tombstone(PortalModel):
    """A deleted (or closed-for-good) object, so an incremental sync learns about it."""

    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, related_name="tombstones"
    )
    object_type = models.CharField(
        max_length=60, help_text=_("API resource name, e.g. 'products'.")
    )
    object_id = models.BigIntegerField()
    external_id = models.CharField(max_length=100, blank=True)
    deleted_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["deleted_at", "id"]
        indexes = [
            models.Index(
                fields=["partnership", "object_type", "deleted_at"], name="tombstone_sync_idx"
            )
        ]

    def __str__(self):
        return f"{self.object_type} {self.object_id}"


class WebhookSubscription(PortalModel):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhooks"
    )
    partnership = models.ForeignKey(
        Partnership,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: every partnership of the organisation."),
    )
    url = models.URLField(_("URL"), max_length=500)
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=64, editable=False, default="")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.url

    def save(self, *args, **kwargs):
        if not self.secret:
            self.secret = secrets.token_hex(32)
        super().save(*args, **kwargs)


class WebhookDelivery(PortalModel):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        RETRYING = "retrying", _("Retrying")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(default=uuid.uuid4)
    event = models.CharField(max_length=60)
    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="+")
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due_idx")]

    def __str__(self):
        return f"{self.event} → {self.subscription.url} ({self.status})"
