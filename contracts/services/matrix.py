"""The responsibility (RACI) matrix of a draft: rows one by one, and CSV export/import. Every
change is a ``contract`` event whose ``data`` names the rows (``item`` or ``items``); a row's
edit lists the row's changed fields in ``changed``."""

import csv
import io
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from partnership import events

from ..models import Contract, ResponsibilityItem, normalise_letters
from .access import require_editable
from .drafting import KIND, bulk_create, save_part, stored_snapshot


def _letters(value: str) -> str:
    """Normalise RACI letters before field validation, so "R, A, C" fits the 4-character field;
    letters it cannot read are left for full_clean to report against the field."""
    try:
        return normalise_letters(value)
    except ValidationError:
        return value


@transaction.atomic
def save_matrix_item(
    *, by, contract: Contract, item: ResponsibilityItem | None = None, **fields
) -> ResponsibilityItem:
    """Add a row (``item`` None) or edit one; an edit that changes nothing is not saved."""
    require_editable(by, contract)
    item = item or ResponsibilityItem(contract=contract)
    if item.contract_id != contract.pk:
        raise PermissionDenied
    before = stored_snapshot(item) if item.pk else None
    for name, value in fields.items():
        setattr(item, name, value.strip() if isinstance(value, str) else value)
    item.oem, item.ems = _letters(item.oem), _letters(item.ems)
    if item.pk is None and not item.position:
        item.position = (contract.matrix.aggregate(p=Max("position"))["p"] or 0) + 10
    item.full_clean()
    return save_part(by, contract, item, before, "matrix_item", item=item)


@transaction.atomic
def delete_matrix_item(*, by, item: ResponsibilityItem) -> None:
    contract = item.contract
    require_editable(by, contract)
    item_id = item.pk
    item.delete()
    events.emit(KIND, "matrix_item_deleted", contract, by=by, item=item, item_id=item_id)


MATRIX_CSV_HEADER = ["area", "activity", "oem", "ems"]


def export_matrix_csv(contract: Contract) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(MATRIX_CSV_HEADER)
    for item in contract.matrix.all():
        writer.writerow([item.area, item.activity, item.oem, item.ems])
    return out.getvalue()


@dataclass
class ImportResult:
    created: int
    errors: list[str]


def _rows(items) -> list[tuple]:
    return [(i.area, i.activity, i.oem, i.ems, i.position) for i in items]


@transaction.atomic
def import_matrix_csv(*, by, contract: Contract, data: bytes) -> ImportResult:
    """Replace the matrix with a CSV's rows — all of them or none. Errors name their row. The
    same rows as stored change nothing."""
    require_editable(by, contract)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ImportResult(0, [_("The file is not UTF-8 encoded CSV.")])
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if header[:4] != MATRIX_CSV_HEADER:
        return ImportResult(
            0, [_("The first line must be: %(header)s") % {"header": ",".join(MATRIX_CSV_HEADER)}]
        )
    reader.fieldnames = header
    items, errors, seen = [], [], set()
    for line, row in enumerate(reader, start=2):
        item = ResponsibilityItem(
            contract=contract,
            area=(row.get("area") or "").strip(),
            activity=(row.get("activity") or "").strip(),
            oem=_letters((row.get("oem") or "").strip()),
            ems=_letters((row.get("ems") or "").strip()),
            position=(line - 1) * 10,
        )
        try:
            item.full_clean(exclude=["contract"], validate_unique=False)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                where = "" if field == "__all__" else f"{field}: "
                errors += [
                    _("Row %(line)s: %(where)s%(msg)s") % {"line": line, "where": where, "msg": m}
                    for m in messages
                ]
            continue
        key = (item.area.lower(), item.activity.lower())
        if key in seen:
            errors.append(_("Row %(line)s: this activity appears twice.") % {"line": line})
        seen.add(key)
        items.append(item)
    if not items and not errors:
        errors.append(_("The file has no rows."))
    if errors:
        return ImportResult(0, errors)
    stored = list(contract.matrix.all())
    if _rows(items) == _rows(stored):
        return ImportResult(len(items), [])
    old = {(i.area.lower(), i.activity.lower()): i.lineage for i in stored}
    for item in items:  # keep lineage so version comparison sees "changed", not "removed + added"
        item.lineage = old.get((item.area.lower(), item.activity.lower()), item.lineage)
    contract.matrix.all().delete()
    bulk_create(ResponsibilityItem, items)
    events.emit(KIND, "matrix_imported", contract, by=by, items=items)
    return ImportResult(len(items), [])
