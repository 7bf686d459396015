"""Every write that carries a scheduling rule: products and readiness, runs and re-prioritisation,
capacity and demand publications with their flex-term comparison, and capacity alerts."""

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Max, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from contracts.services import active_contract
from partnership.models import Partnership, Role
from partnership.notifications import members, notify
from partnership.permissions import side_membership

# ImportRejected is re-exported: the API and the views catch it from here.
from partnership.tabular import ImportRejected as ImportRejected
from partnership.tabular import RowError, read_table

from . import flex
from .models import (
    CapacityAlert,
    CapacityPlan,
    CapacityUnit,
    DemandChange,
    DemandLine,
    DemandPublication,
    LongLeadItem,
    PriorityRequest,
    Product,
    ProductionRun,
    ReadinessFile,
    ReadinessItem,
    RunChange,
)

WRITE_ROLES = {Role.ADMIN, Role.BUYER, Role.ACCOUNT_MANAGER, Role.PLANNER, Role.QUALITY}
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
ALLOWED_SUFFIXES = {
    ".pdf",
    ".zip",
    ".csv",
    ".xlsx",
    ".xls",
    ".txt",
    ".gbr",
    ".ger",
    ".drl",
    ".xln",
    ".step",
    ".stp",
    ".dxf",
    ".png",
    ".jpg",
    ".jpeg",
    ".pos",
    ".odb",
    ".tgz",
    ".7z",
}
WEEKS_AHEAD = 26


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _require_side(user, partnership, side=None, roles=WRITE_ROLES):
    s, m = side_membership(user, partnership)
    if m is None or m.role not in roles or (side and s != side):
        who = {"oem": _("OEM"), "ems": _("EMS")}.get(side, "")
        raise PermissionDenied(
            _("Only %(who)s members who can edit may do this.") % {"who": who}
            if who
            else _("Viewers cannot change schedules.")
        )
    return s, m


# --- Products and readiness ----------------------------------------------------------------


@transaction.atomic
def save_product(
    *, by, partnership: Partnership, product: Product | None = None, **fields
) -> Product:
    """The OEM owns its products; every new product gets the full NPI readiness checklist."""
    _require_side(by, partnership, "oem")
    product = product or Product(partnership=partnership)
    if product.partnership_id != partnership.pk:
        raise PermissionDenied
    creating = product.pk is None
    for name, value in fields.items():
        setattr(product, name, value)
    if product.external_id == "":
        product.external_id = None
    product.full_clean()
    product.save()
    if creating:
        bulk_create_with_history(
            [ReadinessItem(product=product, kind=k) for k in ReadinessItem.Kind.values],
            ReadinessItem,
            default_user=by,
        )
    return product


def readiness(product: Product) -> tuple[bool, list[ReadinessItem]]:
    """Launch-ready only when every required item is approved; returns the blockers."""
    blockers = [
        i
        for i in product.readiness.all()
        if i.required and i.status != ReadinessItem.Status.APPROVED
    ]
    return not blockers, blockers


@transaction.atomic
def upload_readiness_file(*, by, item: ReadinessItem, upload) -> ReadinessFile:
    _require_side(by, item.product.partnership)
    name = upload.name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200]
    if upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError({"file": _("The file is larger than 25 MB.")})
    if not any(name.lower().endswith(s) for s in ALLOWED_SUFFIXES):
        raise ValidationError(
            {
                "file": _("This file type is not accepted (allowed: %(types)s).")
                % {"types": ", ".join(sorted(ALLOWED_SUFFIXES))}
            }
        )
    item = ReadinessItem.objects.select_for_update().get(pk=item.pk)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    version = (item.files.aggregate(v=Max("version"))["v"] or 0) + 1
    record = ReadinessFile.objects.create(
        item=item,
        version=version,
        file=upload,
        name=name,
        size=upload.size,
        sha256=digest.hexdigest(),
        uploaded_by=by,
    )
    item.status = ReadinessItem.Status.SUBMITTED
    item.rejection_reason = ""
    item.reviewed_by = item.reviewed_at = None
    item.save()
    if item.required:  # an optional document does not gate the launch
        _unrelease(item.product)
    _touch(item.product)
    return record


