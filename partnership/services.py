"""Writes that carry a business rule in the core: invitations, memberships, tokens, housekeeping."""

from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .models import ApiToken, Invitation, Membership, Organization, Partnership, Role, User
from .permissions import can_edit_partnership, require_org_admin


@transaction.atomic
def invite_colleague(*, by: User, organization: Organization, email: str, role: str) -> Invitation:
    """Invite someone into ``organization`` by e-mail. Re-inviting replaces the pending invite."""
    require_org_admin(by, organization)
    email = email.strip().lower()
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ValidationError({"email": _("%(email)s is already a member.") % {"email": email}})
    now = timezone.now()
    organization.invitations.filter(
        email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    invitation = Invitation.objects.create(
        organization=organization, email=email, role=role, invited_by=by
    )
    transaction.on_commit(lambda: send_invitation_email(invitation))
    return invitation


def send_invitation_email(invitation: Invitation) -> None:
    url = settings.SITE_URL.rstrip("/") + invitation.get_absolute_url()
    context = {"invitation": invitation, "url": url, "site_url": settings.SITE_URL}
    with translation.override(
        invitation.invited_by.language
        if invitation.invited_by and invitation.invited_by.language
        else None
    ):
        subject = _("%(name)s invites you to the Partnership Portal") % {
            "name": invitation.organization.name
        }
        body = render_to_string("partnership/email/invitation.txt", context)
    send_mail(settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject, body, None, [invitation.email])


@transaction.atomic
def accept_invitation(*, invitation: Invitation, user: User) -> Membership:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise ValidationError(_("This invitation is no longer valid."))
    if user.email.lower() != invitation.email.lower():
        raise ValidationError(
            _("This invitation was sent to %(email)s. Log in with that address to accept it.")
            % {"email": invitation.email}
        )
    membership, _created = Membership.objects.get_or_create(
        user=user, organization=invitation.organization, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


@transaction.atomic
def revoke_invitation(*, by: User, invitation: Invitation) -> None:
    require_org_admin(by, invitation.organization)
    if invitation.accepted_at:
        raise ValidationError(
            _("An accepted invitation cannot be revoked; remove the member instead.")
        )
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])


def _ensure_an_admin_remains(organization: Organization, leaving: Membership) -> None:
    others = organization.memberships.filter(role=Role.ADMIN).exclude(pk=leaving.pk)
    if leaving.role == Role.ADMIN and not others.exists():
        raise ValidationError(_("An organisation needs at least one admin."))


@transaction.atomic
def change_role(*, by: User, membership: Membership, role: str) -> Membership:
    require_org_admin(by, membership.organization)
    if role not in Role.values:
        raise ValidationError({"role": _("Choose a valid role.")})
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if role != Role.ADMIN:
        _ensure_an_admin_remains(membership.organization, membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, by: User, membership: Membership) -> None:
    require_org_admin(by, membership.organization)
    _ensure_an_admin_remains(membership.organization, membership)
    # One save per partnership the leaver was a key contact of: the audit trail records it.
    for side in ("oem", "ems"):
        contact = f"{side}_contact"
        for p in Partnership.objects.filter(
            **{contact: membership.user, side: membership.organization}
        ):
            setattr(p, contact, None)
            p.save(update_fields=[contact, "updated_at"])
    membership.delete()


@transaction.atomic
def update_partnership(*, by: User, partnership: Partnership, **fields) -> Partnership:
    if not can_edit_partnership(by, partnership):
        raise PermissionDenied(
            _("Only an organisation admin of either side can edit the partnership.")
        )
    for name, value in fields.items():
        setattr(partnership, name, value)
    partnership.full_clean()
    partnership.save()
    return partnership


def issue_api_token(*, user: User, name: str, expires_in_days: int | None = None):
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    return ApiToken.issue(user, name, expires_at=expires_at)


def revoke_api_token(*, user: User, token: ApiToken) -> None:
    if token.user_id != user.pk:
        raise PermissionDenied
    if not token.revoked_at:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def run_housekeeping(now=None) -> dict[str, int]:
    """Nightly clean-up: expired sessions, stale invitations and dead API tokens.

    Idempotent: running it twice removes nothing more the second time.
    """
    now = now or timezone.now()
    stale, dead = now - timedelta(days=30), now - timedelta(days=90)
    # Count each model's own rows: delete()'s total would include cascaded rows.
    _total, sessions = Session.objects.filter(expire_date__lt=now).delete()
    _total, invitations = Invitation.objects.filter(
        accepted_at__isnull=True, expires_at__lt=stale
    ).delete()
    _total, tokens = ApiToken.objects.filter(
        Q(revoked_at__lt=dead) | Q(expires_at__lt=dead)
    ).delete()
    return {
        "sessions": sessions.get(Session._meta.label, 0),
        "invitations": invitations.get(Invitation._meta.label, 0),
        "api_tokens": tokens.get(ApiToken._meta.label, 0),
    }


def create_once(*, partnership: Partnership, existing, create) -> tuple[object, bool]:
    """Create once per external id: ``(the object already in ``existing``, False)`` or
    ``(create(), True)``. A retried create (an ERP that did not see the first answer) must not
    make a second object; the partnership's row lock serialises concurrent retries, so the
    check and the create cannot interleave. Call it inside the service's transaction, after
    the service's permission check (a retry reveals nothing to whom may not create)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("create_once needs the caller's transaction")
    Partnership.objects.select_for_update().only("pk").get(pk=partnership.pk)
    found = existing.first()
    if found is not None:
        return found, False
    return create(), True
