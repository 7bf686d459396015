"""The audit list (partnership/lists.py)."""

from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from partnership.lists import Column, ListSpec, count_per_row, register

from .filters import AuditFilter, FindingFilter
from .models import Audit, Finding


@register
class AuditList(ListSpec):
    name = "audits.audits"
    filename = "audits"
    filterset_class = AuditFilter
    default_ordering = ("-audit_date",)
    columns = (
        Column(_("Audit"), "title", sort="title"),
        Column(_("Type"), "get_kind_display", table=False),
        Column(_("Template"), lambda a: f"{a.template.name} v{a.template.version}", table=False),
        Column(_("Date"), "audit_date", sort="date"),
        Column(_("Status"), "get_status_display", sort="status"),
        Column(_("Score %"), "score_pct", sort="score"),
        Column(_("Grade"), "grade", sort="grade"),
        Column(_("Open findings"), "open_findings", sort="findings"),
        Column(_("Lead auditor"), "lead_auditor", table=False),
    )

    def queryset(self, user, scope):
        return (
            Audit.objects.for_user(user)
            .for_partnership(scope)
            .select_related("template", "lead_auditor")
            .annotate(
                open_findings=count_per_row(
                    Finding.objects.exclude(status=Finding.Status.CLOSED), "audit"
                ),
                audit_date=Coalesce("actual_date", "planned_date"),
            )
        )


@register
class FindingList(ListSpec):
    """Findings of every audit of the partnership: what is still open, and by when."""

    name = "audits.findings"
    filename = "findings"
    filterset_class = FindingFilter
    default_ordering = ("response_due", "-created_at")
    columns = (
        Column(_("Finding"), str),
        Column(_("Audit"), "audit.title", sort="audit"),
        Column(_("Class"), "get_classification_display", sort="class"),
        Column(_("Clause / question"), "clause", table=False),
        Column(_("Description"), "description", table=False),
        Column(_("Status"), "get_status_display", sort="status"),
        Column(_("Response due"), "response_due", sort="due"),
        Column(_("Raised"), "created_at", sort="raised", table=False),
        Column(_("Raised by"), "raised_by", table=False),
        Column(_("Closed"), "closed_at", table=False),
    )

    def queryset(self, user, scope):
        return (
            Finding.objects.for_user(user)
            .for_partnership(scope)
            .select_related("audit", "raised_by")
        )