@transaction.atomic
def review_readiness_item(
    *, by, item: ReadinessItem, approve: bool, reason: str = ""
) -> ReadinessItem:
    """The EMS, who must build from the documents, approves or rejects them (with a reason)."""
    _require_side(by, item.product.partnership, "ems")
    item = ReadinessItem.objects.select_for_update().get(pk=item.pk)
    if item.status != ReadinessItem.Status.SUBMITTED:
        raise ValidationError(_("Only a submitted document can be reviewed."))
    if not approve and not reason.strip():
        raise ValidationError({"reason": _("Say why the document is rejected.")})
    item.status = ReadinessItem.Status.APPROVED if approve else ReadinessItem.Status.REJECTED
    item.rejection_reason = "" if approve else reason.strip()
    item.reviewed_by, item.reviewed_at = by, timezone.now()
    item.save()
    if not approve and item.required:
        _unrelease(item.product)
    _touch(item.product)
    return item


@transaction.atomic
def set_item_required(*, by, item: ReadinessItem, required: bool) -> ReadinessItem:
    _require_side(by, item.product.partnership, "oem")
    item.required = required
    item.save(update_fields=["required", "updated_at"])
    if required and item.status != ReadinessItem.Status.APPROVED:
        _unrelease(item.product)  # a released product stays launch-ready
    _touch(item.product)
    return item


def _unrelease(product: Product) -> None:
    if product.released_at:
        # Through save() on a fresh row, so the audit trail records who withdrew the release.
        fresh = Product.objects.get(pk=product.pk)
        fresh.released_at = fresh.released_by = None
        fresh.save(update_fields=["released_at", "released_by", "updated_at"])
        product.released_at = product.released_by = None


def _touch(product: Product) -> None:
    """Readiness is part of a product as an ERP sees it: move it past ``updated_since``."""
    Product.objects.filter(pk=product.pk).update(updated_at=timezone.now())


@transaction.atomic
def release_for_launch(*, by, product: Product) -> Product:
    _require_side(by, product.partnership)
    ready, blockers = readiness(product)
    if not ready:
        raise ValidationError(
            _("Not launch-ready: %(items)s.")
            % {
                "items": "; ".join(
                    f"{b.get_kind_display()} ({b.get_status_display().lower()})" for b in blockers
                )
            }
        )
    product.released_at, product.released_by = timezone.now(), by
    product.save(update_fields=["released_at", "released_by", "updated_at"])
    return product


# --- Production runs -----------------------------------------------------------------------


@transaction.atomic
def save_run(
    *, by, partnership: Partnership, run: ProductionRun | None = None, **fields
) -> ProductionRun:
    """The OEM orders runs. Moving or resizing a committed run is judged against the contract's
    flex table: within the band's limits the run stays confirmed (the EMS agreed to that much
    flexibility when it signed); beyond them, or without agreed terms, it goes back to the EMS
    for confirmation. Every change of a committed run is recorded with its verdict."""
    _require_side(by, partnership, "oem")
    run = run or ProductionRun(partnership=partnership)
    if run.partnership_id != partnership.pk or (
        "product" in fields and fields["product"].partnership_id != partnership.pk
    ):
        raise ValidationError({"product": _("Choose a product of this partnership.")})
    committed = run.pk is not None and run.status in COMMITTED
    before = (run, run.planned_launch, run.due_date, run.quantity)
    for name, value in fields.items():
        setattr(run, name, value)
    if run.external_id == "":
        run.external_id = None
    if run.due_date and run.planned_launch and run.due_date < run.planned_launch:
        raise ValidationError({"due_date": _("The due date must not be before the launch.")})
    run.full_clean()
    changes = judge_run_changes(by, partnership, [before]) if committed else []
    run.save()
    record_run_changes(partnership, changes)
    return run


