"""Drafting a version: a new draft (copied from the active contract or the template), its terms
and its flex bands. Each write announces itself as a ``contract`` event (``partnership.events``)."""

import itertools
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from partnership import events
from partnership.models import Partnership
from partnership.permissions import side_membership

from .. import template_data
from ..models import Contract, DecisionRule, FlexBand, ResponsibilityItem
from .access import require_can_draft, require_editable

KIND = "contract"

#: The terms a new version takes over from the one it is based on.
COPIED_TERMS = (
    "title",
    "currency",
    "frozen_zone_weeks",
    "default_decision_mode",
    "default_response_hours",
    "capacity_warning_pct",
    "capacity_critical_pct",
    "effective_from",
    "effective_until",
    "notes",
)


def stored_snapshot(obj) -> dict:
    """``events.snapshot`` of the row as stored, whatever the caller did to its instance (a
    model form has already written the new values on it)."""
    return events.snapshot(type(obj)._base_manager.get(pk=obj.pk))


def save_part(by, contract: Contract, obj, before: dict | None, part: str, **data):
    """Save a row of a draft (a matrix row, a rule) if it is new or changed, and announce it as
    the contract's event ``<part>_created`` / ``<part>_changed`` with the row in ``data``;
    an unchanged row is neither saved nor announced."""
    if before is None:
        obj.save()
        events.emit(KIND, f"{part}_created", contract, by=by, **data)
        return obj
    changed = events.changed_fields(obj, before)
    if changed:
        obj.save()
        events.emit(KIND, f"{part}_changed", contract, by=by, changed=changed, **data)
    return obj


@transaction.atomic
def create_draft(*, by, partnership: Partnership) -> Contract:
    """A new version, copied from the active contract (or the latest one, or the template)."""
    require_can_draft(by, partnership)
    Partnership.objects.select_for_update().get(pk=partnership.pk)  # serialise version numbers
    if partnership.contracts.filter(
        status__in=[Contract.Status.DRAFT, Contract.Status.PROPOSED]
    ).exists():
        raise ValidationError(_("A draft or proposed version already exists; finish it first."))
    _side, membership = side_membership(by, partnership)
    base = (
        partnership.contracts.filter(status=Contract.Status.ACTIVE).first()
        or partnership.contracts.first()
    )
    version = (partnership.contracts.aggregate(v=Max("version"))["v"] or 0) + 1
    contract = Contract.objects.create(
        partnership=partnership,
        version=version,
        drafted_by=membership.organization,
        created_by=by,
        previous=base,
        **({f: getattr(base, f) for f in COPIED_TERMS} if base else {}),
    )
    if base:
        _copy_content(base, contract)
    else:
        _apply_template(contract)
    events.emit(KIND, events.CREATED, contract, by=by, based_on=base)
    return contract


def bulk_create(model, objs) -> None:
    """Insert many rows and their "created" history rows (who and when) in a few statements."""
    bulk_create_with_history(list(objs), model)


def _copy_content(source: Contract, target: Contract):
    bulk_create(
        ResponsibilityItem,
        (
            ResponsibilityItem(
                contract=target,
                area=i.area,
                activity=i.activity,
                oem=i.oem,
                ems=i.ems,
                position=i.position,
                lineage=i.lineage,
            )
            for i in source.matrix.all()
        ),
    )
    rules = []
    for r in source.rules.all():
        r.pk, r.id, r.contract = None, None, target
        rules.append(r)
    bulk_create(DecisionRule, rules)
    bulk_create(
        FlexBand,
        (
            FlexBand(
                contract=target,
                from_week=b.from_week,
                to_week=b.to_week,
                max_increase_pct=b.max_increase_pct,
                max_decrease_pct=b.max_decrease_pct,
                max_pull_in_weeks=b.max_pull_in_weeks,
                max_push_out_weeks=b.max_push_out_weeks,
                lineage=b.lineage,
            )
            for b in source.flex_bands.all()
        ),
    )


def _apply_template(contract: Contract):
    bulk_create(
        ResponsibilityItem,
        (
            ResponsibilityItem(
                contract=contract, area=str(a), activity=str(act), oem=o, ems=e, position=n * 10
            )
            for n, (a, act, o, e) in enumerate(template_data.MATRIX)
        ),
    )
    bulk_create(
        DecisionRule,
        (
            DecisionRule(contract=contract, position=n * 10, **rule)
            for n, rule in enumerate(template_data.RULES)
        ),
    )
    bulk_create(
        FlexBand,
        (
            FlexBand(
                contract=contract,
                from_week=f,
                to_week=t,
                max_increase_pct=Decimal(up),
                max_decrease_pct=Decimal(down),
                max_pull_in_weeks=template_data.FLEX_RESCHEDULE.get(f, (None, None))[0],
                max_push_out_weeks=template_data.FLEX_RESCHEDULE.get(f, (None, None))[1],
            )
            for f, t, up, down in template_data.FLEX_BANDS
        ),
    )


@transaction.atomic
def update_terms(*, by, contract: Contract, **fields) -> Contract:
    """Edit a draft's terms. Values equal to the stored ones change nothing: no save, no event."""
    require_editable(by, contract)
    before = stored_snapshot(contract)
    for name, value in fields.items():
        setattr(contract, name, value)
    contract.full_clean()
    changed = events.changed_fields(contract, before)
    if not changed:
        return contract
    contract.save()
    events.emit(KIND, events.CHANGED, contract, by=by, changed=changed)
    return contract


def validate_flex_bands(bands) -> None:
    """Bands must not overlap; each band's decrease may not exceed 100%."""
    ordered = sorted(bands, key=lambda b: b.from_week)
    for band in ordered:
        band.full_clean(exclude=["contract"])
    for a, b in itertools.pairwise(ordered):
        if a.to_week is None or a.to_week >= b.from_week:
            raise ValidationError(
                _("Flex bands overlap: weeks %(a)s and %(b)s.") % {"a": str(a), "b": str(b)}
            )


def _band_terms(bands) -> list[tuple]:
    return sorted(
        (tuple(getattr(b, name) for name in FlexBand.TERMS) for b in bands), key=lambda t: t[0]
    )


@transaction.atomic
def replace_flex_bands(*, by, contract: Contract, bands: list[FlexBand]) -> None:
    """The draft's flex bands become ``bands``; the same terms again change nothing."""
    require_editable(by, contract)
    validate_flex_bands(bands)
    if _band_terms(bands) == _band_terms(contract.flex_bands.all()):
        return
    contract.flex_bands.all().delete()
    for band in bands:
        band.contract = contract
        band.pk = None
    bulk_create(FlexBand, bands)
    events.emit(KIND, "flex_bands_replaced", contract, by=by, bands=list(bands))
