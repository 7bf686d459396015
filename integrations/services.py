"""Organisation API keys: issue and revoke.

A key belongs to an organisation, not a person. Each key gets its own service user with a
membership (and so a role) in the organisation: everything the key does runs through the same
scoping, role checks and history as a person's request, in that service user's name.
"""

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from partnership.models import Membership, Organization, Role, User
from partnership.permissions import require_org_admin

from .models import ApiKey

# Roles a key may act with. Never admin: a leaked key must not manage the organisation.
KEY_ROLES = [Role.BUYER, Role.QUALITY, Role.ACCOUNT_MANAGER, Role.PLANNER, Role.VIEWER]

# Service users live in the reserved ``.invalid`` TLD (RFC 2606): no mail can ever reach them.
SERVICE_EMAIL_DOMAIN = "keys.invalid"


def valid_scopes() -> list[str]:
    """Every scope a key can hold: ``<domain>:read|write`` per domain, plus ``*:read|write``."""
    return [
        f"{domain}:{access}" for domain in [*ApiKey.DOMAINS, "*"] for access in ("read", "write")
    ]


def is_service_user(user) -> bool:
    return bool(getattr(user, "email", "")) and user.email.endswith("." + SERVICE_EMAIL_DOMAIN)


API_KEY_ADMINS = gettext_lazy("Only an organisation admin can manage API keys.")


def _clean_scopes(scopes) -> list[str]:
    if isinstance(scopes, str) or not scopes:
        raise ValidationError({"scopes": _("Choose at least one scope.")})
    allowed = set(valid_scopes())
    unknown = sorted({str(s) for s in scopes} - allowed)
    if unknown:
        raise ValidationError(
            {"scopes": _("Unknown scope: %(scopes)s.") % {"scopes": ", ".join(unknown)}}
        )
    # Keep the canonical order, drop duplicates.
    wanted = set(scopes)
    return [s for s in valid_scopes() if s in wanted]


def _service_email(organization: Organization) -> str:
    # A domain label has at most 63 characters.
    label = organization.slug[:63].strip("-") or "org"
    return f"api-key-{uuid.uuid4()}@{label}.{SERVICE_EMAIL_DOMAIN}"


@transaction.atomic
def issue_api_key(
    by: User,
    organization: Organization,
    name: str,
    scopes,
    role: str,
    expires_at=None,
) -> tuple[ApiKey, str]:
    """Create a key for ``organization``; returns ``(key, plaintext)``.

    The plaintext is not stored (only its SHA-256) and cannot be recovered later.
    """
    require_org_admin(by, organization, API_KEY_ADMINS)
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Give the key a name, e.g. 'SAP sync'.")
    elif len(name) > 100:
        errors["name"] = _("At most 100 characters.")
    if role not in KEY_ROLES:
        errors["role"] = _("Choose one of: %(roles)s.") % {
            "roles": ", ".join(str(Role(r).label) for r in KEY_ROLES)
        }
    try:
        scopes = _clean_scopes(scopes)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = _("The expiry must be in the future.")
    if errors:
        raise ValidationError(errors)

    service_user = User(email=_service_email(organization), first_name=name, last_name="(API key)")
    service_user.set_unusable_password()
    service_user.is_active = True  # DRF refuses inactive users; the key itself is the gate.
    service_user.save()
    Membership.objects.create(user=service_user, organization=organization, role=role)

    plaintext = ApiKey.new_key()
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        key_prefix=plaintext[:12],
        key_hash=ApiKey.hash_key(plaintext),
        scopes=scopes,
        created_by=by,
        acting_user=service_user,
        expires_at=expires_at,
    )
    return key, plaintext


@transaction.atomic
def revoke_api_key(by: User, key: ApiKey) -> ApiKey:
    """Revoke ``key`` for good and deactivate its service user. Revoking twice is harmless."""
    require_org_admin(by, key.organization, API_KEY_ADMINS)
    key = ApiKey.objects.select_for_update().select_related("acting_user").get(pk=key.pk)
    if not key.revoked_at:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    if key.acting_user.is_active:
        key.acting_user.is_active = False
        key.acting_user.save(update_fields=["is_active"])
    return key