COMMITTED = (ProductionRun.Status.CONFIRMED, ProductionRun.Status.IN_PRODUCTION)


def judge_run_changes(by, partnership: Partnership, edits) -> list[RunChange]:
    """Judge edits of committed runs — (run with its new values, old launch, old due, old
    quantity) — against the flex table; unsaved RunChange rows for those that changed.

    The date is judged by the band of the delivery being moved, the quantity like a forecast
    change of that week. A breach, or any change without agreed terms, sends the run back to
    planned (the EMS confirms again); within the terms it stays confirmed."""
    terms, material, today = flex_terms(partnership), None, timezone.localdate()
    changes = []
    for run, launch, due, quantity in edits:
        if (launch, due, quantity) == (run.planned_launch, run.due_date, run.quantity):
            continue
        if material is None:
            material = long_lead_costs(partnership)
        weeks_out = (monday(due) - monday(today)).days // 7
        date_verdict, band = flex.classify_reschedule(
            due, run.due_date, today, terms.bands, terms.frozen_zone_weeks
        )
        qty_verdict, _band = flex.classify(
            quantity, run.quantity, weeks_out, terms.bands, terms.frozen_zone_weeks
        )
        exposure = flex.material_exposure(
            quantity - run.quantity, weeks_out, material[run.product_id]
        )
        change = RunChange(
            run=run,
            changed_by=by,
            weeks_out=weeks_out,
            band_label=band.label if band else "",
            previous_launch=launch,
            previous_due=due,
            new_launch=run.planned_launch,
            new_due=run.due_date,
            previous_quantity=quantity,
            new_quantity=run.quantity,
            verdict=flex.worst(date_verdict, qty_verdict),
            exposure=exposure or None,
        )
        if change.is_breach or not terms.agreed:  # the EMS's confirmation no longer holds
            run.status, run.confirmed_by, run.confirmed_at = (
                ProductionRun.Status.PLANNED,
                None,
                None,
            )
        changes.append(change)
    return changes


def record_run_changes(partnership: Partnership, changes: list[RunChange]) -> None:
    """Store judged changes (after their runs are saved) and tell the EMS: one notification
    for the lot, so a bulk sync of a hundred runs does not send a hundred e-mails."""
    if not changes:
        return
    RunChange.objects.bulk_create(changes)
    back = [c for c in changes if c.run.status == ProductionRun.Status.PLANNED]
    if len(changes) == 1:
        change = changes[0]
        subject = (
            _("%(run)s changed beyond the flex terms: please confirm")
            if back
            else _("%(run)s changed within the flex terms")
        ) % {"run": change.run}
        url = change.run.get_absolute_url()
    else:
        subject = _("%(n)s production runs changed, %(back)s need your confirmation") % {
            "n": len(changes),
            "back": len(back),
        }
        url = f"/partnerships/{partnership.pk}/runs/"
    body = "\n".join(
        _("%(run)s: due %(old)s → %(new)s, quantity %(oq)s → %(nq)s: %(verdict)s.")
        % {
            "run": c.run,
            "old": c.previous_due.isoformat(),
            "new": c.new_due.isoformat(),
            "oq": c.previous_quantity,
            "nq": c.new_quantity,
            "verdict": c.get_verdict_display(),
        }
        for c in changes[:50]
    )
    notify(
        members(partnership, "ems", [Role.ACCOUNT_MANAGER, Role.PLANNER, Role.ADMIN]),
        partnership=partnership,
        subject=subject,
        body=body,
        url=url,
    )
    if any(c.is_breach for c in changes):
        schedule_alert_refresh(partnership)


