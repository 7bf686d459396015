"""Capacity and demand: the EMS publishes weekly capacity, the OEM versioned demand forecasts
(all rows or none); each forecast revision is judged line by line against the contract's flex
table. Also the flex terms and long-lead costs the run changes are judged with."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.services import active_contract
from partnership import events
from partnership.models import Partnership
from partnership.services import create_once

# ImportRejected is re-exported: the API and the views catch it from here.
from partnership.tabular import ImportRejected as ImportRejected
from partnership.tabular import RowError, read_table

from .. import flex
from ..models import (
    CapacityPlan,
    CapacityUnit,
    DemandChange,
    DemandLine,
    DemandPublication,
    LongLeadItem,
    Product,
)
from .common import monday, require_right


def _parse_week(value, row, errors, field="week"):
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value).strip())
    except (TypeError, ValueError):
        try:  # ISO week: 2027-W05
            year, week = str(value).strip().upper().split("-W")
            day = dt.date.fromisocalendar(int(year), int(week), 1)
        except (TypeError, ValueError):
            errors.append(RowError(row, field, _("not a date (YYYY-MM-DD) or ISO week (YYYY-Www)")))
            return None
    return monday(day)


def _parse_number(value, row, errors, field, *, integer=False):
    try:
        number = Decimal(str(value).strip().replace(",", "")) if value not in (None, "") else None
    except ArithmeticError:
        number = None
    if (
        number is None
        or not number.is_finite()
        or number < 0
        or (integer and number != number.to_integral_value())
    ):
        errors.append(
            RowError(
                row,
                field,
                _("must be a non-negative whole number")
                if integer
                else _("must be a non-negative number"),
            )
        )
        return None
    return int(number) if integer else number


@transaction.atomic
def publish_capacity(*, by, partnership: Partnership, rows: list[dict], progress=None) -> int:
    """Upsert weekly capacity rows (week, line, amount, unit) — all of them or none."""
    require_right(by, partnership, "publish_capacity")
    errors, parsed, seen = [], [], set()
    existing_unit = (
        CapacityPlan.objects.filter(partnership=partnership).values_list("unit", flat=True).first()
    )
    for n, row in enumerate(rows, start=1):
        _tick(progress, n, len(rows))
        week = _parse_week(row.get("week"), n, errors)
        amount = _parse_number(row.get("amount"), n, errors, "amount")
        unit = (row.get("unit") or existing_unit or CapacityUnit.UNITS).strip().lower()
        line = (row.get("line") or "").strip()[:40]
        if unit not in CapacityUnit.values:
            errors.append(RowError(n, "unit", _("must be 'units' or 'hours'")))
        elif existing_unit and unit != existing_unit:
            errors.append(
                RowError(
                    n,
                    "unit",
                    _("capacity is kept in %(unit)s for this partnership")
                    % {"unit": existing_unit},
                )
            )
        existing_unit = existing_unit or unit
        if week and (week, line) in seen:
            errors.append(RowError(n, "week", _("this week and line appear twice")))
        if week is not None:
            seen.add((week, line))
        parsed.append((week, line, amount, unit, (row.get("external_id") or None)))
    if errors:
        raise ImportRejected(errors)
    objs = [
        CapacityPlan(partnership=partnership, week=w, line=ln, amount=a, unit=u, external_id=e)
        for w, ln, a, u, e in parsed
    ]
    before = {
        (c.week, c.line): c
        for c in CapacityPlan.objects.filter(
            partnership=partnership, week__in={o.week for o in objs}
        )
    }
    CapacityPlan.objects.bulk_create(
        objs,
        update_conflicts=True,
        unique_fields=["partnership", "week", "line"],
        update_fields=["amount", "unit", "external_id", "updated_at"],
    )
    # The upsert bypasses save(): the events of the weeks created or changed (unchanged weeks
    # emit nothing) carry the audit trail (saved=False) with them.
    published = []
    for obj in objs:
        old = before.get((obj.week, obj.line))
        if old is None:
            published.append(events.event("capacity", "created", obj, by=by, saved=False))
            continue
        changed = [n for n in CAPACITY_FIELDS if getattr(obj, n) != getattr(old, n)]
        if changed:
            published.append(
                events.event("capacity", "changed", obj, by=by, changed=changed, saved=False)
            )
    events.publish(published)
    return len(objs)


CAPACITY_FIELDS = ("amount", "unit", "external_id")


def latest_publication(partnership: Partnership) -> DemandPublication | None:
    return partnership.demand_publications.order_by("-version").first()


@transaction.atomic
def publish_demand_once(
    *, by, partnership: Partnership, rows: list[dict], note: str = "", external_id=None
) -> tuple[DemandPublication, bool]:
    """:func:`publish_demand`, once per ``external_id``: a retry of a publication the partnership
    already has answers it, ``(publication, False)``, and publishes nothing."""
    require_right(by, partnership, "publish_demand")
    if not external_id:
        return publish_demand(by=by, partnership=partnership, rows=rows, note=note), True
    return create_once(
        partnership=partnership,
        existing=partnership.demand_publications.filter(external_id=external_id),
        create=lambda: publish_demand(
            by=by, partnership=partnership, rows=rows, note=note, external_id=external_id
        ),
    )


@transaction.atomic
def publish_demand(
    *,
    by,
    partnership: Partnership,
    rows: list[dict],
    note: str = "",
    today=None,
    progress=None,
    external_id=None,
) -> DemandPublication:
    """A new forecast version from rows (product part number or id, week, quantity) — all or none.

    Lines missing from the new version count as zero. Each change from the previous version is
    classified against the active contract's flex table."""
    require_right(by, partnership, "publish_demand")
    every = list(Product.objects.filter(partnership=partnership))  # all revisions
    products = {p.part_number.upper(): p for p in every}  # the last revision in sort order
    by_id = {str(p.pk): p for p in every}
    by_ext = {p.external_id: p for p in every if p.external_id}
    errors, lines, seen = [], {}, set()
    for n, row in enumerate(rows, start=1):
        _tick(progress, n, len(rows))
        key = str(row.get("product") or row.get("part_number") or "").strip()
        product = products.get(key.upper()) or by_ext.get(key) or by_id.get(key)
        if product is None:
            errors.append(
                RowError(
                    n, "product", _("unknown product “%(p)s” in this partnership") % {"p": key}
                )
            )
        week = _parse_week(row.get("week"), n, errors)
        quantity = _parse_number(row.get("quantity"), n, errors, "quantity", integer=True)
        if product and week:
            if (product.pk, week) in seen:
                errors.append(RowError(n, "week", _("this product and week appear twice")))
            seen.add((product.pk, week))
            if quantity is not None:
                lines[(product.pk, week)] = quantity
    if not rows:
        errors.append(RowError(0, "file", _("no demand lines")))
    if errors:
        raise ImportRejected(errors)
    Partnership.objects.select_for_update().get(pk=partnership.pk)
    previous = latest_publication(partnership)
    reference = monday(today or timezone.localdate())
    publication = DemandPublication.objects.create(
        partnership=partnership,
        version=(previous.version + 1) if previous else 1,
        published_by=by,
        reference_week=reference,
        note=note[:300],
        external_id=external_id or None,
    )
    DemandLine.objects.bulk_create(
        DemandLine(publication=publication, product_id=pid, week=week, quantity=q)
        for (pid, week), q in lines.items()
    )
    changes = _record_changes(publication, previous, lines) if previous else []
    events.emit(
        "demand_publication",
        "published",
        publication,
        by=by,
        breaches=sum(1 for c in changes if c.is_breach),
    )
    return publication


