"""FilterSets of the comms lists (search ``q``, filters, and the ``sort`` OrderingFilter)."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from partnership.filters import AnyYesNo

from .models import ActionItem, Goal, Meeting, Problem


class ProblemFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    status = django_filters.ChoiceFilter(
        choices=[
            ("active", _("Open or investigating")),
            *Problem.Status.choices,
            ("all", _("All")),
        ],
        method="filter_status",
        label=_("Status"),
        empty_label=None,
    )
    severity = django_filters.ChoiceFilter(
        choices=Problem.Severity.choices, label=_("Severity"), empty_label=_("Any")
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("number", "number"),
            ("title", "title"),
            ("severity_rank", "severity"),
            ("status", "status"),
            ("owner__email", "owner"),
            ("created_at", "created"),
        ),
        label=_("Sort by"),
    )

    class Meta:
        model = Problem
        fields = ["q", "status", "severity"]

    def search(self, queryset, name, value):
        q = Q(title__icontains=value) | Q(description__icontains=value)
        if value.upper().startswith("P-") and value[2:].isdigit():
            q |= Q(number=int(value[2:]))
        return queryset.filter(q)

    def filter_status(self, queryset, name, value):
        if value == "active":
            return queryset.exclude(status__in=["resolved", "closed"])
        return queryset if value == "all" else queryset.filter(status=value)


class ActionFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="title", lookup_expr="icontains", label=_("Search"))
    status = django_filters.ChoiceFilter(
        choices=ActionItem.Status.choices, label=_("Status"), empty_label=_("All")
    )
    mine = django_filters.BooleanFilter(
        method="filter_mine", label=_("Only mine"), widget=AnyYesNo()
    )
    overdue = django_filters.BooleanFilter(
        method="filter_overdue", label=_("Overdue"), widget=AnyYesNo()
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("title", "title"),
            ("owner__email", "owner"),
            ("due_date", "due"),
            ("status", "status"),
        ),
        label=_("Sort by"),
    )

    class Meta:
        model = ActionItem
        fields = ["q", "status"]

    def filter_mine(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        return queryset.filter(owner=user) if value and user is not None else queryset

    def filter_overdue(self, queryset, name, value):
        from django.utils import timezone

        if value is None:
            return queryset
        late = Q(status="open", due_date__lt=timezone.localdate())
        return queryset.filter(late) if value else queryset.exclude(late)


class GoalFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    # Not "horizon": the new-goal form on the same page has that field.
    term = django_filters.ChoiceFilter(
        field_name="horizon", choices=Goal.Horizon.choices, label=_("Horizon"), empty_label=_("All")
    )
    sort = django_filters.OrderingFilter(
        fields=(("title", "title"), ("horizon", "horizon"), ("due_date", "due")),
        label=_("Sort by"),
    )

    class Meta:
        model = Goal
        fields = ["q", "term"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(title__icontains=value) | Q(metric__icontains=value))


class MeetingFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    # Not "kind": the schedule-a-meeting form on the same page has that field.
    type = django_filters.ChoiceFilter(
        field_name="kind", choices=Meeting.Kind.choices, label=_("Kind"), empty_label=_("All")
    )
    status = django_filters.ChoiceFilter(
        choices=Meeting.Status.choices, label=_("Status"), empty_label=_("All")
    )
    start_after = django_filters.DateFilter(
        field_name="start", lookup_expr="date__gte", label=_("From")
    )
    start_before = django_filters.DateFilter(
        field_name="start", lookup_expr="date__lte", label=_("Until")
    )
    sort = django_filters.OrderingFilter(
        fields=(("title", "title"), ("kind", "kind"), ("start", "start"), ("status", "status")),
        label=_("Sort by"),
    )

    class Meta:
        model = Meeting
        fields = ["q", "type", "status"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(title__icontains=value)
            | Q(description__icontains=value)
            | Q(location__icontains=value)
        )