@transaction.atomic
def confirm_run(*, by, run: ProductionRun) -> ProductionRun:
    _require_side(by, run.partnership, "ems")
    run = ProductionRun.objects.select_for_update().select_related("product").get(pk=run.pk)
    if run.status not in (ProductionRun.Status.PLANNED,):
        raise ValidationError(_("Only a planned run can be confirmed."))
    if not run.product.released_at:
        _ready, blockers = readiness(run.product)
        raise ValidationError(
            _("The product is not released for launch. Missing: %(items)s.")
            % {"items": "; ".join(b.get_kind_display() for b in blockers) or _("the release")}
        )
    run.status, run.confirmed_by, run.confirmed_at = (
        ProductionRun.Status.CONFIRMED,
        by,
        timezone.now(),
    )
    run.save()
    # Confirming accepts the changes that sent the run back: they are acknowledged.
    run.changes.filter(acknowledged_at__isnull=True).update(
        acknowledged_by=by, acknowledged_at=run.confirmed_at
    )
    schedule_alert_refresh(run.partnership)
    return run


@transaction.atomic
def propose_dates(*, by, run: ProductionRun, launch: dt.date, due: dt.date) -> ProductionRun:
    _require_side(by, run.partnership, "ems")
    if run.status in (ProductionRun.Status.COMPLETED, ProductionRun.Status.CANCELLED):
        raise ValidationError(_("This run is closed."))
    if due < launch:
        raise ValidationError({"proposed_due": _("The due date must not be before the launch.")})
    run.proposed_launch, run.proposed_due, run.status = launch, due, ProductionRun.Status.PROPOSED
    run.save()
    notify(
        members(run.partnership, "oem", [Role.BUYER, Role.PLANNER, Role.ADMIN]),
        partnership=run.partnership,
        subject=_("New dates proposed for %(run)s") % {"run": run},
        url=run.get_absolute_url(),
    )
    return run


@transaction.atomic
def answer_proposed_dates(*, by, run: ProductionRun, accept: bool) -> ProductionRun:
    _require_side(by, run.partnership, "oem")
    if run.status != ProductionRun.Status.PROPOSED:
        raise ValidationError(_("No dates are proposed for this run."))
    if accept:
        run.planned_launch, run.due_date = run.proposed_launch, run.proposed_due
        # The dates are agreed; but, as in confirm_run, no confirmation before the release.
        if Product.objects.filter(pk=run.product_id, released_at__isnull=False).exists():
            run.status, run.confirmed_by, run.confirmed_at = (
                ProductionRun.Status.CONFIRMED,
                by,
                timezone.now(),
            )
        else:
            run.status = ProductionRun.Status.PLANNED
    else:
        run.status = ProductionRun.Status.PLANNED
    run.proposed_launch = run.proposed_due = None
    run.save()
    return run


@transaction.atomic
def request_priority(
    *, by, run: ProductionRun, priority: int, reason: str, requested_due=None
) -> PriorityRequest:
    _require_side(by, run.partnership, "oem")
    if run.status in (ProductionRun.Status.COMPLETED, ProductionRun.Status.CANCELLED):
        raise ValidationError(_("This run is closed."))
    if run.priority_requests.filter(status=PriorityRequest.Status.PENDING).exists():
        raise ValidationError(_("A re-prioritisation request for this run is already pending."))
    if not reason.strip():
        raise ValidationError({"reason": _("Explain why the run must move.")})
    if requested_due and requested_due < run.planned_launch:
        raise ValidationError({"requested_due": _("The due date must not be before the launch.")})
    req = PriorityRequest.objects.create(
        run=run,
        priority=priority,
        reason=reason.strip(),
        requested_due=requested_due,
        requested_by=by,
    )
    notify(
        members(run.partnership, "ems", [Role.ACCOUNT_MANAGER, Role.PLANNER]),
        partnership=run.partnership,
        subject=_("Re-prioritisation requested: %(run)s") % {"run": run},
        body=reason,
        url=run.get_absolute_url(),
    )
    return req


