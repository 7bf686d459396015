"""Upsert by external_id of products and production runs (``partnership.api.upsert``).

Their rows have no per-row side effects, so instead of one service call per row they take the
set-based path of ``serializers.upsert_products``/``upsert_runs`` (the same rules, a handful of
statements for 20,000 rows); the single PUT is that path with one row.
"""

from partnership.api.upsert import UpsertSpec

from ..models import Product, ProductionRun
from .serializers import (
    ProductBulkUpsertSerializer,
    ProductUpsertItemSerializer,
    RunBulkUpsertSerializer,
    RunUpsertItemSerializer,
    upsert_products,
    upsert_runs,
)


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
        return upsert_products(by=by, partnership=partnership, items=items)


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
        return upsert_runs(by=by, partnership=partnership, items=items)
