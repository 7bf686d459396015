"""Set-based upserts of products and production runs by ``external_id``, for ERP syncs of
thousands of rows — all of them or none.

The same rules as :func:`save_product` / :func:`save_run`, applied in bulk: the side and role
check, every model field's validation and the models' ``clean()``, uniqueness per partnership,
the product in the partnership, changes to a committed run judged against the contract's flex
table (beyond it, the run goes back for confirmation). The partnership's rows are read once and
written with a handful of statements whatever their number; each created or changed row is one
event, published in one batch (its audit trail, webhooks and notifications: the same as a
single write's); unchanged rows are not written and emit nothing.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from partnership import events

from ..models import Product, ProductionRun
from .common import require_right
from .products import create_checklists
from .runs import (
    CLOSED,
    COMMITTED,
    PRIORITY_BY_REQUEST,
    REFUSED,
    judge_run_changes,
    record_run_changes,
)

#: Rows accepted per bulk call; an ERP syncing more sends several calls.
MAX_BULK_ROWS = 20_000
DUPLICATE_EXTERNAL_ID = _("Another object of this partnership already has this external id.")
DUPLICATE_REVISION = _("Another product of this partnership has this part number and revision.")
NOT_IN_PARTNERSHIP = _("Choose a product of this partnership.")  # save_run's message

PRODUCT_ITEM_FIELDS = (
    "part_number",
    "revision",
    "name",
    "description",
    "ipc_class",
    "units_per_hour",
)
RUN_ITEM_FIELDS = ("quantity", "planned_launch", "due_date", "priority")
#: The fields of a committed run the flex table judges.
JUDGED = ("planned_launch", "due_date", "quantity")


class RowsRejected(ValidationError):
    """Some rows are invalid; nothing was written. ``rows``: ``{index: {field: [messages]}}``."""

    def __init__(self, rows: dict):
        self.rows = {i: rows[i] for i in sorted(rows)}
        super().__init__(_("Some rows are invalid; nothing was written."))


class BulkConflict(Exception):
    """The rows collided with a concurrent change, or with each other (two products swapping
    part numbers in one call); nothing was written."""


@dataclass
class _Planned:
    index: int
    obj: object
    result: str
    changed: list = field(default_factory=list)
    before: dict | None = None  # the stored values of an existing row
    change: object = None  # the judged RunChange of a committed run


def upsert_products(*, by, partnership, items) -> dict:
    """Create or update products by external id — all of them or none (OEM side)."""
    require_right(by, partnership, "edit_products")  # save_product's rule
    try:
        with transaction.atomic():
            return _upsert_products(by, partnership, items)
    except IntegrityError:
        raise BulkConflict from None


def upsert_runs(*, by, partnership, items) -> dict:
    """Create or update production runs by external id — all of them or none (OEM side)."""
    require_right(by, partnership, "order_runs")  # save_run's rule
    try:
        with transaction.atomic():
            return _upsert_runs(by, partnership, items)
    except IntegrityError:
        raise BulkConflict from None


# --- rows -----------------------------------------------------------------------------------


def _external_id(item, errors):
    value = item.get("external_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        errors["external_id"] = [_("This field is required: the ERP's key of the row.")]
        return None
    if len(value) > 100:
        errors["external_id"] = [_("At most 100 characters.")]
        return None
    return value


def _values(model, item, names, errors):
    """The item's values for ``names``: scalars only; the model fields validate them later."""
    values = {}
    for name in names:
        if name not in item:
            continue
        value = item[name]
        model_field = model._meta.get_field(name)
        if value is None and not model_field.null:
            errors[name] = [_("This field may not be null.")]
        elif isinstance(value, dict | list | bool):
            errors[name] = [_("Expected text, a number or a date.")]
        elif isinstance(value, float) and model_field.get_internal_type().endswith("IntegerField"):
            if value.is_integer():
                values[name] = int(value)
            else:
                errors[name] = [_("A whole number is required.")]
        else:
            values[name] = value
    return values


