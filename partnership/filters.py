import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .api.filters import IdFilter
from .models import ApiToken, Membership, Notification, Organization, Partnership, Role


class AnyYesNo(django_filters.widgets.BooleanWidget):
    """A yes/no filter whose empty choice reads "Any" (django-filter's says "Unknown")."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [
            ("", pgettext_lazy("yes/no filter", "Any")),
            ("true", pgettext_lazy("yes/no filter", "Yes")),
            ("false", pgettext_lazy("yes/no filter", "No")),
        ]


class PartnershipFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    status = django_filters.ChoiceFilter(choices=Partnership.Status.choices, label=_("Status"))
    sort = django_filters.OrderingFilter(
        fields=(
            ("oem__name", "oem"),
            ("ems__name", "ems"),
            ("status", "status"),
            ("start_date", "start_date"),
        ),
        label=_("Sort by"),
    )
    # Plain ids, not model choices: a choice list would name organisations outside the scope.
    oem = IdFilter(field_name="oem_id", label=_("OEM id"))
    ems = IdFilter(field_name="ems_id", label=_("EMS id"))

    class Meta:
        model = Partnership
        fields = ["q", "status", "oem", "ems"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(oem__name__icontains=value)
            | Q(ems__name__icontains=value)
            | Q(description__icontains=value)
        )


class OrganizationFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Organization.Kind.choices)

    class Meta:
        model = Organization
        fields = ["kind", "country"]


class DashboardFilter(django_filters.FilterSet):
    """The dashboard's partnership list: search, status and sort (no raw ids as in the API)."""

    q = django_filters.CharFilter(method="search", label=_("Search"))
    status = django_filters.ChoiceFilter(
        choices=Partnership.Status.choices, label=_("Status"), empty_label=_("All")
    )
    sort = PartnershipFilter.base_filters["sort"]

    class Meta:
        model = Partnership
        fields = ["q", "status"]

    search = PartnershipFilter.search


class NotificationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    unread = django_filters.BooleanFilter(
        field_name="read_at",
        lookup_expr="isnull",
        label=_("Unread only"),
        widget=AnyYesNo(),
    )
    sort = django_filters.OrderingFilter(
        fields=(("created_at", "created"), ("subject", "subject")), label=_("Sort by")
    )

    class Meta:
        model = Notification
        fields = ["q", "unread"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(subject__icontains=value) | Q(body__icontains=value))


class MemberFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    # Not "role": the invitation form on the same page has that field.
    member_role = django_filters.ChoiceFilter(
        field_name="role", choices=Role.choices, label=_("Role"), empty_label=_("All")
    )
    sort = django_filters.OrderingFilter(
        fields=(("user__last_name", "name"), ("user__email", "email"), ("role", "role")),
        label=_("Sort by"),
    )

    class Meta:
        model = Membership
        fields = ["q", "member_role"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(user__email__icontains=value)
            | Q(user__first_name__icontains=value)
            | Q(user__last_name__icontains=value)
        )


class ApiTokenFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label=_("Search"))
    sort = django_filters.OrderingFilter(
        fields=(("name", "name"), ("last_used_at", "last_used"), ("expires_at", "expires")),
        label=_("Sort by"),
    )

    class Meta:
        model = ApiToken
        fields = ["q"]