@transaction.atomic
def answer_priority(
    *, by, request: PriorityRequest, accept: bool, answer: str = ""
) -> PriorityRequest:
    _require_side(by, request.run.partnership, "ems")
    request = PriorityRequest.objects.select_for_update().select_related("run").get(pk=request.pk)
    if request.status != PriorityRequest.Status.PENDING:
        raise ValidationError(_("This request was already answered."))
    if not accept and not answer.strip():
        raise ValidationError({"answer": _("Say why the request is declined.")})
    request.status = PriorityRequest.Status.ACCEPTED if accept else PriorityRequest.Status.DECLINED
    request.answered_by, request.answered_at, request.answer = by, timezone.now(), answer.strip()
    request.save()
    if accept:
        run = request.run
        run.priority = request.priority
        if request.requested_due:
            if request.requested_due < run.planned_launch:
                raise ValidationError(
                    {"requested_due": _("The requested due date is now before the launch.")}
                )
            if (
                request.requested_due != run.due_date
                and run.status == ProductionRun.Status.CONFIRMED
            ):
                run.status = ProductionRun.Status.PLANNED  # new dates need a new confirmation
            run.due_date = request.requested_due
        run.save()
    notify(
        [request.requested_by],
        partnership=request.run.partnership,
        subject=_("Re-prioritisation %(status)s: %(run)s")
        % {"status": request.get_status_display().lower(), "run": request.run},
        body=answer,
        url=request.run.get_absolute_url(),
    )
    return request


# --- Capacity and demand -------------------------------------------------------------------


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
    _require_side(by, partnership, "ems")
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
        (c.week, c.line): (c.amount, c.unit, c.external_id)
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
    _record_capacity_history(objs, before, by)
    schedule_alert_refresh(partnership)
    return len(objs)


def _record_capacity_history(objs, before, by):
    """The upsert bypasses ``save()``: record the audit trail of the weeks it created or
    changed (unchanged weeks get no row), one INSERT … SELECT per kind of change."""
    from .api.serializers import _record_history

    created = [o.pk for o in objs if (o.week, o.line) not in before]
    changed = [
        o.pk
        for o in objs
        if (o.week, o.line) in before
        and before[(o.week, o.line)] != (o.amount, o.unit, o.external_id)
    ]
    if created:
        _record_history(CapacityPlan, created, "+", by)
    if changed:
        _record_history(CapacityPlan, changed, "~", by)


def latest_publication(partnership: Partnership) -> DemandPublication | None:
    return partnership.demand_publications.order_by("-version").first()


@transaction.atomic
def publish_demand(
    *, by, partnership: Partnership, rows: list[dict], note: str = "", today=None, progress=None
) -> DemandPublication:
    """A new forecast version from rows (product part number or id, week, quantity) — all or none.

    Lines missing from the new version count as zero. Each change from the previous version is
    classified against the active contract's flex table."""
    _require_side(by, partnership, "oem")
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
    )
    DemandLine.objects.bulk_create(
        DemandLine(publication=publication, product_id=pid, week=week, quantity=q)
        for (pid, week), q in lines.items()
    )
    if previous:
        _record_changes(publication, previous, lines)
    schedule_alert_refresh(partnership)
    return publication


def _record_changes(
    publication: DemandPublication, previous: DemandPublication, new_lines: dict
) -> None:
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
    DemandChange.objects.bulk_create(changes)
    breaches = [c for c in changes if c.is_breach]
    if breaches:
        p = publication.partnership
        notify(
            members(p, "ems", [Role.ACCOUNT_MANAGER, Role.PLANNER])
            + members(p, "oem", [Role.BUYER]),
            partnership=p,
            subject=_("Forecast v%(v)s breaks the flex terms in %(n)s line(s)")
            % {"v": publication.version, "n": len(breaches)},
            body=_("Changes beyond the agreed bands need the other side's acknowledgement."),
            url=f"/partnerships/{p.pk}/capacity/",
        )


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
def save_long_lead_item(
    *, by, product: Product, item: LongLeadItem | None = None, **fields
) -> LongLeadItem:
    """The EMS keeps the list of long-lead material it buys ahead for a product."""
    _require_side(by, product.partnership, "ems")
    item = item or LongLeadItem(product=product, partnership_id=product.partnership_id)
    if item.product_id != product.pk:
        raise PermissionDenied
    for name, value in fields.items():
        setattr(item, name, value)
    if item.external_id == "":
        item.external_id = None
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def delete_long_lead_item(*, by, item: LongLeadItem) -> None:
    _require_side(by, item.product.partnership, "ems")
    item.delete()


