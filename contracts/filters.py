import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from partnership.api.filters import UtcIsoDateTimeFilter

from .models import Category, Contract, DecisionMode, DecisionRequest


class DecisionRequestFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    status = django_filters.MultipleChoiceFilter(
        choices=DecisionRequest.Status.choices, label=_("Status")
    )
    category = django_filters.ChoiceFilter(choices=Category.choices, label=_("Category"))
    mode = django_filters.ChoiceFilter(choices=DecisionMode.choices, label=_("Routed to"))
    state = django_filters.ChoiceFilter(
        choices=[("open", _("Open")), ("closed", _("Closed"))],
        method="filter_state",
        label=_("State"),
        empty_label=_("All"),
    )
    updated_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    external_id = django_filters.CharFilter()
    sort = django_filters.OrderingFilter(
        fields=(("created_at", "created"), ("due_at", "due"), ("number", "number")),
        label=_("Sort by"),
    )

    class Meta:
        model = DecisionRequest
        fields = ["q", "status", "category", "mode", "state"]

    def search(self, queryset, name, value):
        q = Q(title__icontains=value) | Q(description__icontains=value) | Q(external_id=value)
        if value.upper().startswith("DR-") and value[3:].isdigit():
            q |= Q(number=int(value[3:]))
        return queryset.filter(q)

    def filter_state(self, queryset, name, value):
        open_q = Q(status__in=[DecisionRequest.Status.AWAITING_OEM, DecisionRequest.Status.OVERDUE])
        return queryset.filter(open_q) if value == "open" else queryset.exclude(open_q)


class DecisionListFilter(django_filters.FilterSet):
    """The decision list pages' filter bar: fewer fields than the API's, more sort keys."""

    q = django_filters.CharFilter(method="search", label=_("Search"))
    category = django_filters.ChoiceFilter(
        choices=Category.choices, label=_("Category"), empty_label=_("All")
    )
    mode = django_filters.ChoiceFilter(
        choices=DecisionMode.choices, label=_("Routed to"), empty_label=_("All")
    )
    state = django_filters.ChoiceFilter(
        choices=[("open", _("Open")), ("closed", _("Closed"))],
        method="filter_state",
        label=_("State"),
        empty_label=_("All"),
    )
    status = django_filters.ChoiceFilter(
        choices=DecisionRequest.Status.choices, label=_("Status"), empty_label=_("All")
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("number", "number"),
            ("partnership__ems__name", "partnership"),
            ("category", "category"),
            ("mode", "mode"),
            ("status", "status"),
            ("due_at", "due"),
            ("created_at", "created"),
        ),
        label=_("Sort by"),
    )

    class Meta:
        model = DecisionRequest
        fields = ["q", "category", "mode", "state", "status"]

    search = DecisionRequestFilter.search
    filter_state = DecisionRequestFilter.filter_state


class ContractFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="title", lookup_expr="icontains", label=_("Search"))
    status = django_filters.ChoiceFilter(
        choices=Contract.Status.choices, label=_("Status"), empty_label=_("All")
    )
    sort = django_filters.OrderingFilter(
        fields=(("version", "version"), ("status", "status"), ("created_at", "created")),
        label=_("Sort by"),
    )

    class Meta:
        model = Contract
        fields = ["q", "status"]
