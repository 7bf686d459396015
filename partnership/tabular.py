"""Spreadsheets in and out: CSV and XLSX behind one small API.

Partners plan in Excel, ERPs export CSV; every import and export in the portal goes through
here so both formats behave the same: imports become a list of dicts keyed by lower-case
column names (with row-level errors instead of exceptions), exports take a header and rows.

XLSX is read with openpyxl in read-only mode; openpyxl parses through defusedxml when it is
installed (it is a dependency), so a hostile workbook cannot expand entities. Exported text that
a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) is prefixed with an
apostrophe — user-written text must never become a formula on the partner's machine.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.translation import gettext as _

CSV = "csv"
XLSX = "xlsx"
FORMATS = (CSV, XLSX)
CONTENT_TYPES = {
    CSV: "text/csv; charset=utf-8",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
_XLSX_MAGIC = b"PK\x03\x04"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class RowError:
    """One problem in one row of an import; row 0 is the file itself."""

    row: int
    field: str
    message: str

    def __str__(self):
        return _("Row %(row)s, %(field)s: %(message)s") % {
            "row": self.row,
            "field": self.field,
            "message": self.message,
        }


class ImportRejected(ValidationError):
    """All-or-nothing import refused: carries the row-level errors."""

    def __init__(self, errors: list[RowError]):
        self.row_errors = errors
        super().__init__([str(e) for e in errors])


def is_xlsx(data: bytes, filename: str = "") -> bool:
    return filename.lower().endswith(".xlsx") or data[:4] == _XLSX_MAGIC


def read_table(data: bytes, required: Sequence[str], *, filename: str = "") -> list[dict]:
    """Rows of a CSV or XLSX file (first sheet) as dicts keyed by lower-case header names.

    Empty rows are dropped; CSV values are stripped strings, XLSX values keep their type
    (numbers, dates) except that date-times become dates. Raises ImportRejected when the file
    cannot be read or a required column is missing."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImportRejected([RowError(0, "file", _("larger than 5 MB"))])
    header, rows = _read_xlsx(data) if is_xlsx(data, filename) else _read_csv(data)
    missing = [c for c in required if c not in header]
    if missing:
        raise ImportRejected(
            [RowError(1, "header", _("missing column(s): %(cols)s") % {"cols": ", ".join(missing)})]
        )
    return rows


def _read_csv(data: bytes) -> tuple[list[str], list[dict]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected([RowError(0, "file", _("not UTF-8 encoded CSV"))]) from None
    first_line = text.split("\n", 1)[0]
    # Excel in many European locales saves CSV with semicolons; decide by the header line.
    delimiter = next((d for d in ",;\t" if d in first_line), ",")
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    rows = []
    for row in reader:
        values = {k: (v or "").strip() for k, v in row.items() if k}
        if any(values.values()):
            rows.append(values)
    return header, rows


def _read_xlsx(data: bytes) -> tuple[list[str], list[dict]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError):
        raise ImportRejected([RowError(0, "file", _("not a readable XLSX workbook"))]) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        lines = sheet.iter_rows(values_only=True) if sheet is not None else iter(())
        first = next(lines, None) or ()
        header = [str(h).strip().lower() if h is not None else "" for h in first]
        rows = []
        for line in lines:
            values = {}
            for name, value in zip(header, line, strict=False):
                if not name:
                    continue
                if isinstance(value, dt.datetime):
                    value = value.date()
                elif isinstance(value, str):
                    value = value.strip()
                values[name] = "" if value is None else value
            if any(v not in ("", None) for v in values.values()):
                rows.append(values)
    finally:
        book.close()
    return header, rows


def _safe(value):
    """A cell value as a spreadsheet should receive it: text never starts a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return _safe(value)


def _xlsx_cell(value):
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones; callers pass local time
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    return _safe(value)


def render_table(fmt: str, header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """The rows as a CSV or XLSX file's bytes."""
    if fmt == XLSX:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(list(header))
        for row in rows:
            sheet.append([_xlsx_cell(v) for v in row])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8")


def table_response(
    fmt: str, filename: str, header: Sequence[str], rows: Iterable[Sequence]
) -> HttpResponse:
    """A download of the rows; ``filename`` without extension."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    response = HttpResponse(render_table(fmt, header, rows), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