@transaction.atomic
def acknowledge_changes(*, by, publication: DemandPublication) -> int:
    """The EMS acknowledges the breaches of a forecast revision."""
    _require_side(by, publication.partnership, "ems")
    n = (
        publication.changes.filter(acknowledged_at__isnull=True)
        .exclude(verdict__in=[DemandChange.Verdict.WITHIN, DemandChange.Verdict.NON_BINDING])
        .update(acknowledged_by=by, acknowledged_at=timezone.now())
    )
    schedule_alert_refresh(publication.partnership)  # acknowledged breaches resolve their alerts
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


@dataclass
class WeekLoad:
    week: dt.date
    capacity: Decimal
    demand: Decimal
    unit: str

    @property
    def utilisation(self) -> Decimal | None:
        if not self.capacity:
            return None if not self.demand else Decimal("999.9")
        return (self.demand / self.capacity * 100).quantize(Decimal("0.1"))


def weekly_load(
    partnership: Partnership, start: dt.date | None = None, weeks: int = WEEKS_AHEAD
) -> list[WeekLoad]:
    """Capacity and demand per week in one SQL statement (DESIGN.md §5).

    A week series LEFT JOINs the capacity summed per week and the demand of the latest forecast
    summed per week; the unit (that of the first planned week, else of any plan, else units)
    is computed in the same statement. Demand in line hours divides by each product's rate,
    so the product join runs only when the unit is hours (a one-time filter in the plan).

    The statement is PostgreSQL's (``generate_series``); the embedded SQLite of ``make run``
    gets the same figures from three ORM aggregates."""
    start = monday(start or timezone.localdate())
    end = start + dt.timedelta(weeks=weeks - 1)
    if connection.vendor != "postgresql":
        return _weekly_load_orm(partnership, start, weeks)
    with connection.cursor() as cursor:
        cursor.execute(
            _WEEKLY_LOAD_SQL.format(
                capacity=CapacityPlan._meta.db_table,
                publication=DemandPublication._meta.db_table,
                line=DemandLine._meta.db_table,
                product=Product._meta.db_table,
            ),
            {
                "partnership": partnership.pk,
                "start": start,
                "end": end,
                "hours": CapacityUnit.HOURS.value,
                "units": CapacityUnit.UNITS.value,
            },
        )
        rows = cursor.fetchall()
    return [
        WeekLoad(week=week, capacity=Decimal(capacity), demand=Decimal(demand), unit=unit)
        for week, capacity, demand, unit in rows
    ]


def _weekly_load_orm(partnership: Partnership, start: dt.date, weeks: int) -> list[WeekLoad]:
    end = start + dt.timedelta(weeks=weeks - 1)
    capacity = {
        row["week"]: row
        for row in CapacityPlan.objects.filter(partnership=partnership, week__range=(start, end))
        .values("week")
        .annotate(total=Sum("amount"), unit=Max("unit"))
    }
    first = min(capacity) if capacity else None
    unit = (capacity[first]["unit"] if first else None) or (
        CapacityPlan.objects.filter(partnership=partnership)
        .order_by("week", "line")
        .values_list("unit", flat=True)
        .first()
        or CapacityUnit.UNITS
    )
    publication = latest_publication(partnership)
    demand = {}
    if publication:
        measure = (
            Sum(
                ExpressionWrapper(
                    F("quantity") / F("product__units_per_hour"),
                    output_field=DecimalField(max_digits=14, decimal_places=2),
                )
            )
            if unit == CapacityUnit.HOURS
            else Sum("quantity")
        )
        demand = {
            row["week"]: row["load"]
            for row in DemandLine.objects.filter(publication=publication, week__range=(start, end))
            .values("week")
            .annotate(load=measure)
        }
    weeks_list = [start + dt.timedelta(weeks=i) for i in range(weeks)]
    return [
        WeekLoad(
            week=w,
            capacity=Decimal(capacity.get(w, {}).get("total") or 0),
            demand=Decimal(demand.get(w) or 0),
            unit=unit,
        )
        for w in weeks_list
    ]


