"""The contract lists (partnership/lists.py): versions, decision requests, the inbox."""

from django.utils.translation import gettext_lazy as _

from partnership.lists import Column, ListSpec, register

from .filters import ContractFilter, DecisionListFilter
from .models import Contract, DecisionRequest


def _partnership_name(obj):
    return f"{obj.partnership.oem.name} ↔ {obj.partnership.ems.name}"


DECISION_COLUMNS = (
    Column(_("Request"), "reference", sort="number"),
    Column(_("Title"), "title", table=False),
    Column(_("Partnership"), _partnership_name, sort="partnership"),
    Column(_("Category"), "get_category_display", sort="category"),
    Column(_("Routed to"), "get_mode_display", sort="mode"),
    Column(_("Status"), "get_status_display", sort="status"),
    Column(_("Answer due"), "due_at", sort="due"),
    Column(_("Raised by"), "raised_by", table=False),
    Column(_("Raised"), "created_at", sort="created", table=False),
    Column(_("Rule"), lambda d: str(d.rule) if d.rule_id else "", table=False),
)


@register
class DecisionList(ListSpec):
    name = "contracts.decisions"
    filename = "decision-requests"
    filterset_class = DecisionListFilter
    default_ordering = ("-created_at",)
    columns = tuple(c for c in DECISION_COLUMNS if c.sort != "partnership")

    def queryset(self, user, scope):
        return (
            DecisionRequest.objects.for_user(user)
            .for_partnership(scope)
            .select_related("raised_by", "rule")
        )


@register
class InboxList(ListSpec):
    """Decision requests across all the user's partnerships."""

    name = "contracts.inbox"
    filename = "decision-requests"
    filterset_class = DecisionListFilter
    default_ordering = ("-created_at",)
    columns = DECISION_COLUMNS

    def queryset(self, user, scope):
        return DecisionRequest.objects.for_user(user).select_related(
            "partnership__oem", "partnership__ems", "raised_by", "rule"
        )


@register
class ContractList(ListSpec):
    name = "contracts.contracts"
    filename = "contract-versions"
    filterset_class = ContractFilter
    default_ordering = ("-version",)
    page_size = 25
    columns = (
        Column(_("Version"), "version", sort="version"),
        Column(_("Title"), "title", table=False),
        Column(_("Status"), "get_status_display", sort="status"),
        Column(_("Drafted by"), "drafted_by"),
        Column(_("OEM signature"), "oem_signed_by"),
        Column(_("OEM signed"), "oem_signed_at", table=False),
        Column(_("EMS signature"), "ems_signed_by"),
        Column(_("EMS signed"), "ems_signed_at", table=False),
        Column(_("Effective from"), "effective_from", table=False),
        Column(_("Effective until"), "effective_until", table=False),
        Column(_("Created"), "created_at", sort="created"),
    )

    def queryset(self, user, scope):
        return (
            Contract.objects.for_user(user)
            .for_partnership(scope)
            .select_related("drafted_by", "oem_signed_by", "ems_signed_by")
        )
