"""Audit-trail pages and downloads: one object's history and the partnership-wide trail.

Read-only by construction: these views answer GET only and nothing in them writes history.
Scoping: the partnership comes from :func:`scoped_partnership` (404 for foreign ones) and
every historical row is filtered by the kind's path to that partnership, so a foreign or
unknown object answers 404 as well.
"""

import csv
import datetime as dt
import io
import re

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.urls import NoReverseMatch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET
from django.views.generic import TemplateView

from . import history
from .models import User
from .scoping import PartnershipScopedMixin, scoped_partnership

NUMBER = re.compile(r"-?\d+(\.\d+)?")
PAGE_SIZE = 50
EXPORT_CHUNK = 500
EXPORT_FORMATS = ("csv", "xlsx")
EXPORT_HEADER = [
    "when",
    "who",
    "organisation",
    "action",
    "object type",
    "object id",
    "object",
    "field",
    "before",
    "after",
]


def _kind_or_404(key) -> history.Kind:
    kind = history.get_kind(key)
    if kind is None:
        raise Http404
    return kind


def _object_or_404(kind, partnership, object_pk):
    """404 unless the object is the partnership's: it exists in its scope now, or its
    history says it did (a deleted object keeps its history)."""
    live = kind.model._base_manager.filter(kind.scope_q(partnership), pk=object_pk).first()
    if live is None and not history.object_history(kind, partnership, object_pk).exists():
        raise Http404
    return live


class ObjectHistoryView(PartnershipScopedMixin, TemplateView):
    """Every recorded change of one object, newest first, paginated."""

    template_name = "partnership/object_history.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        kind = _kind_or_404(self.kwargs["kind"])
        object_pk = self.kwargs["object_pk"]
        live = _object_or_404(kind, self.partnership, object_pk)
        refs = history.object_trail(kind, self.partnership, object_pk)
        page = Paginator(refs, PAGE_SIZE).get_page(self.request.GET.get("page"))
        rows = history.build_trail_rows(self.partnership, list(page.object_list))
        own = history.object_rows(
            kind, self.partnership, history.object_history(kind, self.partnership, object_pk), 1
        )
        ctx.update(
            kind=kind,
            object_pk=self.kwargs["object_pk"],
            object_title=own[0].object_title if own else str(live),
            show_object=bool(kind.children),
            live_url=_absolute_url(live),
            deleted=live is None,
            rows=rows,
            page_obj=page,
            tab="history",
        )
        return ctx


def _absolute_url(obj):
    if obj is None or not hasattr(obj, "get_absolute_url"):
        return ""
    try:
        return obj.get_absolute_url()
    except (AttributeError, ObjectDoesNotExist, NoReverseMatch):  # a link is a nicety
        return ""