_WEEKLY_LOAD_SQL = """
WITH capacity AS (
    SELECT week, SUM(amount) AS total, MAX(unit) AS unit FROM {capacity}
    WHERE partnership_id = %(partnership)s AND week BETWEEN %(start)s AND %(end)s
    GROUP BY week
), chosen AS (
    SELECT COALESCE(
        (SELECT unit FROM capacity ORDER BY week LIMIT 1),
        (SELECT unit FROM {capacity} WHERE partnership_id = %(partnership)s
         ORDER BY week, line LIMIT 1),
        %(units)s
    ) AS unit
), publication AS (
    SELECT id FROM {publication} WHERE partnership_id = %(partnership)s
    ORDER BY version DESC LIMIT 1
), demand_units AS (
    SELECT week, SUM(quantity) AS load FROM {line}
    WHERE publication_id = (SELECT id FROM publication)
      AND week BETWEEN %(start)s AND %(end)s
      AND (SELECT unit FROM chosen) <> %(hours)s
    GROUP BY week
), demand_hours AS (
    SELECT l.week, SUM(l.quantity / p.units_per_hour) AS load
    FROM {line} l JOIN {product} p ON p.id = l.product_id
    WHERE l.publication_id = (SELECT id FROM publication)
      AND l.week BETWEEN %(start)s AND %(end)s
      AND (SELECT unit FROM chosen) = %(hours)s
    GROUP BY l.week
)
SELECT series.week::date,
       COALESCE(capacity.total, 0),
       COALESCE(demand_units.load, demand_hours.load, 0),
       (SELECT unit FROM chosen)
FROM generate_series(%(start)s::date, %(end)s::date, interval '7 days') AS series(week)
LEFT JOIN capacity ON capacity.week = series.week::date
LEFT JOIN demand_units ON demand_units.week = series.week::date
LEFT JOIN demand_hours ON demand_hours.week = series.week::date
ORDER BY 1
"""


def schedule_alert_refresh(partnership: Partnership) -> None:
    """Recompute alerts in the background once the change is committed."""
    from .tasks import refresh_capacity_alerts

    transaction.on_commit(lambda: refresh_capacity_alerts.delay(partnership.pk), robust=True)