def _record_changes(
    publication: DemandPublication, previous: DemandPublication, new_lines: dict
) -> list[DemandChange]:
    terms = flex_terms(publication.partnership)
    bands, frozen = terms.bands, terms.frozen_zone_weeks
    material = long_lead_costs(publication.partnership)
    old_lines = {
        (pid, week): q
        for pid, week, q in previous.lines.values_list("product_id", "week", "quantity")
    }
    changes = []
    for key in old_lines.keys() | new_lines.keys():
        before, after = old_lines.get(key, 0), new_lines.get(key, 0)
        if before == after:
            continue
        product_id, week = key
        weeks_out = (week - publication.reference_week).days // 7
        if weeks_out < 0:
            continue  # the past is not re-planned
        verdict, band = flex.classify(before, after, weeks_out, bands, frozen)
        changes.append(
            DemandChange(
                publication=publication,
                product_id=product_id,
                week=week,
                weeks_out=weeks_out,
                previous_quantity=before,
                new_quantity=after,
                verdict=verdict,
                band_label=band.label if band else "",
                max_increase_pct=band.max_increase_pct if band else None,
                max_decrease_pct=band.max_decrease_pct if band else None,
                exposure=flex.material_exposure(before - after, weeks_out, material[product_id])
                or None,
            )
        )
    return DemandChange.objects.bulk_create(changes)


