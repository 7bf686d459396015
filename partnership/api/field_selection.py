"""``?fields=a,b,c`` on every list and retrieve of the API: answer only the fields asked for.

DRF's "dynamic fields" pattern, applied once in the base viewset instead of in every
serializer: the viewset drops the other fields from whatever serializer the action uses. An
ERP that syncs three columns of 100,000 rows then neither downloads nor computes the rest —
and, where a dropped field was the only reader of a prefetched relation (a product's readiness
items), the prefetch is skipped too. Unknown names answer 400 with a field error on ``fields``
naming the valid ones, before any row is read.
"""

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

FIELDS_PARAM = "fields"
SELECTING_ACTIONS = ("list", "retrieve")


def _root(lookup) -> str:
    path = lookup.prefetch_to if isinstance(lookup, Prefetch) else lookup
    return path.split("__", 1)[0]


class FieldSelectionMixin:
    """Viewset mixin: ``fields`` (comma-separated, or repeated) on GET of list and retrieve.

    ``field_relations`` names the relations a computed field reads, for fields whose
    ``source`` does not say so (``SerializerMethodField``): ``{"launch_ready": ("readiness",)}``.
    A selected computed field without an entry keeps every prefetch (never more queries than
    without ``fields``).
    """

    field_relations: dict[str, tuple[str, ...]] = {}

    def _selecting(self) -> bool:
        return (
            getattr(self, "action", None) in SELECTING_ACTIONS
            and self.request is not None
            and self.request.method in ("GET", "HEAD")
        )

    def selectable_fields(self) -> dict:
        """The fields of the action's serializer, by name."""
        serializer = self.get_serializer_class()(context=self.get_serializer_context())
        return dict(serializer.fields)

    def requested_fields(self) -> list[str] | None:
        """The names asked for, in order, or None for all; 400 for unknown names."""
        if not self._selecting():
            return None
        cached = getattr(self, "_requested_fields", False)
        if cached is not False:
            return cached
        raw = self.request.query_params.getlist(FIELDS_PARAM)
        names = list(dict.fromkeys(n.strip() for v in raw for n in v.split(",") if n.strip()))
        if not raw:
            names = None
        else:
            valid = list(self.selectable_fields())
            unknown = [n for n in names or () if n not in valid]
            if unknown or not names:
                message = (
                    _("Unknown field(s): %(unknown)s. Valid fields: %(valid)s.")
                    if unknown
                    else _("Name at least one field. Valid fields: %(valid)s.")
                )
                raise ValidationError(
                    {
                        FIELDS_PARAM: [
                            message % {"unknown": ", ".join(unknown), "valid": ", ".join(valid)}
                        ]
                    }
                )
        self._requested_fields = names
        return names

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._requested_fields = False
        self.requested_fields()  # bad names answer 400 before any row is read

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        names = None if getattr(self, "_whole", False) else self.requested_fields()
        if names:
            target = getattr(serializer, "child", serializer)
            for name in set(target.fields) - set(names):
                target.fields.pop(name)
        return serializer

    def get_object(self):
        self._object = super().get_object()
        return self._object

    def response_etag(self, response):
        """A detail read with ``fields`` is tagged like the whole object, so its ETag works
        as ``If-Match`` for a later write (which compares against the whole object)."""
        obj = getattr(self, "_object", None)
        meta = getattr(self.get_serializer_class(), "Meta", None)
        if (
            obj is None
            or not self.requested_fields()
            or getattr(meta, "model", None) is not type(obj)
        ):
            return super().response_etag(response)  # not a serialized model (a scorecard)
        self._whole = True
        try:
            return self.etag_for(obj)
        finally:
            self._whole = False

    def without_unselected_prefetches(self, queryset):
        """Drop the prefetches only unselected fields read."""
        names = self.requested_fields()
        lookups = getattr(queryset, "_prefetch_related_lookups", ())
        if not names or not lookups:
            return queryset
        fields, read = self.selectable_fields(), set()
        for name in names:
            field = fields[name]
            if name in self.field_relations:
                read.update(self.field_relations[name])
            elif isinstance(field, serializers.SerializerMethodField) or field.source == "*":
                return queryset  # reads who knows what: keep everything
            else:
                read.add(field.source.split(".", 1)[0])
        kept = [lookup for lookup in lookups if _root(lookup) in read]
        return queryset.prefetch_related(None).prefetch_related(*kept)

    def get_queryset(self):
        return self.without_unselected_prefetches(super().get_queryset())


class FieldSelectionSchema(AutoSchema):
    """Documents ``fields`` on the list and retrieve of every viewset with the mixin."""

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        view = self.view
        if (
            isinstance(view, FieldSelectionMixin)
            and self.method == "GET"
            and getattr(view, "action", None) in SELECTING_ACTIONS
        ):
            try:
                names = list(view.get_serializer_class()().fields)
            except Exception:
                names = []
            parameters.append(
                OpenApiParameter(
                    FIELDS_PARAM,
                    {"type": "array", "items": {"type": "string", "enum": names}},
                    OpenApiParameter.QUERY,
                    explode=False,
                    description=str(
                        _(
                            "Answer only these fields, comma-separated (e.g. "
                            "`fields=id,updated_at`); repeating the parameter works too. An "
                            "unknown name answers 400. Without it: every field."
                        )
                    ),
                )
            )
        return parameters


def selectable_responses_optional(result, generator, request, public):
    """drf-spectacular postprocessing hook: with ``fields=`` any property of a list's or
    retrieve's object may be left out, so those components list no ``required`` properties
    (generated clients would otherwise refuse a selected answer)."""
    schemas = result.get("components", {}).get("schemas", {})

    def component(ref):
        return schemas.get(ref.rsplit("/", 1)[-1]) if ref else None

    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or not any(
                p.get("name") == FIELDS_PARAM for p in operation.get("parameters", [])
            ):
                continue
            content = operation.get("responses", {}).get("200", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            target = component(ref)
            results = (target or {}).get("properties", {}).get("results", {})
            if "items" in results:  # a paginated list: the rows' component
                target = component(results["items"].get("$ref"))
            if target is not None:
                target.pop("required", None)
    return result
