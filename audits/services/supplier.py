"""What describes the EMS as a supplier: its profile, the OEM's references, the monthly KPIs
and the scorecard that sums them up with audits, findings and certificates."""

import datetime as dt
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership import events
from partnership.models import Organization, Partnership

from ..models import Audit, Finding, KpiRecord, SupplierProfile, SupplierReference
from .access import require_editor, require_oem_auditor, require_org_member


@transaction.atomic
def save_profile(*, by, organization: Organization, **fields) -> SupplierProfile:
    require_org_member(by, organization)
    if organization.kind != Organization.Kind.EMS:
        raise ValidationError(_("Supplier profiles describe EMS companies."))
    profile, _created = SupplierProfile.objects.get_or_create(organization=organization)
    unknown = set(fields.get("capabilities") or []) - set(SupplierProfile.Capability.values)
    if unknown:
        raise ValidationError(
            {"capabilities": _("Unknown capability: %(c)s") % {"c": ", ".join(sorted(unknown))}}
        )
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.full_clean()
    profile.save()
    return profile


@transaction.atomic
def add_reference(*, by, partnership, **fields) -> SupplierReference:
    require_oem_auditor(by, partnership)
    ref = SupplierReference(partnership=partnership, recorded_by=by, **fields)
    ref.full_clean()
    ref.save()
    return ref


@transaction.atomic
def save_kpi(*, by, partnership, month: dt.date, **fields) -> KpiRecord:
    """A month's figures, upserted by partnership and month; figures left out keep their
    stored value. Values equal to the stored ones change nothing (no save, no event)."""
    require_editor(by, partnership, _("Viewers cannot record KPIs."))
    record, created = KpiRecord.objects.get_or_create(
        partnership=partnership, month=month.replace(day=1)
    )
    before = events.snapshot(record)
    for name, value in fields.items():
        setattr(record, name, value)
    errors = {}
    if record.lines_on_time > record.lines_due:
        errors["lines_on_time"] = _("More lines on time than lines due.")
    if record.units_nonconforming > record.units_delivered:
        errors["units_nonconforming"] = _("More nonconforming units than units delivered.")
    if errors:
        raise ValidationError(errors)
    changed = events.changed_fields(record, before)
    if not created and not changed:
        return record
    record.save()
    events.emit(
        "kpi",
        events.CREATED if created else events.CHANGED,
        record,
        by=by,
        changed=[] if created else changed,
    )
    return record


def scorecard(partnership: Partnership, today=None) -> dict:
    """Latest grade, open findings by class, certificate status and KPI trend — a fixed number
    of queries, and "no data" rather than a made-up score where nothing was measured."""
    today = today or timezone.localdate()
    audits = list(
        partnership.audits.exclude(grade="")
        .exclude(status=Audit.Status.PLANNED)
        .order_by("-actual_date", "-id")
        .values("id", "title", "actual_date", "score_pct", "grade")[:12]
    )
    findings = dict(
        Finding.objects.filter(audit__partnership=partnership)
        .exclude(status=Finding.Status.CLOSED)
        .values_list("classification")
        .annotate(n=Count("id"))
    )
    certs = list(partnership.ems.certificates.all())
    kpis = list(
        partnership.kpis.filter(month__gte=(today.replace(day=1) - timedelta(days=366))).order_by(
            "month"
        )
    )
    return {
        "latest": audits[0] if audits else None,
        "audit_trend": list(reversed(audits)),
        "open_findings": {c: findings.get(c, 0) for c in Finding.Classification.values},
        "certificates": certs,
        "certificates_expiring": [
            c for c in certs if not c.expired and 0 <= c.days_left(today) <= 60
        ],
        "certificates_expired": [c for c in certs if c.expired or c.days_left(today) < 0],
        "kpis": kpis,
    }
