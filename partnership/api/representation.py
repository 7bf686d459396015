"""A faster ``to_representation`` for list serializers of plain model fields.

DRF serialises a row field by field through ``get_attribute`` (source lookups, callables,
related-object handling) and a generator of readable fields: ~45 µs a row of eight columns
on a small server, most of a 500-row sync page (#9). For a serializer whose fields are all
plain attributes of the model — a column, or a foreign key shown as its id — the lookups
can be planned once per serializer and each value handed straight to the field's own
``to_representation``, so the output is the same, value for value
(tests/api/test_representation.py). Anything else (dotted sources, methods, nested
serializers) keeps DRF's way.
"""

from rest_framework import serializers
from rest_framework.relations import PrimaryKeyRelatedField


def _plan(serializer):
    plan = []
    for field in serializer._readable_fields:
        if isinstance(field, serializers.SerializerMethodField | serializers.BaseSerializer):
            return None
        if len(field.source_attrs) != 1:
            return None
        if isinstance(field, PrimaryKeyRelatedField):
            overridden = (
                type(field).to_representation is not PrimaryKeyRelatedField.to_representation
            )
            if overridden or field.pk_field is not None or not field.use_pk_only_optimization():
                return None
            model_field = serializer.Meta.model._meta.get_field(field.source)
            plan.append((field.field_name, model_field.attname, None))
        elif not isinstance(field, serializers.RelatedField | serializers.ManyRelatedField):
            plan.append((field.field_name, field.source, field.to_representation))
        else:
            return None
    return plan


class PlainRepresentationMixin:
    """Mix into a ModelSerializer (before it) whose readable fields are plain attributes."""

    def to_representation(self, instance):
        plan = self.__dict__.get("_plain_plan", False)
        if plan is False:
            plan = self.__dict__["_plain_plan"] = _plan(self)
        if plan is None:
            return super().to_representation(instance)
        out = {}
        for name, attr, to_representation in plan:
            try:
                value = getattr(instance, attr)
            except AttributeError:  # DRF has rules for that (defaults, skipping): its way
                return super().to_representation(instance)
            if callable(value):  # e.g. source="get_status_display", as DRF does
                value = value()
            if value is None or to_representation is None:
                out[name] = value
            else:
                out[name] = to_representation(value)
        return out
