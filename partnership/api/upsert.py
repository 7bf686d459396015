"""Upsert by ``external_id``: the one mechanism every synced type of the API shares.

A viewset with :class:`ExternalIdUpsertMixin` and an :class:`UpsertSpec` answers

- ``PUT /{resource}/by-external-id/{external_id}/`` with ``{"partnership": id, …fields}``:
  creates the object (201) or changes the fields sent (200), answering the object;
- ``POST /{resource}/bulk-upsert/`` with ``{"partnership": id, "items": [{"external_id": …,
  …fields}, …]}``: many rows in one transaction, **all or nothing**: one invalid row rejects
  the call with every row's errors keyed by index (``{"errors": {"items": {"17": {…}}}}``)
  and nothing is written. The answer counts rows created, updated and unchanged.

``external_id`` is unique per partnership and type (a database constraint). A row whose
values equal the stored ones is *unchanged*: no service call, no notification, no new
``updated_at``, so resending a whole sync is harmless. Each row goes through the app's
services (``UpsertSpec.create``/``update``) — role checks, invitations, transitions and
notifications included — inside a savepoint, so a row a service refuses leaves no trace
while the others are still checked. Products and runs, which have no per-row side effects,
replace :meth:`UpsertSpec.upsert` with a set-based bulk path (``schedules.api``).

Objects of other partnerships are out of reach: the partnership is resolved among the
caller's (400 otherwise) and rows are looked up only within it, so an external id used by
another partnership is a different object.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from partnership.models import Partnership

from .errors import ErrorSerializer
from .fields import ScopedIdField
from .viewsets import ERROR_RESPONSES

MAX_ROWS = 5_000
EXTERNAL_ID_MAX = 100


class UpsertConflict(exceptions.APIException):
    status_code = 409
    default_code = "conflict"
    default_detail = _(
        "The rows collided with a concurrent change (another call created the same external "
        "id); nothing was written. Retry."
    )


class RowsField(serializers.Field):
    """A JSON list of objects, each with an ``external_id``; rows are validated by the spec."""

    default_error_messages = {
        "not_a_list": _("Expected a list of objects."),
        "empty": _("At least one row is needed."),
        "too_many": _("At most {max_rows} rows per call."),
    }

    def __init__(self, *, max_rows=MAX_ROWS, **kwargs):
        self.max_rows = max_rows
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        if len(data) > self.max_rows:
            self.fail("too_many", max_rows=self.max_rows)
        return data

    def to_representation(self, value):
        return value


class UpsertResultItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text=_("Position of the item in the request."))
    external_id = serializers.CharField()
    id = serializers.IntegerField()
    result = serializers.ChoiceField(
        choices=[("created", "created"), ("updated", "updated"), ("unchanged", "unchanged")]
    )


class UpsertResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    items = UpsertResultItemSerializer(many=True)


def summary(rows) -> dict:
    """``rows``: (index, object, result) in request order."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for _index, _obj, result in rows:
        counts[result] += 1
    return {
        **counts,
        "items": [
            {"index": index, "external_id": obj.external_id, "id": obj.pk, "result": result}
            for index, obj, result in rows
        ],
    }


