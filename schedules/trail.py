"""The objects of schedules with an audit trail (``partnership.history``), registered from the
app's ``ready()``: who changed them, when and how, for both partners."""

from partnership.history import Kind


def _week(record):
    return f"{record.week:%G-W%V} {record.line or ''}".strip()


KINDS = [
    Kind(
        "product",
        "schedules.Product",
        "partnership",
        lambda r: f"{r.part_number} rev {r.revision}",
        children=(("readiness-item", "product"), ("long-lead-item", "product")),
    ),
    Kind(
        "long-lead-item",
        "schedules.LongLeadItem",
        "partnership",
        lambda r: f"{r.product.part_number}: {r.component}",
        select=("product",),
    ),
    Kind(
        "readiness-item",
        "schedules.ReadinessItem",
        "product__partnership",
        lambda r: f"{r.product.part_number}: {r.get_kind_display()}",
        select=("product",),
    ),
    Kind(
        "run",
        "schedules.ProductionRun",
        "partnership",
        lambda r: f"#{r.id} × {r.quantity} ({r.due_date:%Y-%m-%d})",
    ),
    Kind("capacity", "schedules.CapacityPlan", "partnership", _week),
    Kind(
        "capacity-alert",
        "schedules.CapacityAlert",
        "partnership",
        lambda r: f"{r.week:%G-W%V} {r.get_kind_display()}",
    ),
]
