"""Upsert by external_id of products, production runs and long-lead items
(``partnership.api.upsert``).

Products and runs take the set-based services ``upsert_products``/``upsert_runs`` (the same
rules and events as a single write, a handful of statements for 20,000 rows); the single PUT is
that path with one row. Their refusals become the API's answers here: row errors by index
(400) and collisions (409).
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions

from partnership.api.upsert import UpsertSpec

from .. import services
from ..models import LongLeadItem, Product, ProductionRun
from .serializers import (
    LongLeadItemSerializer,
    ProductBulkUpsertSerializer,
    ProductUpsertItemSerializer,
    RunBulkUpsertSerializer,
    RunUpsertItemSerializer,
)


class BulkConflict(exceptions.APIException):
    status_code = 409
    default_code = "conflict"
    default_detail = _(
        "The rows collided with a concurrent change, or with each other (two products "
        "swapping part numbers in one call); nothing was written."
    )


def _set_based(upsert, **kwargs) -> dict:
    try:
        return upsert(**kwargs)
    except services.RowsRejected as exc:
        raise exceptions.ValidationError(
            {"items": {str(index): errors for index, errors in exc.rows.items()}}
        ) from None
    except services.BulkConflict:
        raise BulkConflict from None


class ProductRowSerializer(ProductUpsertItemSerializer):
    external_id = None


class RunRowSerializer(RunUpsertItemSerializer):
    external_id = None


class ProductUpsert(UpsertSpec):
    model = Product
    item_serializer_class = ProductRowSerializer
    bulk_serializer_class = ProductBulkUpsertSerializer
    description = (
        "New products need part_number and name, and get the full readiness checklist (OEM)."
    )

    def upsert(self, *, by, partnership, items, context):
        return _set_based(services.upsert_products, by=by, partnership=partnership, items=items)


class RunUpsert(UpsertSpec):
    model = ProductionRun
    item_serializer_class = RunRowSerializer
    bulk_serializer_class = RunBulkUpsertSerializer
    description = (
        "Each row names its product by `product` (id) or `product_external_id`, among the "
        "partnership's products. A confirmed run whose dates or quantity change beyond the "
        "contract's flex terms goes back to planned (see run-changes) (OEM)."
    )

    def upsert(self, *, by, partnership, items, context):
        return _set_based(services.upsert_runs, by=by, partnership=partnership, items=items)


class LongLeadItemUpsert(UpsertSpec):
    """Long-lead components from the EMS's ERP, row by row through ``save_long_lead_item``."""

    model = LongLeadItem
    item_serializer_class = LongLeadItemSerializer
    description = _("New items need product, component, lead_time_weeks and unit_price (EMS).")

    def authorize(self, *, by, partnership):
        services.require_right(by, partnership, "keep_long_lead")

    def check(self, *, partnership, data):
        product = data.get("product")
        if product is not None and product.partnership_id != partnership.pk:
            raise ValidationError({"product": _("Choose a product of this partnership.")})

    def create(self, *, by, partnership, external_id, data):
        return services.save_long_lead_item(
            by=by, product=data.pop("product"), external_id=external_id, **data
        )

    def update(self, *, by, obj, data):
        if "product" in data:
            raise ValidationError({"product": _("A long-lead item stays with its product.")})
        return services.save_long_lead_item(by=by, product=obj.product, item=obj, **data)