@dataclass(frozen=True)
class FlexTerms:
    """The active contract's flexibility table, as plain values for the flex module."""

    bands: list
    frozen_zone_weeks: int
    currency: str
    agreed: bool  # False: no active contract, nothing was agreed


def flex_terms(partnership: Partnership) -> FlexTerms:
    contract = active_contract(partnership)
    if contract is None:
        return FlexTerms([], 0, "EUR", agreed=False)
    bands = [
        flex.Band(
            b.from_week,
            b.to_week,
            b.max_increase_pct,
            b.max_decrease_pct,
            b.max_pull_in_weeks,
            b.max_push_out_weeks,
        )
        for b in contract.flex_bands.all()
    ]
    return FlexTerms(bands, contract.frozen_zone_weeks, contract.currency, agreed=True)


def long_lead_costs(partnership: Partnership) -> dict[int, list[tuple[int, Decimal]]]:
    """Per product: (lead time in weeks, cost per assembly) of each long-lead component."""
    costs = defaultdict(list)
    rows = LongLeadItem.objects.filter(partnership=partnership).values_list(
        "product_id", "lead_time_weeks", "quantity_per_assembly", "unit_price"
    )
    for product_id, lead, qty, price in rows:
        costs[product_id].append((lead, qty * price))
    return costs


@transaction.atomic
def acknowledge_changes(*, by, publication: DemandPublication) -> int:
    """The EMS acknowledges the breaches of a forecast revision."""
    require_right(by, publication.partnership, "acknowledge_changes")
    n = (
        publication.changes.filter(acknowledged_at__isnull=True)
        .exclude(verdict__in=[DemandChange.Verdict.WITHIN, DemandChange.Verdict.NON_BINDING])
        .update(acknowledged_by=by, acknowledged_at=timezone.now())
    )
    if n:  # acknowledged breaches resolve their alerts (schedules.subscribers)
        events.emit("demand_publication", "acknowledged", publication, by=by, acknowledged=n)
    return n


def _tick(progress, n, total, every=1000):
    """Report import progress (a background job's bar) every ``every`` rows."""
    if progress is not None and n % every == 0:
        progress(n, total)


def import_table(
    *, by, partnership: Partnership, what: str, data: bytes, filename="", note="", progress=None
) -> str:
    """Publish an uploaded CSV/XLSX file of capacity or demand (all rows or none); the message
    to show. Used by the capacity page directly and by a background job for large files."""
    if what == "capacity":
        rows = parse_table(data, ["week", "amount"], filename)
        n = publish_capacity(by=by, partnership=partnership, rows=rows, progress=progress)
        return _("%(n)s capacity weeks published.") % {"n": n}
    rows = parse_table(data, ["product", "week", "quantity"], filename)
    publication = publish_demand(
        by=by, partnership=partnership, rows=rows, note=note, progress=progress
    )
    return _("Forecast v%(v)s published.") % {"v": publication.version}


CAPACITY_COLUMNS = ["week", "line", "amount", "unit"]
DEMAND_COLUMNS = ["product", "week", "quantity"]


def parse_table(data: bytes, required: list[str], filename: str = "") -> list[dict]:
    """Rows of an uploaded CSV or XLSX file (see partnership.tabular)."""
    return read_table(data, required, filename=filename)


def capacity_rows(partnership: Partnership):
    """Capacity in the import format, for export."""
    for c in partnership.capacity.order_by("week", "line"):
        yield [c.week, c.line, c.amount, c.unit]


def demand_rows(partnership: Partnership):
    """The latest forecast in the import format, for export."""
    publication = latest_publication(partnership)
    if publication is None:
        return
    lines = publication.lines.select_related("product").order_by("week", "product__part_number")
    for line in lines.iterator(chunk_size=2000):
        yield [line.product.part_number, line.week, line.quantity]


# --- Load vs capacity, and alerts ----------------------------------------------------------
