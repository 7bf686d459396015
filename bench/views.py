"""The floor of the page benchmarks: a bare Django view that reads the same rows as the page
shows — the same number from each table the page shows them from — and returns them as an
HTML table, through the same middleware, session and login.

``/__bench__/floor/<partnership>/?m=comms.actionitem:50&m=comms.historicalactionitem:5``
reads 50 action items and 5 historical action items (one plain query each, of the
partnership's rows where the table has a partnership column). ``&weekly_load=52`` adds the
capacity page's 52 weekly rows of capacity vs demand, aggregated by one raw SQL statement.
"""

import datetime as dt

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.html import escape

#: Capacity vs demand per week, the raw way (the floor of ``schedules.services.weekly_load``).
WEEKLY_LOAD_SQL = """
    WITH pub AS (
        SELECT id FROM schedules_demandpublication WHERE partnership_id = %(p)s
        ORDER BY version DESC LIMIT 1
    ), cap AS (
        SELECT week, SUM(amount) AS capacity FROM schedules_capacityplan
        WHERE partnership_id = %(p)s AND week BETWEEN %(s)s AND %(e)s GROUP BY week
    ), dem AS (
        SELECT week, SUM(quantity) AS demand FROM schedules_demandline
        WHERE publication_id = (SELECT id FROM pub) AND week BETWEEN %(s)s AND %(e)s
        GROUP BY week
    )
    SELECT w::date, COALESCE(cap.capacity, 0), COALESCE(dem.demand, 0)
    FROM generate_series(%(s)s::date, %(e)s::date, interval '7 days') AS w
    LEFT JOIN cap ON cap.week = w::date LEFT JOIN dem ON dem.week = w::date ORDER BY 1
"""


def weekly_load(cursor, partnership_pk, weeks):
    today = timezone.localdate()
    start = today - dt.timedelta(days=today.weekday())
    end = start + dt.timedelta(weeks=weeks - 1)
    cursor.execute(WEEKLY_LOAD_SQL, {"p": partnership_pk, "s": start, "e": end})
    return cursor.fetchall()


def _rows(label, partnership_pk, n):
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise Http404(label) from exc
    qs = model._default_manager.all()
    try:
        model._meta.get_field("partnership")
        qs = qs.filter(partnership_id=partnership_pk)
    except FieldDoesNotExist:
        pass
    return qs.order_by("pk").values()[:n]


@login_required
def floor(request, partnership_pk):
    lines = []
    for spec in request.GET.getlist("m"):
        label, _sep, n = spec.rpartition(":")
        for row in _rows(label, partnership_pk, int(n)):
            lines.append("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row.values()) + "</tr>")
    if request.GET.get("weekly_load"):
        with connection.cursor() as cursor:
            for row in weekly_load(cursor, partnership_pk, int(request.GET["weekly_load"])):
                lines.append("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>")
    return HttpResponse(f"<table>{''.join(lines)}</table>")
