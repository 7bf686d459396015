"""Products and their NPI readiness: the OEM describes the assembly and uploads the data pack,
the EMS reviews each document, a product is released for launch when every required one is
approved; the EMS keeps the long-lead material it buys ahead."""

import hashlib

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from partnership import events
from partnership.history import record_rows
from partnership.models import Partnership

from ..models import LongLeadItem, Product, ReadinessFile, ReadinessItem
from .common import assign, require_right

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

#: The fields of a product the OEM writes (page, API, upserts).
PRODUCT_FIELDS = (
    "part_number",
    "revision",
    "name",
    "description",
    "ipc_class",
    "units_per_hour",
    "external_id",
)


@transaction.atomic
def save_product(
    *, by, partnership: Partnership, product: Product | None = None, **fields
) -> Product:
    """The OEM owns its products; every new product gets the full NPI readiness checklist.
    An edit that changes nothing writes nothing."""
    require_right(by, partnership, "edit_products")
    product = product or Product(partnership=partnership)
    if product.partnership_id != partnership.pk:
        raise PermissionDenied
    changed = assign(product, fields)
    if changed == []:
        return product
    product.full_clean()
    product._history_user = by
    product.save()
    if changed is None:
        create_checklists([product.pk], by)
    action = "changed" if changed else "created"
    events.emit("product", action, product, by=by, changed=changed or ())
    return product


def create_checklists(product_ids, by) -> None:
    """The NPI checklist of new products — one missing item per kind — with its audit trail:
    one INSERT … SELECT whatever the number of products (a bulk of products brings seven
    times as many readiness items), simple-history's own way on the embedded SQLite."""
    kinds = list(ReadinessItem.Kind.values)
    if connection.vendor != "postgresql":
        bulk_create_with_history(
            [ReadinessItem(product_id=pk, kind=k) for pk in product_ids for k in kinds],
            ReadinessItem,
            default_user=by,
        )
        return
    qn = connection.ops.quote_name
    meta = ReadinessItem._meta
    defaults = ("required", "status", "rejection_reason")
    columns = ", ".join(
        qn(meta.get_field(name).column) for name in ("product", "kind", *defaults, "updated_at")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(meta.db_table)} ({columns}) "
            "SELECT p.id, k.kind, %s, %s, %s, %s "
            "FROM unnest(%s::bigint[]) AS p(id) "
            "CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS k(kind, n) ORDER BY p.id, k.n "
            f"RETURNING {qn(meta.pk.column)}",
            [
                *(meta.get_field(name).get_default() for name in defaults),
                timezone.now(),
                list(product_ids),
                kinds,
            ],
        )
        item_ids = [row[0] for row in cursor.fetchall()]
    record_rows(ReadinessItem, item_ids, "+", by)


def readiness(product: Product) -> tuple[bool, list[ReadinessItem]]:
    """Launch-ready only when every required item is approved; returns the blockers."""
    blockers = [
        i
        for i in product.readiness.all()
        if i.required and i.status != ReadinessItem.Status.APPROVED
    ]
    return not blockers, blockers


def _readiness_event(action, item: ReadinessItem, by, changed) -> None:
    """Readiness is part of a product as an ERP sees it: its changes are product events."""
    events.emit("product", action, item.product, by=by, changed=changed, item=item)


@transaction.atomic
def upload_readiness_file(*, by, item: ReadinessItem, upload) -> ReadinessFile:
    require_right(by, item.product.partnership, "upload_documents")
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
    item = (
        ReadinessItem.objects.select_for_update(of=("self",))
        .select_related("product")
        .get(pk=item.pk)
    )
    product = item.product  # as stored now: a release may have slipped in meanwhile
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
    item._history_user = by
    item.save()
    changed = _unrelease(product, by) if item.required else []  # optional: no launch gate
    _touch(product)
    _readiness_event("readiness_submitted", item, by, changed)
    return record


@transaction.atomic
def review_readiness_item(
    *, by, item: ReadinessItem, approve: bool, reason: str = ""
) -> ReadinessItem:
    """The EMS, who must build from the documents, approves or rejects them (with a reason)."""
    require_right(by, item.product.partnership, "review_documents")
    item = (
        ReadinessItem.objects.select_for_update(of=("self",))
        .select_related("product")
        .get(pk=item.pk)
    )
    product = item.product  # as stored now: a release may have slipped in meanwhile
    if item.status != ReadinessItem.Status.SUBMITTED:
        raise ValidationError(_("Only a submitted document can be reviewed."))
    if not approve and not reason.strip():
        raise ValidationError({"reason": _("Say why the document is rejected.")})
    item.status = ReadinessItem.Status.APPROVED if approve else ReadinessItem.Status.REJECTED
    item.rejection_reason = "" if approve else reason.strip()
    item.reviewed_by, item.reviewed_at = by, timezone.now()
    item._history_user = by
    item.save()
    changed = _unrelease(product, by) if not approve and item.required else []
    _touch(product)
    _readiness_event("readiness_approved" if approve else "readiness_rejected", item, by, changed)
    return item


@transaction.atomic
def set_item_required(*, by, item: ReadinessItem, required: bool) -> ReadinessItem:
    require_right(by, item.product.partnership, "edit_products")
    if item.required == required:
        return item
    item.required = required
    item._history_user = by
    item.save(update_fields=["required", "updated_at"])
    changed = []
    if required and item.status != ReadinessItem.Status.APPROVED:
        changed = _unrelease(item.product, by)  # a released product stays launch-ready
    _touch(item.product)
    _readiness_event("readiness_required" if required else "readiness_optional", item, by, changed)
    return item


def _unrelease(product: Product, by) -> list[str]:
    """Withdraw the release; the product fields that changed (none if it was not released)."""
    if not product.released_at:
        return []
    # Through save() on a fresh row, so the audit trail records who withdrew the release.
    fresh = Product.objects.get(pk=product.pk)
    fresh.released_at = fresh.released_by = None
    fresh._history_user = by
    fresh.save(update_fields=["released_at", "released_by", "updated_at"])
    product.released_at = product.released_by = None
    return ["released_at", "released_by"]


def _touch(product: Product) -> None:
    """Readiness is part of a product as an ERP sees it: move it past ``updated_since``."""
    Product.objects.filter(pk=product.pk).update(updated_at=timezone.now())


@transaction.atomic
def release_for_launch(*, by, product: Product) -> Product:
    require_right(by, product.partnership, "release")
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
    product._history_user = by
    product.save(update_fields=["released_at", "released_by", "updated_at"])
    events.emit("product", "released", product, by=by, changed=["released_at", "released_by"])
    return product


# --- Long-lead material ---------------------------------------------------------------------


@transaction.atomic
def save_long_lead_item(
    *, by, product: Product, item: LongLeadItem | None = None, **fields
) -> LongLeadItem:
    """The EMS keeps the list of long-lead material it buys ahead for a product."""
    require_right(by, product.partnership, "keep_long_lead")
    item = item or LongLeadItem(product=product, partnership_id=product.partnership_id)
    if item.product_id != product.pk:
        raise PermissionDenied
    changed = assign(item, fields)
    if changed == []:
        return item
    item.full_clean()
    item._history_user = by
    item.save()
    action = "changed" if changed else "created"
    events.emit("long_lead_item", action, item, by=by, changed=changed or ())
    return item


@transaction.atomic
def delete_long_lead_item(*, by, item: LongLeadItem) -> None:
    require_right(by, item.product.partnership, "keep_long_lead")
    # Announced before the row goes: subscribers still read the object as it was.
    events.emit("long_lead_item", "deleted", item, by=by)
    item._history_user = by
    item.delete()
