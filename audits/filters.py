"""FilterSets of the audit lists (search ``q``, filters, and the ``sort`` OrderingFilter)."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from partnership.filters import AnyYesNo

from .models import Audit, Finding


class AuditFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    # Not "kind": the plan-an-audit form on the same page has that field.
    type = django_filters.ChoiceFilter(
        field_name="kind", choices=Audit.Kind.choices, label=_("Type"), empty_label=_("All")
    )
    status = django_filters.ChoiceFilter(
        choices=Audit.Status.choices, label=_("Status"), empty_label=_("All")
    )
    grade = django_filters.ChoiceFilter(
        choices=[("A", "A"), ("B", "B"), ("C", "C")], label=_("Grade"), empty_label=_("All")
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("title", "title"),
            ("audit_date", "date"),
            ("status", "status"),
            ("score_pct", "score"),
            ("grade", "grade"),
            ("open_findings", "findings"),
        ),
        label=_("Sort by"),
    )

    class Meta:
        model = Audit
        fields = ["q", "type", "status", "grade"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(title__icontains=value) | Q(summary__icontains=value))


class FindingFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    classification = django_filters.ChoiceFilter(
        choices=Finding.Classification.choices, label=_("Class"), empty_label=_("All")
    )
    status = django_filters.ChoiceFilter(
        choices=Finding.Status.choices, label=_("Status"), empty_label=_("All")
    )
    overdue = django_filters.BooleanFilter(
        method="filter_overdue", label=_("Overdue"), widget=AnyYesNo()
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("audit__title", "audit"),
            ("classification", "class"),
            ("status", "status"),
            ("response_due", "due"),
            ("created_at", "raised"),
        ),
        label=_("Sort by"),
    )

    class Meta:
        model = Finding
        fields = ["q", "classification", "status"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(description__icontains=value)
            | Q(clause__icontains=value)
            | Q(audit__title__icontains=value)
        )

    def filter_overdue(self, queryset, name, value):
        from django.utils import timezone

        if value is None:
            return queryset
        late = Q(response_due__lt=timezone.localdate()) & ~Q(status="closed")
        return queryset.filter(late) if value else queryset.exclude(late)
