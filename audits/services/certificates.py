"""Certificates of an organisation and the daily check of their expiry. A certificate is an
organisation's, not a partnership's: each of its events is announced once per partnership of
the organisation (``emit(…, partnership=…)``), which is where its partners see it and where
``audits.subscribers`` tells them."""

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership import events
from partnership.models import Organization, Partnership

from ..models import Certificate, CertificateWarning
from .access import require_org_member

EXPIRY_THRESHOLDS = (60, 30, 7)


def partnerships_of(organization) -> list[Partnership]:
    """The partnerships, not ended, in which the organisation's certificates are seen (as the
    OEM or as the EMS), in a fixed order."""
    return list(
        Partnership.objects.filter(Q(ems=organization) | Q(oem=organization))
        .exclude(status=Partnership.Status.ENDED)
        .order_by("pk")
    )


def _announce(action, certificate, *, by=None, changed=(), **data) -> list[events.Event]:
    """One event per partnership of the certificate's organisation, in one batch."""
    return events.publish(
        events.event(
            "certificate", action, certificate, by=by, changed=changed, partnership=p, **data
        )
        for p in partnerships_of(certificate.organization)
    )


@transaction.atomic
def save_certificate(
    *, by, organization: Organization, certificate: Certificate | None = None, **fields
) -> Certificate:
    require_org_member(by, organization)
    certificate = certificate or Certificate(organization=organization)
    if certificate.organization_id != organization.pk:
        raise PermissionDenied
    creating = certificate._state.adding
    before = events.snapshot(certificate)
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
    changed = [] if creating else events.changed_fields(certificate, before)
    if not creating and not changed:
        return certificate  # no change, no write, no event
    certificate.full_clean()
    certificate.save()
    _announce(events.CREATED if creating else events.CHANGED, certificate, by=by, changed=changed)
    return certificate


def check_certificates(today=None) -> dict[str, int]:
    """Daily: warn 60, 30 and 7 days before expiry — once per threshold — and mark expired ones.
    The warning row is inserted before the notice is sent, under a unique constraint, so two
    workers (or a retry) never send the same warning twice. Events: ``expired`` and
    ``expiry_warned`` (with the ``days`` left and the ``thresholds`` crossed)."""
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
                    cert.expired = True
                    # The conditional update bypasses save(): its history row is written here,
                    # once — not by the event path, which announces it in every partnership.
                    Certificate.history.bulk_history_create([cert], update=True)
                    _announce("expired", cert, changed=["expired"])
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
                _announce("expiry_warned", cert, days=days, thresholds=new)
    return counts
