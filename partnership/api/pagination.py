"""Two ways through a list: page numbers for people, a keyset cursor for machines that sync.

``PortalPagination`` is the default pagination class. It answers with page numbers
(``count``/``next``/``previous``/``results``) unless the request is an incremental sync — it
has ``updated_since``, ``cursor`` or ``sync=1`` — on the list of a model with ``updated_at``;
then it hands the request to :class:`SyncCursorPagination`. Models without ``updated_at``
(demand publications, audit templates, …) always page by number.
"""

import base64
import binascii
import json
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

SYNC_QUERY_PARAMS = ("updated_since", "cursor")
TRUE_VALUES = {"1", "true", "yes", "on"}

#: How far ``next_updated_since`` reaches back before the snapshot bound: the longest a
#: write transaction may take to commit (and the clock skew between app servers). Rows in
#: that window are sent again by the next sync; an ERP upserts by id, so that is harmless.
DEFAULT_SYNC_OVERLAP = timedelta(seconds=30)


def sync_overlap() -> timedelta:
    value = getattr(settings, "API_SYNC_OVERLAP", DEFAULT_SYNC_OVERLAP)
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def has_field(model, name) -> bool:
    if model is None:
        return False
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


class SyncCursorPagination(CursorPagination):
    """Keyset pagination over ``(updated_at, id)`` for incremental ERP syncs.

    **Why a keyset and not pages.** Page *n* is "skip n × size rows": when a row earlier in
    the order changes or disappears between two page fetches, every later row shifts, and the
    client skips one row or sees one twice. A keyset page is "the next rows after the last
    ``(updated_at, id)`` I saw": it depends on no other row, so inserts, updates and deletes
    elsewhere never move the boundary. ``id`` breaks ties between rows with the same
    ``updated_at`` (bulk writes), so the order is total and the cursor exact — no offsets.

    **Why a snapshot bound.** The first page fixes ``until`` = the server's clock at that
    moment; it travels inside the cursor, and every page of the sync only returns rows with
    ``updated_at <= until``. A row written during the sync gets ``updated_at > until``, so:

    - a row already sent and then changed is *not* sent again in this sync;
    - a row not yet sent and then changed leaves this sync (it would otherwise be sent at its
      old place or moved under the cursor) and is sent, once, with its new values in the next;
    - a row created during the sync is likewise left for the next sync.

    So within one sync no row is sent twice and none is lost, and every change made during
    the sync is picked up by the next one, which starts from ``next_updated_since`` (on every
    page; take it from the last page). It is ``until`` minus a small overlap
    (``settings.API_SYNC_OVERLAP``, 30 s by default, never earlier than the request's own
    ``updated_since``): ``updated_at`` is stamped when a row is saved, not when its
    transaction commits, so a long transaction can commit a row stamped a moment before
    ``until`` after the page that would have held it; the overlap reads that window again.
    Clients upsert what they receive, so rows sent twice across syncs are harmless.

    ``count`` is the number of rows the snapshot held when the sync started (for progress
    bars). ``previous`` is always null: a sync only moves forward. Filters and ``page_size``
    apply as usual; ``ordering`` does not.
    """

    timestamp_field = "updated_at"
    ordering = ("updated_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    cursor_query_description = _(
        "Opaque position in an incremental sync: follow `next` until it is null. "
        "`updated_since`, `cursor` or `sync=1` switch a list to sync mode."
    )
    invalid_cursor_message = _("Invalid cursor.")

    @classmethod
    def supports(cls, model) -> bool:
        return has_field(model, cls.timestamp_field)

    # --- the page -------------------------------------------------------------------------

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = remove_query_param(request.build_absolute_uri(), "page")
        cursor = self.decode_cursor(request)
        ts = self.timestamp_field
        self.until = cursor["until"] if cursor else timezone.now()
        queryset = queryset.filter(**{f"{ts}__lte": self.until})
        self.count = cursor["count"] if cursor else queryset.count()
        if cursor and cursor["after"] is not None:
            at, pk = cursor["after"]
            # ``>= at`` as well: the index range then starts at the cursor. With the OR alone,
            # every page scanned from ``updated_since`` again — quadratic over a long sync (#9).
            queryset = queryset.filter(**{f"{ts}__gte": at}).filter(
                Q(**{f"{ts}__gt": at}) | Q(**{ts: at, "pk__gt": pk})
            )
        rows = list(queryset.order_by(ts, "pk")[: self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        self.has_previous = False
        return self.page

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": None,
                "next_updated_since": self.next_updated_since().isoformat(),
                "results": data,
            }
        )

    def next_updated_since(self):
        start = self.until - sync_overlap()
        asked = self.request.query_params.get("updated_since")
        asked = parse_datetime(asked) if asked else None
        if asked is not None:
            if timezone.is_naive(asked):
                asked = timezone.make_aware(asked)
            start = max(start, asked)
        return start

    def get_next_link(self):
        if not self.has_next:
            return None
        last = self.page[-1]
        return self.encode_cursor(
            {
                "until": self.until,
                "count": self.count,
                "after": (getattr(last, self.timestamp_field), last.pk),
            }
        )

    def get_previous_link(self):
        return None

    # --- the cursor: base64 of {"b": until, "n": count, "t": timestamp, "i": id} ----------

    def encode_cursor(self, cursor):
        at, pk = cursor["after"]
        payload = {
            "b": cursor["until"].isoformat(),
            "n": cursor["count"],
            "t": at.isoformat(),
            "i": pk,
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        encoded = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            payload = json.loads(raw)
            until, at = parse_datetime(payload["b"]), parse_datetime(payload["t"])
            count, pk = int(payload["n"]), int(payload["i"])
            if until is None or at is None or timezone.is_naive(until) or timezone.is_naive(at):
                raise ValueError
        except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
            raise ValidationError(
                {self.cursor_query_param: [self.invalid_cursor_message]}
            ) from None
        return {"until": until, "count": count, "after": (at, pk)}

    # --- schema ----------------------------------------------------------------------------

    def get_paginated_response_schema(self, schema):
        return paginated_schema(schema, page_numbers=False)


class TombstonePagination(SyncCursorPagination):
    """Tombstones always sync: keyset over ``(deleted_at, id)``."""

    timestamp_field = "deleted_at"
    ordering = ("deleted_at", "id")


class PortalPagination(PageNumberPagination):
    """Page numbers, or — for an incremental sync of a model with ``updated_at`` — the keyset
    cursor of :class:`SyncCursorPagination`. See the module docstring."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    sync_pagination_class = SyncCursorPagination

    sync = None  # the SyncCursorPagination serving this request, if any

    @classmethod
    def wants_sync(cls, request, view=None) -> bool:
        if getattr(view, "action", "list") not in (None, "list"):
            return False  # only the list itself; detail actions that paginate keep pages
        params = request.query_params
        return any(name in params for name in SYNC_QUERY_PARAMS) or (
            params.get("sync", "").lower() in TRUE_VALUES
        )

    def paginate_queryset(self, queryset, request, view=None):
        self.sync = None
        if self.wants_sync(request, view) and self.sync_pagination_class.supports(queryset.model):
            self.sync = self.sync_pagination_class()
            return self.sync.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        if self.sync is not None:
            return self.sync.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema):
        return paginated_schema(schema, page_numbers=True)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        model = getattr(getattr(view, "queryset", None), "model", None)
        if not self.sync_pagination_class.supports(model):
            return parameters
        cursor_param = self.sync_pagination_class.cursor_query_param
        return [
            *parameters,
            {
                "name": cursor_param,
                "required": False,
                "in": "query",
                "description": str(self.sync_pagination_class.cursor_query_description),
                "schema": {"type": "string"},
            },
            {
                "name": "sync",
                "required": False,
                "in": "query",
                "description": str(
                    _(
                        "true: sync mode without `updated_since` (a full sync): keyset pages "
                        "ordered by (updated_at, id) up to a snapshot bound, and "
                        "`next_updated_since` for the next sync."
                    )
                ),
                "schema": {"type": "boolean"},
            },
        ]


def paginated_schema(schema, *, page_numbers: bool):
    """The list body of either mode; ``next_updated_since`` only comes in sync mode."""
    return {
        "type": "object",
        "required": ["count", "results"],
        "properties": {
            "count": {
                "type": "integer",
                "example": 123,
                "description": "Rows matching the filters (in sync mode: in the snapshot).",
            },
            "next": {"type": "string", "nullable": True, "format": "uri"},
            "previous": {
                "type": "string",
                "nullable": True,
                "format": "uri",
                "description": "Always null in sync mode." if page_numbers else "Always null.",
            },
            "next_updated_since": {
                "type": "string",
                "format": "date-time",
                "description": (
                    "Sync mode only (`updated_since`, `cursor` or `sync=1`): send it as "
                    "`updated_since` in the next sync, taken from the last page."
                ),
            },
            "results": schema,
        },
    }