def refresh_alerts(partnership: Partnership, today=None) -> dict[str, int]:
    """Open, update or resolve capacity alerts for the weeks ahead. Idempotent: an unresolved
    alert per week and kind at most (a database constraint guarantees it), notifications only
    when an alert is opened or gets worse."""
    contract = active_contract(partnership)
    warning = Decimal(contract.capacity_warning_pct if contract else 90)
    critical = Decimal(contract.capacity_critical_pct if contract else 100)
    counts = {"opened": 0, "updated": 0, "resolved": 0}
    now = timezone.now()
    loads = weekly_load(partnership, start=today)
    publication = latest_publication(partnership)
    breach_weeks = set()
    if publication:
        breach_weeks = set(
            publication.changes.filter(acknowledged_at__isnull=True)
            .exclude(verdict__in=[DemandChange.Verdict.WITHIN, DemandChange.Verdict.NON_BINDING])
            .values_list("week", flat=True)
        )
    breach_weeks |= {
        monday(due)
        for due in RunChange.objects.filter(
            run__partnership=partnership, acknowledged_at__isnull=True
        )
        .exclude(verdict__in=[RunChange.Verdict.WITHIN, RunChange.Verdict.NON_BINDING])
        .values_list("previous_due", flat=True)
    }
    wanted = {}
    for load in loads:
        u = load.utilisation
        if u is not None and u >= warning:
            severity = (
                CapacityAlert.Severity.CRITICAL if u >= critical else CapacityAlert.Severity.WARNING
            )
            wanted[(load.week, CapacityAlert.Kind.OVERLOAD)] = (severity, load)
        if load.week in breach_weeks:
            wanted[(load.week, CapacityAlert.Kind.FLEX_BREACH)] = (
                CapacityAlert.Severity.WARNING,
                load,
            )
    with transaction.atomic():
        live = {
            (a.week, a.kind): a
            for a in CapacityAlert.objects.select_for_update()
            .filter(partnership=partnership, week__gte=loads[0].week, week__lte=loads[-1].week)
            .exclude(status=CapacityAlert.Status.RESOLVED)
        }
        fresh = []
        for key, (severity, load) in wanted.items():
            alert = live.get(key)
            message = _alert_message(key[1], load)
            if alert is None:
                try:
                    with transaction.atomic():
                        alert = CapacityAlert.objects.create(
                            partnership=partnership,
                            week=key[0],
                            kind=key[1],
                            severity=severity,
                            demand=load.demand,
                            capacity=load.capacity,
                            utilisation=load.utilisation,
                            message=message,
                        )
                except IntegrityError:  # another worker opened it a moment ago
                    continue
                counts["opened"] += 1
                fresh.append(alert)
            else:
                worse = (
                    severity == CapacityAlert.Severity.CRITICAL
                    and alert.severity == CapacityAlert.Severity.WARNING
                )
                alert.severity, alert.demand, alert.capacity = severity, load.demand, load.capacity
                alert.utilisation, alert.message = load.utilisation, message
                if worse:
                    alert.status = CapacityAlert.Status.OPEN
                    fresh.append(alert)
                alert.save()
                counts["updated"] += 1
        for key, alert in live.items():
            if key not in wanted:
                alert.status, alert.resolved_at = CapacityAlert.Status.RESOLVED, now
                alert.save()
                counts["resolved"] += 1
        if fresh:
            _notify_alerts(partnership, fresh)
    return counts


def _alert_message(kind, load: WeekLoad) -> str:
    if kind == CapacityAlert.Kind.FLEX_BREACH:
        return _("Week %(w)s: the forecast or a production run changed beyond the flex terms.") % {
            "w": f"{load.week:%G-W%V}"
        }
    return _("Week %(w)s: demand %(d)s vs capacity %(c)s %(u)s (%(p)s%%).") % {
        "w": f"{load.week:%G-W%V}",
        "d": f"{load.demand:.0f}",
        "c": f"{load.capacity:.0f}",
        "u": load.unit,
        "p": load.utilisation,
    }


def _notify_alerts(partnership: Partnership, alerts: list[CapacityAlert]) -> None:
    people = members(partnership, "ems", [Role.ACCOUNT_MANAGER, Role.PLANNER]) + members(
        partnership, "oem", [Role.BUYER]
    )
    critical = any(a.severity == CapacityAlert.Severity.CRITICAL for a in alerts)
    notify(
        people,
        partnership=partnership,
        subject=(
            _("Capacity critical in %(n)s week(s)")
            if critical
            else _("Capacity warning in %(n)s week(s)")
        )
        % {"n": len(alerts)},
        body="\n".join(a.message for a in sorted(alerts, key=lambda a: a.week)),
        url=f"/partnerships/{partnership.pk}/capacity/",
    )


@transaction.atomic
def acknowledge_alert(*, by, alert: CapacityAlert) -> CapacityAlert:
    _require_side(by, alert.partnership)
    if alert.status != CapacityAlert.Status.OPEN:
        raise ValidationError(_("Only an open alert can be acknowledged."))
    alert.status, alert.acknowledged_by, alert.acknowledged_at = (
        CapacityAlert.Status.ACKNOWLEDGED,
        by,
        timezone.now(),
    )
    alert.save()
    return alert


def refresh_all_alerts() -> int:
    n = 0
    for partnership in Partnership.objects.filter(
        status__in=[Partnership.Status.ACTIVE, Partnership.Status.PROSPECT]
    ):
        refresh_alerts(partnership)
        n += 1
    return n
