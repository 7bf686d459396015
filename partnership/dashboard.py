"""Role dashboards: what needs the user's attention across the partnerships of the
organisation they act as. A fixed number of queries, whatever the data size."""

import datetime as dt

from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from .models import Organization


def tiles(user, organization: Organization, partnerships) -> dict:
    from audits.models import Certificate, Finding
    from comms.models import ActionItem, Meeting, Problem, not_over
    from contracts.models import DecisionRequest
    from schedules.models import CapacityAlert, ProductionRun

    ids = [p.pk for p in partnerships]
    now = timezone.now()
    today = timezone.localdate()
    open_requests = DecisionRequest.objects.filter(
        partnership_id__in=ids, status__in=["awaiting_oem", "overdue"]
    )
    attending = Meeting.attendees.through.objects.filter(meeting_id=OuterRef("pk"), user=user)
    data = {
        "is_oem": organization.kind == Organization.Kind.OEM,
        "alerts": list(
            CapacityAlert.objects.filter(partnership_id__in=ids)
            .exclude(status="resolved")
            .select_related("partnership__ems", "partnership__oem")
            .order_by("week")[:6]
        ),
        "meetings": list(
            Meeting.objects.filter(partnership_id__in=ids, status="scheduled", parent__isnull=True)
            .filter(not_over(now))
            # EXISTS rather than a join: no DISTINCT over the wide meeting rows.
            .filter(Q(organiser=user) | Exists(attending))
            .select_related("partnership__oem", "partnership__ems")
            .order_by("start")[:5]
        ),
        "problems": dict(
            Problem.objects.filter(partnership_id__in=ids)
            .exclude(status__in=["resolved", "closed"])
            .values_list("severity")
            .annotate(n=Count("*"))  # COUNT(*): an index-only scan of problem_status_idx
        ),
        "my_actions": list(
            ActionItem.objects.filter(partnership_id__in=ids, owner=user, status="open").order_by(
                "due_date"
            )[:6]
        ),
        "today": today,
    }
    if data["is_oem"]:
        data["decisions"] = list(
            open_requests.select_related("partnership__ems").order_by("due_at")[:6]
        )
        soon = today + dt.timedelta(weeks=8)
        data["launches_at_risk"] = list(
            ProductionRun.objects.filter(
                partnership_id__in=ids, planned_launch__lte=soon, product__released_at__isnull=True
            )
            .exclude(status__in=["completed", "cancelled"])
            .select_related("product", "partnership__ems")
            .order_by("planned_launch")[:6]
        )
        data["certificates"] = list(
            Certificate.objects.filter(
                organization__partnerships_as_ems__in=ids,
                valid_until__lte=today + dt.timedelta(days=60),
            )
            .select_related("organization")
            .distinct()
            .order_by("valid_until")[:6]
        )
        data["open_findings"] = dict(
            Finding.objects.filter(audit__partnership_id__in=ids)
            .exclude(status="closed")
            .values_list("classification")
            .annotate(n=Count("id"))
        )
        from comms.models import Goal

        data["goals"] = list(Goal.objects.filter(partnership_id__in=ids).order_by("due_date")[:4])
    else:
        data["my_requests"] = list(
            DecisionRequest.objects.filter(partnership_id__in=ids, raised_by=user)
            .select_related("partnership__oem")
            .order_by("-created_at")[:6]
        )
        data["open_findings_list"] = list(
            Finding.objects.filter(audit__partnership_id__in=ids)
            .exclude(status="closed")
            .exclude(classification="observation")
            .select_related("audit")
            .order_by("response_due")[:6]
        )
        data["load"] = _load(partnerships)
    return data


def _load(partnerships) -> list:
    """Capacity vs demand for the next 12 weeks, summed over the EMS's partnerships, in two
    aggregate queries however many partnerships there are."""
    from schedules.models import CapacityPlan, DemandLine, DemandPublication
    from schedules.services import monday

    start = monday(timezone.localdate())
    end = start + dt.timedelta(weeks=11)
    ids = [p.pk for p in partnerships]
    # The latest forecast version of each partnership, picked inside the one aggregate query.
    newest = (
        DemandPublication.objects.filter(partnership_id=OuterRef("publication__partnership_id"))
        .order_by("-version")
        .values("pk")[:1]
    )
    demand = dict(
        DemandLine.objects.filter(publication__partnership_id__in=ids, week__range=(start, end))
        .filter(publication_id=Subquery(newest))
        .values_list("week")
        .annotate(q=Sum("quantity"))
    )
    capacity = dict(
        CapacityPlan.objects.filter(partnership_id__in=ids, week__range=(start, end), unit="units")
        .values_list("week")
        .annotate(c=Sum("amount"))
    )
    rows = []
    for i in range(12):
        week = start + dt.timedelta(weeks=i)
        d, c = demand.get(week, 0), capacity.get(week, 0)
        rows.append(
            {
                "week": week,
                "demand": d,
                "capacity": c,
                "pct": round(100 * d / c) if c else None,
                "bar": min(100, round(100 * d / c)) if c else 0,
            }
        )
    return rows