def _read(model, item, names, first_index) -> tuple[str | None, dict, dict]:
    """A row's external id and values, and its errors so far (no usable id, an id an earlier
    row of the call has, values that are not scalars)."""
    errors = {}
    external_id = _external_id(item, errors)
    values = _values(model, item, names, errors)
    if external_id in first_index:
        errors["external_id"] = [
            _("Item %(index)s has the same external id.") % {"index": first_index[external_id]}
        ]
    return external_id, values, errors


def _clean(obj, names, errors):
    """Each named model field's own validation (type, length, choices, validators), then the
    model's ``clean()`` if those passed (the rules a single write's ``full_clean`` applies)."""
    exclude = [f.name for f in obj._meta.concrete_fields if f.name not in names]
    try:
        obj.clean_fields(exclude=exclude)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(messages)
        return
    try:
        obj.clean()
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(messages)


def _wanted(items, name):
    """The distinct text values of ``name`` in the items, to read only the rows they touch."""
    return list({str(item[name]) for item in items if isinstance(item.get(name), str | int)})


def _write(model, plan, by, kind):
    """Insert the new rows, update the changed ones (one statement each), and publish one event
    per row written (their audit trail comes with them: ``saved=False``)."""
    created = [p.obj for p in plan if p.result == "created"]
    updated = [p for p in plan if p.result == "updated"]
    if created:
        model.objects.bulk_create(created)
    if updated:
        # ``external_id`` is unique only among non-null values (a partial index), which
        # ON CONFLICT cannot target without its predicate; the primary key can. The rows were
        # read under a lock, so this is an update of each one, in a single statement.
        model.objects.bulk_create(
            [p.obj for p in updated],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=[*sorted({name for p in updated for name in p.changed}), "updated_at"],
        )
    return created, [
        events.event(
            kind,
            "created" if p.result == "created" else "changed",
            p.obj,
            by=by,
            changed=p.changed,
            saved=False,
            **({"change": p.change} if p.change is not None else {}),
        )
        for p in plan
        if p.result != "unchanged"
    ]


def _summary(plan):
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for p in plan:
        counts[p.result] += 1
    return {
        **counts,
        "items": [
            {"index": p.index, "external_id": p.obj.external_id, "id": p.obj.pk, "result": p.result}
            for p in plan
        ],
    }


def _result(before, obj) -> tuple[str, list]:
    if before is None:
        return "created", []
    changed = events.changed_fields(obj, before)
    return ("updated" if changed else "unchanged"), changed


# --- products -------------------------------------------------------------------------------


def _upsert_products(by, partnership, items):
    # The products the items name, and those holding a part number the items use (the
    # uniqueness check of part number and revision needs them), locked until commit.
    existing = list(
        Product.objects.filter(partnership=partnership)
        .filter(
            Q(external_id__in=_wanted(items, "external_id"))
            | Q(part_number__in=_wanted(items, "part_number"))
        )
        .select_for_update()
    )
    by_external_id = {p.external_id: p for p in existing if p.external_id}
    keys = {p.pk: (p.part_number, p.revision) for p in existing}
    moved, index_of = set(), {}
    plan, errors, first_index = [], {}, {}
    for index, item in enumerate(items):
        external_id, values, row = _read(Product, item, PRODUCT_ITEM_FIELDS, first_index)
        if row:
            errors[index] = row
            continue
        first_index[external_id] = index
        product = by_external_id.get(external_id)
        if product is None:
            product = Product(partnership=partnership, external_id=external_id, **values)
            _clean(product, {*PRODUCT_ITEM_FIELDS, "external_id"}, row)
            ident, before = ("new", index), None
        else:
            before = events.snapshot(product, values)
            for name, value in values.items():
                setattr(product, name, value)
            _clean(product, set(values), row)
            ident = product.pk
        if row:
            errors[index] = row
            continue
        plan.append(_Planned(index, product, *_result(before, product), before=before))
        key = (product.part_number, product.revision)
        if keys.get(ident) != key:
            moved.add(ident)
        keys[ident], index_of[ident] = key, index

    holders = defaultdict(list)
    for ident, key in keys.items():
        holders[key].append(ident)
    for idents in holders.values():
        if len(idents) > 1:
            for ident in idents:
                if ident in moved:
                    errors.setdefault(index_of[ident], {})["part_number"] = [DUPLICATE_REVISION]
    if errors:
        raise RowsRejected(errors)

    created, happened = _write(Product, plan, by, "product")
    if created:
        create_checklists([product.pk for product in created], by)
    events.publish(happened)
    return _summary(plan)


