"""The core app's lists (partnership/lists.py): partnerships on the dashboard, notifications."""

from django.utils.translation import gettext_lazy as _

from .filters import ApiTokenFilter, DashboardFilter, MemberFilter, NotificationFilter
from .lists import Column, ListSpec, register
from .models import ApiToken, Membership, Notification, Partnership


@register
class PartnershipList(ListSpec):
    """The partnerships of the organisation the user acts as (scope), else all of theirs."""

    name = "partnership.partnerships"
    filename = "partnerships"
    filterset_class = DashboardFilter
    default_ordering = ("ems__name", "oem__name")
    columns = (
        Column(_("OEM"), "oem.name", sort="oem"),
        Column(_("EMS"), "ems.name", sort="ems"),
        Column(_("Status"), "get_status_display", sort="status"),
        Column(_("Start date"), "start_date", sort="start_date"),
        Column(_("Scope"), "description", table=False),
    )

    def queryset(self, user, scope):
        return Partnership.objects.for_user(user, organization=scope).with_parties()


@register
class NotificationList(ListSpec):
    name = "partnership.notifications"
    filename = "notifications"
    filterset_class = NotificationFilter
    default_ordering = ("-created_at",)
    columns = (
        Column(_("Subject"), "subject", sort="subject"),
        Column(_("Message"), "body", table=False),
        Column(_("Partnership"), lambda n: f"{n.partnership.oem.name} ↔ {n.partnership.ems.name}"),
        Column(_("Time"), "created_at", sort="created"),
        Column(_("Read"), "read_at", table=False),
    )

    def queryset(self, user, scope):
        return Notification.objects.filter(
            user=user, partnership__in=Partnership.objects.for_user(user)
        ).select_related("partnership__oem", "partnership__ems")


@register
class MemberList(ListSpec):
    """An organisation's members, for its own members (others get no rows)."""

    name = "partnership.members"
    filename = "members"
    filterset_class = MemberFilter
    default_ordering = ("user__email",)
    columns = (
        Column(_("Name"), "user", sort="name"),
        Column(_("E-mail"), "user.email", sort="email"),
        Column(_("Role"), "get_role_display", sort="role"),
        Column(_("Member since"), "created_at", table=False),
    )

    def queryset(self, user, scope):
        return (
            Membership.objects.filter(organization=scope)
            .filter(organization__memberships__user=user)
            # API keys' service users are managed on the API keys page, not as colleagues.
            .exclude(user__email__endswith=".keys.invalid")
            .select_related("user")
        )


def _token_status(token):
    if token.revoked_at:
        return _("revoked")
    return _("active") if token.is_active else _("expired")


@register
class ApiTokenList(ListSpec):
    """The user's own personal API tokens."""

    name = "partnership.api_tokens"
    filename = "api-tokens"
    filterset_class = ApiTokenFilter
    default_ordering = ("-created_at",)
    page_size = 25
    columns = (
        Column(_("Name"), "name", sort="name"),
        Column(_("Prefix"), "key_prefix", table=False),
        Column(_("Last used"), "last_used_at", sort="last_used"),
        Column(_("Expires"), "expires_at", sort="expires"),
        Column(_("Status"), _token_status, table=False),
        Column(_("Created"), "created_at", table=False),
    )

    def queryset(self, user, scope):
        return ApiToken.objects.filter(user=user)