def _external_id(row) -> tuple[str | None, list]:
    value = row.get("external_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None, [_("This field is required: the ERP's key of the row.")]
    if len(value) > EXTERNAL_ID_MAX:
        return None, [_("At most 100 characters.")]
    return value, []


def _messages(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        errors = dict(exc.message_dict)
        if "__all__" in errors:
            errors["non_field_errors"] = errors.pop("__all__")
        return errors
    return {"non_field_errors": exc.messages}


class UpsertSpec:
    """How one type is created and changed by external id. Subclasses (in each app's
    ``api/upserts.py``) name the model and the serializer of one row's fields, and call the
    app's services in :meth:`create` and :meth:`update`."""

    model = None
    #: The fields of one row, without ``partnership`` and ``external_id``; validated in full
    #: for a new object and partially (only what is sent) for an existing one.
    item_serializer_class = None
    #: Path from the model to its partnership.
    partnership_field = "partnership"
    #: Many-to-many fields among the row's, compared as sets of ids.
    m2m_fields: tuple[str, ...] = ()
    max_rows = MAX_ROWS
    #: What the endpoints' descriptions add for this type.
    description = ""
    #: The bulk body, when the spec brings its own (products and runs); else one is made.
    bulk_serializer_class = None

    def create(self, *, by, partnership, external_id, data):
        raise NotImplementedError

    def update(self, *, by, obj, data):
        """Apply ``data``: only the values that differ from the stored ones."""
        raise NotImplementedError

    def authorize(self, *, by, partnership) -> None:
        """The service's rule of who may write this type here, checked once per call (so that
        rows left unchanged are not a way around it)."""

    def check(self, *, partnership, data) -> None:
        """Input shape beyond the row serializer (links to other objects of the partnership)."""

    # --- the mechanism ----------------------------------------------------------------------

    def changed(self, obj, data) -> dict:
        out = {}
        for name, value in data.items():
            current = getattr(obj, name)
            if name in self.m2m_fields:
                if {o.pk for o in current.all()} != {o.pk for o in value}:
                    out[name] = value
            elif current != value:
                out[name] = value
        return out

    def upsert(self, *, by, partnership, items, context) -> dict:
        """All rows or none; row errors keyed by index. See the module docstring."""
        self.authorize(by=by, partnership=partnership)
        try:
            with transaction.atomic():
                return self._upsert(by, partnership, items, context)
        except IntegrityError:
            raise UpsertConflict from None

    def _upsert(self, by, partnership, items, context):
        wanted = [r["external_id"] for r in items if isinstance(r, dict) and r.get("external_id")]
        existing = {
            obj.external_id: obj
            for obj in self.model._default_manager.filter(
                **{self.partnership_field: partnership},
                external_id__in=[str(w) for w in wanted if isinstance(w, str | int)],
            ).select_for_update(of=("self",))
        }
        errors, done, first = {}, [], {}
        for index, row in enumerate(items):
            if not isinstance(row, dict):
                errors[index] = {"non_field_errors": [_("Expected an object.")]}
                continue
            external_id, problems = _external_id(row)
            if external_id in first:
                problems = [
                    _("Item %(index)s has the same external id.") % {"index": first[external_id]}
                ]
            if problems:
                errors[index] = {"external_id": problems}
                continue
            first[external_id] = index
            obj = existing.get(external_id)
            fields = {k: v for k, v in row.items() if k != "external_id"}
            serializer = self.item_serializer_class(
                data=fields, context=context, partial=obj is not None
            )
            if not serializer.is_valid():
                errors[index] = serializer.errors
                continue
            data = dict(serializer.validated_data)
            try:
                with transaction.atomic():  # a savepoint: a refused row leaves no trace
                    self.check(partnership=partnership, data=data)
                    if obj is None:
                        obj = self.create(
                            by=by, partnership=partnership, external_id=external_id, data=data
                        )
                        result = "created"
                    else:
                        changes = self.changed(obj, data)
                        if changes:
                            obj = self.update(by=by, obj=obj, data=changes) or obj
                        result = "updated" if changes else "unchanged"
            except DjangoValidationError as exc:
                errors[index] = _messages(exc)
                continue
            except exceptions.ValidationError as exc:
                errors[index] = exc.detail
                continue
            done.append((index, obj, result))
        if errors:
            raise exceptions.ValidationError({"items": {str(i): errors[i] for i in sorted(errors)}})
        return summary(done)


# --- the endpoints ----------------------------------------------------------------------------


class _UpsertBody:
    """A documented upsert body: what a new object needs depends on whether it exists, so
    only ``always_required`` is marked required (the descriptions say what a new one needs)."""

    always_required: tuple[str, ...] = ()

    def get_fields(self):
        fields = super().get_fields()
        for name, field in fields.items():
            if name not in self.always_required and not field.read_only:
                field.required = False
        return fields


def _named(name, bases, attrs, component):
    cls = type(name, bases, attrs)
    return extend_schema_serializer(component_name=component)(cls)


def _body_serializers(spec, model_name):
    """The documented bodies of one type: a row, the single PUT, the bulk call."""
    item = spec.item_serializer_class
    row = _named(
        f"{model_name}UpsertItemSerializer",
        (_UpsertBody, item),
        {
            "__doc__": "One row of a bulk upsert: its external_id and the fields to set. A new "
            "object needs what creating one needs; an existing one changes only in the fields sent.",
            "external_id": serializers.CharField(max_length=EXTERNAL_ID_MAX),
            "always_required": ("external_id",),
        },
        f"{model_name}UpsertItem",
    )
    attrs = {
        "__doc__": "The partnership and the fields to set. A new object needs what creating one "
        "needs; an existing one changes only in the fields sent.",
        "partnership": ScopedIdField(queryset=Partnership.objects.all()),
        "always_required": ("partnership",),
    }
    meta = getattr(item, "Meta", None)
    if meta is not None and hasattr(meta, "fields"):  # a ModelSerializer lists its fields
        attrs["Meta"] = type("Meta", (meta,), {"fields": ["partnership", *meta.fields]})
    one = _named(f"{model_name}UpsertSerializer", (_UpsertBody, item), attrs, f"{model_name}Upsert")
    items_field = extend_schema_field(row(many=True))(
        type(f"{model_name}RowsField", (RowsField,), {})
    )
    bulk = _named(
        f"{model_name}BulkUpsertSerializer",
        (serializers.Serializer,),
        {
            "__doc__": "Rows of one partnership keyed by external_id.",
            "partnership": ScopedIdField(queryset=Partnership.objects.all()),
            "items": items_field(
                max_rows=spec.max_rows,
                help_text=_("Rows keyed by external_id, up to %(n)s.") % {"n": spec.max_rows},
            ),
        },
        f"{model_name}BulkUpsert",
    )
    return one, bulk


class PartnershipBodySerializer(serializers.Serializer):
    partnership = ScopedIdField(queryset=Partnership.objects.all())


class UpsertValidationErrorSerializer(ErrorSerializer):
    errors = serializers.DictField(
        help_text=_(
            "Field errors; a bulk call's row errors are keyed by index, then by field: "
            '`{"items": {"17": {"title": ["…"]}}}`.'
        )
    )


ROWS_INVALID = OpenApiResponse(
    UpsertValidationErrorSerializer,
    description=(
        "Nothing was written. `errors` names the fields; rows are named by their index: "
        '`{"errors": {"items": {"17": {"title": ["…"]}}}}`.'
    ),
)
CONFLICT = OpenApiResponse(
    ErrorSerializer, description="A concurrent call created the same external id; retry."
)
BULK_DESCRIPTION = _(
    "All or nothing: rows are checked one by one through the same rules as single writes and "
    "written in one transaction; one invalid row rejects the call with every row's errors, "
    "keyed by the row's index. Existing objects (same partnership and external_id) change "
    "only in the fields sent; rows equal to what is stored are left untouched."
)
ONE_DESCRIPTION = _(
    "Creates the object with this external id in the partnership (201) or changes the fields "
    "sent (200); the same body again changes nothing. External ids with a `/` go through "
    "bulk-upsert."
)


class ExternalIdUpsertMixin:
    """Adds ``by-external-id/{external_id}/`` (PUT) and ``bulk-upsert/`` (POST) to a viewset
    whose ``upsert`` is an :class:`UpsertSpec`; documents them per type."""

    upsert: UpsertSpec = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("upsert")
        if spec is None:
            return
        name = spec.model.__name__
        one, bulk = _body_serializers(spec, name)
        cls.upsert_one_serializer_class = one
        bulk = spec.bulk_serializer_class or bulk
        cls.upsert_bulk_serializer_class = bulk
        output = cls.serializer_class
        plural = str(spec.model._meta.verbose_name_plural)
        extend_schema_view(
            by_external_id=extend_schema(
                summary=f"Create or update one of the {plural} by its external_id",
                description=str(ONE_DESCRIPTION) + (" " + str(spec.description)).rstrip(),
                request=one,
                parameters=[
                    OpenApiParameter(
                        "external_id",
                        str,
                        OpenApiParameter.PATH,
                        description=str(_("Your system's id, unique in the partnership.")),
                    )
                ],
                responses={
                    200: OpenApiResponse(output, description="Updated, or unchanged."),
                    201: OpenApiResponse(output, description="Created."),
                    400: ROWS_INVALID,
                    409: CONFLICT,
                    **ERROR_RESPONSES,
                },
            ),
            bulk_upsert=extend_schema(
                summary=f"Create or update {plural} by external_id, all or nothing",
                description=str(BULK_DESCRIPTION) + (" " + str(spec.description)).rstrip(),
                request=bulk,
                responses={
                    200: UpsertResultSerializer,
                    400: ROWS_INVALID,
                    409: CONFLICT,
                    **ERROR_RESPONSES,
                },
            ),
        )(cls)

    def _upsert_context(self):
        return self.get_serializer_context()

    @action(
        detail=False,
        methods=["put"],
        url_path=r"by-external-id/(?P<external_id>[^/]+)",
        filter_backends=[],
        pagination_class=None,
    )
    def by_external_id(self, request, external_id=None):
        data = request.data if isinstance(request.data, dict) else {}
        head = PartnershipBodySerializer(data=data, context=self._upsert_context())
        head.is_valid(raise_exception=True)
        row = {k: v for k, v in data.items() if k != "partnership"}
        row["external_id"] = external_id
        try:
            done = self.upsert.upsert(
                by=request.user,
                partnership=head.validated_data["partnership"],
                items=[row],
                context=self._upsert_context(),
            )
        except exceptions.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, dict) and "items" in detail and "0" in detail["items"]:
                detail = detail["items"]["0"]
            raise exceptions.ValidationError(detail) from None
        (item,) = done["items"]
        obj = self.get_queryset().get(pk=item["id"])
        code = status.HTTP_201_CREATED if item["result"] == "created" else status.HTTP_200_OK
        return Response(self.get_serializer(obj).data, status=code)

    @action(
        detail=False,
        methods=["post"],
        url_path="bulk-upsert",
        filter_backends=[],
        pagination_class=None,
    )
    def bulk_upsert(self, request):
        body = self.upsert_bulk_serializer_class(data=request.data, context=self._upsert_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        return Response(
            self.upsert.upsert(
                by=request.user,
                partnership=data["partnership"],
                items=data["items"],
                context=self._upsert_context(),
            )
        )
