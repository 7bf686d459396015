"""History cards for the pages of business objects: one template line each, no view changes.

``{% history_section obj %}`` — the latest changes of an object (and of its children, e.g.
a contract's matrix rows and rules) with a link to all of them and the exports.
``{% trail_section "capacity" %}`` — the latest changes of every object of some kinds in the
partnership (capacity weeks, goals, …) with a link to the filtered audit trail.

Both cost a fixed number of queries (see :mod:`partnership.history`), whatever the number
of changes.
"""

from urllib.parse import urlencode

from django import template
from django.urls import reverse

from partnership import history

register = template.Library()

INLINE_ROWS = 5


@register.inclusion_tag("components/history_section.html", takes_context=True)
def history_section(context, obj, limit=INLINE_ROWS):
    partnership = context["partnership"]
    kind = history.kind_of(obj) if obj is not None else None
    if kind is None:
        return {"rows": [], "partnership": partnership}
    refs = list(history.object_trail(kind, partnership, obj.pk)[:limit])
    url = reverse("object_history", args=[partnership.pk, kind.key, obj.pk])
    return {
        "rows": history.build_trail_rows(partnership, refs),
        "show_object": bool(kind.children),
        "history_url": url,
        "csv_url": url + "export.csv",
        "xlsx_url": url + "export.xlsx",
        "partnership": partnership,
    }


@register.inclusion_tag("components/history_section.html", takes_context=True)
def trail_section(context, *kind_keys, limit=INLINE_ROWS):
    partnership = context["partnership"]
    keys = [k for k in kind_keys if history.get_kind(k)]
    refs = list(history.partnership_trail(partnership, kind_keys=keys)[:limit]) if keys else []
    base = reverse("audit_trail", args=[partnership.pk])
    query = "?" + urlencode({"kind": keys[0]}) if len(keys) == 1 else ""
    return {
        "rows": history.build_trail_rows(partnership, refs),
        "show_object": True,
        "history_url": base + query,
        "csv_url": reverse("audit_trail_export", args=[partnership.pk, "csv"]) + query,
        "xlsx_url": reverse("audit_trail_export", args=[partnership.pk, "xlsx"]) + query,
        "partnership": partnership,
    }