class TrailFilterForm(forms.Form):
    """Filters of the partnership audit trail; invalid input is reported, never a 500."""

    kind = forms.ChoiceField(label=gettext_lazy("Object type"), required=False)
    user = forms.ModelChoiceField(
        label=gettext_lazy("Changed by"), queryset=User.objects.none(), required=False
    )
    date_from = forms.DateField(label=gettext_lazy("From"), required=False)
    date_to = forms.DateField(label=gettext_lazy("To"), required=False)

    def __init__(self, *args, partnership, **kwargs):
        super().__init__(*args, **kwargs)
        kinds = sorted(
            ((k.key, k.label) for k in history.kinds().values()), key=lambda c: str(c[1])
        )
        self.fields["kind"].choices = [("", _("All types")), *kinds]
        self.fields["user"].queryset = (
            User.objects.filter(
                memberships__organization_id__in=[partnership.oem_id, partnership.ems_id]
            )
            .distinct()
            .order_by("first_name", "last_name", "email")
        )
        for f in ("date_from", "date_to"):
            self.fields[f].widget = forms.DateInput(attrs={"type": "date"})

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(_("“From” must not be after “To”."))
        return data

    def trail_filters(self) -> dict:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return trail_filters(
            kind=data.get("kind") or None,
            user=data.get("user"),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


def trail_filters(*, kind=None, user=None, date_from=None, date_to=None, since=None) -> dict:
    """Keyword arguments for :func:`history.partnership_trail` from validated input; dates
    are whole days in the user's time zone."""
    tz = timezone.get_current_timezone()
    out = {"kind_keys": [kind] if kind else None, "user_id": user.pk if user else None}
    if date_from:
        out["since"] = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    if since:
        out["since"] = since
    if date_to:
        out["until"] = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return out


class AuditTrailView(PartnershipScopedMixin, TemplateView):
    """All changes across the partnership's objects, filtered and paginated in SQL."""

    template_name = "partnership/audit_trail.html"

    def get(self, request, *args, **kwargs):
        form = TrailFilterForm(request.GET or None, partnership=self.partnership)
        ctx = self.get_context_data(form=form, **kwargs)
        return self.render_to_response(ctx, status=400 if form.errors else 200)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        form = kwargs["form"]
        refs = history.partnership_trail(self.partnership, **form.trail_filters())
        page = Paginator(refs, PAGE_SIZE).get_page(self.request.GET.get("page"))
        query = self.request.GET.copy()
        query.pop("page", None)
        ctx.update(
            rows=history.build_trail_rows(self.partnership, list(page.object_list)),
            page_obj=page,
            query=query.urlencode(),
            tab="history",
        )
        return ctx


def _cell(value):
    """Text as written, but never a spreadsheet formula (CSV/formula injection)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not NUMBER.fullmatch(text):
        return "'" + text
    return text


def export_lines(rows):
    """One line per changed field (a creation or deletion without fields: one line)."""
    for row in rows:
        when = timezone.localtime(row.when).replace(microsecond=0)  # the reader's zone
        base = [
            when,
            row.who,
            row.organisation,
            row.action,
            row.kind.key,
            row.object_id,
            row.object_title,
        ]
        if not row.changes:
            yield [*base, "", "", ""]
        for change in row.changes:
            yield [*base, change.label, change.before, change.after]


def export_response(rows_iter, fmt, filename) -> HttpResponse:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_HEADER)
        for line in export_lines(rows_iter):
            writer.writerow([line[0].isoformat(sep=" "), *map(_cell, line[1:])])  # with offset
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    elif fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(_("History"))
        sheet.append(EXPORT_HEADER)
        for line in export_lines(rows_iter):
            when = line[0].replace(tzinfo=None)  # Excel has no time zones: local time
            sheet.append([when, *(_cell(v) for v in line[1:5]), line[5], *map(_cell, line[6:])])
        out = io.BytesIO()
        book.save(out)
        response = HttpResponse(
            out.getvalue(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        raise Http404
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


@login_required
@require_GET
def object_history_export(request, partnership_pk, kind, object_pk, fmt):
    if fmt not in EXPORT_FORMATS:
        raise Http404
    partnership = scoped_partnership(request, partnership_pk)
    kind_ = _kind_or_404(kind)
    _object_or_404(kind_, partnership, object_pk)
    refs = history.object_trail(kind_, partnership, object_pk)
    return export_response(
        _chunked_trail_rows(partnership, refs), fmt, f"history-{kind_.key}-{object_pk}"
    )


def _chunked_trail_rows(partnership, refs):
    """Rows of the whole (filtered) trail, a chunk at a time: a bounded number of queries
    per chunk, never one per row."""
    offset = 0
    while True:
        chunk = list(refs[offset : offset + EXPORT_CHUNK])
        if not chunk:
            return
        yield from history.build_trail_rows(partnership, chunk)
        offset += EXPORT_CHUNK


@login_required
@require_GET
def audit_trail_export(request, partnership_pk, fmt):
    if fmt not in EXPORT_FORMATS:
        raise Http404
    partnership = scoped_partnership(request, partnership_pk)
    form = TrailFilterForm(request.GET or None, partnership=partnership)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            " ".join(str(e) for errs in form.errors.values() for e in errs),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    refs = history.partnership_trail(partnership, **form.trail_filters())
    return export_response(
        _chunked_trail_rows(partnership, refs), fmt, f"audit-trail-{partnership.pk}"
    )