# --- runs -----------------------------------------------------------------------------------


def _resolve_product(item, by_pk, by_external_id, errors):
    """The item's product, by id or by external id, among the partnership's products only."""
    product = None
    raw = item.get("product")
    if raw is not None:
        pk = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        if isinstance(raw, str) and raw.strip().isdigit():
            pk = int(raw)
        product = by_pk.get(pk)
        if product is None:
            errors["product"] = [NOT_IN_PARTNERSHIP]
            return None
    raw = item.get("product_external_id")
    if raw not in (None, ""):
        other = by_external_id.get(str(raw)) if isinstance(raw, str | int) else None
        if other is None:
            errors["product_external_id"] = [NOT_IN_PARTNERSHIP]
            return None
        if product is not None and other.pk != product.pk:
            errors["product_external_id"] = [_("Names a different product than product.")]
            return None
        product = other
    return product


def _upsert_runs(by, partnership, items):
    product_ids = [int(pk) for pk in _wanted(items, "product") if pk.isdigit()]
    products = Product.objects.filter(partnership=partnership).filter(
        Q(pk__in=product_ids) | Q(external_id__in=_wanted(items, "product_external_id"))
    )
    products = list(products.only("pk", "external_id", "partnership"))
    product_by_pk = {p.pk: p for p in products}
    product_by_external_id = {p.external_id: p for p in products if p.external_id}
    runs = ProductionRun.objects.filter(
        partnership=partnership, external_id__in=_wanted(items, "external_id")
    )
    by_external_id = {r.external_id: r for r in runs.select_for_update()}
    plan, errors, first_index, edits = [], {}, {}, {}
    for index, item in enumerate(items):
        external_id, values, row = _read(ProductionRun, item, RUN_ITEM_FIELDS, first_index)
        product = _resolve_product(item, product_by_pk, product_by_external_id, row)
        if row:
            errors[index] = row
            continue
        first_index[external_id] = index
        run = by_external_id.get(external_id)
        if run is None:
            if product is None:
                row["product"] = [_("New runs need product or product_external_id.")]
            run = ProductionRun(partnership=partnership, external_id=external_id, **values)
            if product is not None:
                run.product = product
            _clean(run, {*RUN_ITEM_FIELDS, "external_id"}, row)
            before = None
        else:
            before = events.snapshot(run)
            for name, value in values.items():
                setattr(run, name, value)
            if product is not None:
                run.product = product
            _clean(run, set(values), row)
            if "priority" not in row and run.priority != before["priority"]:
                row["priority"] = [str(PRIORITY_BY_REQUEST)]
            if run.status in CLOSED and events.changed_fields(run, before):
                row["non_field_errors"] = [str(REFUSED["change"])]
        if row:
            errors[index] = row
            continue
        planned = _Planned(index, run, "created", before=before)
        if before is not None and run.status in COMMITTED:
            edits[run.pk] = (planned, (run, *(before[name] for name in JUDGED)))
        plan.append(planned)
    if errors:
        raise RowsRejected(errors)
    # Committed runs are judged against the flex table, as save_run does one by one (a breach
    # sends the run back to planned: its status is then among the changed fields).
    judged = judge_run_changes(by, partnership, [edit for _p, edit in edits.values()])
    for change in judged:
        edits[change.run.pk][0].change = change
    for planned in plan:
        planned.result, planned.changed = _result(planned.before, planned.obj)
    _created, happened = _write(ProductionRun, plan, by, "production_run")
    record_run_changes(judged)
    events.publish(happened)
    return _summary(plan)
