"""The planned representation (partnership/api/representation.py) gives DRF's output, value
for value, for every model serializer of the API it can plan — on the demo data's rows."""

import importlib
import inspect

import pytest
from django.test import override_settings
from rest_framework import serializers

from partnership.api.representation import PlainRepresentationMixin, _plan

pytestmark = pytest.mark.django_db

MODULES = ["schedules.api.serializers", "comms.api.serializers", "audits.api.serializers",
           "contracts.api.serializers", "partnership.api.serializers"]  # fmt: skip


def model_serializers():
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, serializers.ModelSerializer) and cls.__module__ == module_name:
                yield cls


def test_planned_rows_equal_drfs_for_every_plannable_serializer():
    from partnership.demo import load_demo_data

    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        load_demo_data()
    compared = set()
    for cls in model_serializers():
        drf = cls(context={})
        if issubclass(cls, PlainRepresentationMixin):  # DRF's own way, for the comparison
            drf.to_representation = lambda row, s=drf: (
                serializers.ModelSerializer.to_representation(s, row)
            )
            planned = cls(context={})
        else:
            planned = type(f"Planned{cls.__name__}", (PlainRepresentationMixin, cls), {})(
                context={}
            )
        if _plan(drf) is None:  # not plannable: the mixin hands it to DRF
            continue
        for row in cls.Meta.model._default_manager.order_by("pk")[:25]:
            try:
                expected = drf.to_representation(row)
            except AttributeError:  # reads an annotation of its view's queryset: not here
                break
            assert planned.to_representation(row) == expected, cls
            compared.add(cls.__name__)
    # the comparison ran on real rows, including the sync path's and a foreign key's
    assert {"CapacityPlanSerializer", "LongLeadItemSerializer"} <= compared, compared


def test_the_sync_serializer_is_planned():
    from schedules.api.serializers import CapacityPlanSerializer

    assert issubclass(CapacityPlanSerializer, PlainRepresentationMixin)
    assert _plan(CapacityPlanSerializer(context={})) is not None
