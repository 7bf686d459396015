"""The floor of the page benchmarks: a bare Django view that reads the same number of rows of
the page's main table and returns them, through the same middleware, session and login."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.utils.html import escape

from audits.models import Audit
from comms.models import ActionItem, Meeting, Problem
from contracts.models import DecisionRequest
from partnership.models import Partnership
from schedules.models import CapacityPlan, Product, ProductionRun

TABLES = {
    "partnerships": Partnership,
    "products": Product,
    "runs": ProductionRun,
    "capacity": CapacityPlan,
    "problems": Problem,
    "meetings": Meeting,
    "audits": Audit,
    "actions": ActionItem,
    "decisions": DecisionRequest,
}


@login_required
def rows(request, what, partnership_pk, n):
    model = TABLES.get(what)
    if model is None:
        raise Http404
    if model is Partnership:
        qs = Partnership.objects.for_user(request.user)
    else:
        qs = model.objects.filter(partnership_id=partnership_pk)
    lines = [
        "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row.values()) + "</tr>"
        for row in qs.order_by("pk").values()[:n]
    ]
    return HttpResponse(f"<table>{''.join(lines)}</table>")
