"""The schedule lists (partnership/lists.py): products and production runs."""

from django.utils.translation import gettext_lazy as _

from partnership.lists import Column, ListSpec, count_per_row, register

from .filters import ProductFilter, RunFilter
from .models import Product, ProductionRun, ReadinessItem

REQUIRED_DOCUMENTS = ReadinessItem.objects.filter(required=True)


def _launch(product):
    if product.released_at:
        return _("Released")
    return _("Ready to release") if product.approved == product.required else _("Blocked")


@register
class ProductList(ListSpec):
    name = "schedules.products"
    filename = "products"
    filterset_class = ProductFilter
    default_ordering = ("part_number", "revision")
    columns = (
        Column(_("Part number"), "part_number", sort="part_number"),
        Column(_("Revision"), "revision", table=False),
        Column(_("Name"), "name", sort="name"),
        Column(_("IPC class"), "ipc_class", table=False),
        Column(_("NPI documents approved"), "approved", sort="documents"),
        Column(_("NPI documents required"), "required", table=False),
        Column(_("Launch"), _launch, sort="released"),
        Column(_("External id"), "external_id", table=False),
    )

    def queryset(self, user, scope):
        return (
            Product.objects.for_user(user)
            .for_partnership(scope)
            .annotate(
                required=count_per_row(REQUIRED_DOCUMENTS, "product"),
                approved=count_per_row(
                    REQUIRED_DOCUMENTS.filter(status=ReadinessItem.Status.APPROVED), "product"
                ),
            )
        )


@register
class RunList(ListSpec):
    name = "schedules.runs"
    filename = "production-runs"
    filterset_class = RunFilter
    defaults = {"status": "active"}
    default_ordering = ("planned_launch", "-priority")
    columns = (
        Column(_("Product"), "product.part_number", sort="product"),
        Column(_("Qty"), "quantity", sort="quantity"),
        Column(_("Launch"), "planned_launch", sort="launch"),
        Column(_("Due"), "due_date", sort="due"),
        Column(_("Status"), "get_status_display", sort="status"),
        Column(_("Priority"), "get_priority_display", sort="priority"),
        Column(_("External id"), "external_id", table=False),
    )

    def queryset(self, user, scope):
        return ProductionRun.objects.for_user(user).for_partnership(scope).select_related("product")
