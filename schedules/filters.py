"""FilterSets of the schedule lists (search ``q``, filters, and the ``sort`` OrderingFilter)."""

import django_filters
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .models import Product, ProductionRun


class ProductFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    launch = django_filters.ChoiceFilter(
        choices=[
            ("released", _("Released")),
            ("ready", _("Ready to release")),
            ("blocked", _("Blocked")),
        ],
        method="filter_launch",
        label=_("Launch"),
        empty_label=_("All"),
    )
    # Not "ipc_class": the new-product form on the same page has that field.
    ipc = django_filters.ChoiceFilter(
        field_name="ipc_class",
        choices=Product.IpcClass.choices,
        label=_("IPC class"),
        empty_label=_("All"),
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("part_number", "part_number"),
            ("name", "name"),
            ("approved", "documents"),
            ("released_at", "released"),
        ),
        label=_("Sort by"),
    )

    class Meta:
        model = Product
        fields = ["q", "launch", "ipc"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(part_number__icontains=value) | Q(name__icontains=value) | Q(external_id=value)
        )

    def filter_launch(self, queryset, name, value):
        if value == "released":
            return queryset.filter(released_at__isnull=False)
        ready = Q(released_at__isnull=True, approved=F("required"))
        return (
            queryset.filter(ready)
            if value == "ready"
            else queryset.filter(released_at__isnull=True).exclude(approved=F("required"))
        )


class RunFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    status = django_filters.ChoiceFilter(
        choices=[
            ("active", _("Not cancelled")),
            *ProductionRun.Status.choices,
            ("all", _("All")),
        ],
        method="filter_status",
        label=_("Status"),
        empty_label=None,
    )
    # Not "priority": the order-a-run form on the same page has that field.
    urgency = django_filters.ChoiceFilter(
        field_name="priority",
        choices=ProductionRun.Priority.choices,
        label=_("Priority"),
        empty_label=_("Any"),
    )
    launch_from = django_filters.DateFilter(
        field_name="planned_launch", lookup_expr="gte", label=_("Launch from")
    )
    launch_until = django_filters.DateFilter(
        field_name="planned_launch", lookup_expr="lte", label=_("Launch until")
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("product__part_number", "product"),
            ("quantity", "quantity"),
            ("planned_launch", "launch"),
            ("due_date", "due"),
            ("status", "status"),
            ("priority", "priority"),
        ),
        label=_("Sort by"),
    )

    class Meta:
        model = ProductionRun
        fields = ["q", "status", "urgency"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(product__part_number__icontains=value)
            | Q(product__name__icontains=value)
            | Q(external_id=value)
        )

    def filter_status(self, queryset, name, value):
        if value == "active":
            return queryset.exclude(status=ProductionRun.Status.CANCELLED)
        return queryset if value == "all" else queryset.filter(status=value)
