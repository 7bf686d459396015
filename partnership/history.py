"""The audit trail: who changed which business object, when, and what (before → after).

django-simple-history records a row per save; this module turns those rows into something
both partners can read and export, for one object or for a whole partnership.

- :func:`kinds` is the whitelist of object types that have an audit trail — what the apps
  registered (``partnership.registry.register_history_kind``, from each app's ``trail.py``) —
  each with the path from its historical model to the partnership (the tenant boundary). A URL
  names a kind by its ``key``; anything not listed answers 404.
- :func:`object_history` and :func:`partnership_trail` select historical rows the user may
  see; :func:`build_rows` turns a page of them into :class:`HistoryRow` objects. It costs a
  fixed number of queries per object type on the page (the rows, their predecessors, the
  related objects named in the diffs, the authors' organisations) — never one per row.
- Values are shown as people read them: verbose field names, choice labels, foreign keys by
  their ``str``; secrets (passwords, token hashes) and bookkeeping fields are never shown.

History is append-only from the portal's side: nothing here or in the views writes to it.
"""

import datetime as dt
import functools
import inspect
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import CharField, F, OuterRef, Q, Subquery, Value
from django.db.models.fields.files import FieldFile
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import registry
from .models import Membership

#: Never shown, whatever the model: credentials and their hashes.
SECRET_FIELDS = {"password", "key_hash", "token", "token_hash", "secret", "api_key"}
SECRET_SUFFIXES = ("_hash", "password", "secret", "_token")
#: Bookkeeping that changes on most saves and means nothing to a reader (and the partnership
#: itself, which every row of a partnership's trail shares).
NOISE_FIELDS = {
    "id",
    "partnership",
    "created_at",
    "updated_at",
    "last_reminded_at",
    "lineage",
    "uid",
    "sequence",
    "content_hash",
}

ACTIONS = {
    "+": ("created", gettext_lazy("created")),
    "~": ("changed", gettext_lazy("changed")),
    "-": ("deleted", gettext_lazy("deleted")),
}


def is_hidden(name: str) -> bool:
    return name in SECRET_FIELDS or name in NOISE_FIELDS or name.endswith(SECRET_SUFFIXES)


@dataclass(frozen=True)
class Kind:
    """An object type with an audit trail.

    ``scope`` is the lookup from the historical row to the partnership's id; ``"@parties"``
    means the object belongs to an organisation (certificates, supplier profile) and is in
    the trail of every partnership that organisation is party to.
    """

    key: str
    model_label: str
    scope: str
    title: Callable = None  # historical row → short name, from the row's own columns only
    #: kinds whose changes belong on this object's page: child kind key → its FK to us
    children: tuple = ()
    #: FKs the title reads, joined in the same query (each one is on the scope's path or
    #: protected, so the join drops no row)
    select: tuple = ()

    @cached_property
    def model(self):
        return apps.get_model(self.model_label)

    @property
    def label(self):
        return capfirst(self.model._meta.verbose_name)

    @cached_property
    def _descriptor(self):
        # Read statically: ``Model.history`` builds a new manager class on every access
        # (simple-history's descriptor), which cost ~0.4 ms a kind on every page (#9).
        return inspect.getattr_static(self.model, "history", None)

    @property
    def tracked(self) -> bool:
        return self._descriptor is not None

    @property
    def history_model(self):
        return self._descriptor.model

    def scope_q(self, partnership) -> Q:
        if self.scope == "@parties":
            return Q(organization_id__in=[partnership.oem_id, partnership.ems_id])
        return Q(**{self.scope: partnership.pk})

    def rows_for(self, partnership):
        return self.history_model._default_manager.filter(self.scope_q(partnership))

    def title_of(self, record) -> str:
        try:
            text = self.title(record) if self.title else ""
        except (AttributeError, TypeError, ValueError):
            text = ""
        return str(text or f"{self.label} #{record.id}")


KINDS_LIST = [Kind("partnership", "partnership.Partnership", "id")]  # the core's own


@functools.cache
def kinds() -> dict[str, Kind]:
    """The kinds the apps registered (``partnership.registry``) whose model keeps history.
    Fixed once the app registry is ready, so built once per process."""
    return {k.key: k for k in registry.history_kinds() if k.tracked}


@functools.cache
def _kinds_by_label() -> dict[str, Kind]:
    return {k.model_label: k for k in kinds().values()}


def kind_of(obj) -> Kind | None:
    return _kinds_by_label().get(obj._meta.label)


def get_kind(key) -> Kind | None:
    return kinds().get(key)


# --- selecting rows ----------------------------------------------------------------------


def object_history(kind: Kind, partnership, object_pk):
    """Every historical row of one object of the partnership, newest first (also after the
    object was deleted)."""
    return kind.rows_for(partnership).filter(id=object_pk).order_by("-history_date", "-history_id")


def _union(parts):
    """``(kind, history_id, at)`` of several kinds' rows as one UNION query, newest first —
    sliceable and countable, so it pages in SQL. Turn a page into rows with
    :func:`build_trail_rows`."""
    selects = [
        qs.order_by()
        .annotate(trail_kind=Value(kind.key, output_field=CharField()), trail_at=F("history_date"))
        .values_list("trail_kind", "history_id", "trail_at")
        for kind, qs in parts
    ]
    union = selects[0].union(*selects[1:], all=True) if len(selects) > 1 else selects[0]
    return union.order_by("-trail_at", "-history_id")


def object_trail(kind: Kind, partnership, object_pk):
    """References to the changes of one object and of its children (a contract's matrix
    rows and rules, a product's readiness items, …), newest first."""
    registry = kinds()
    parts = [(kind, kind.rows_for(partnership).filter(id=object_pk))]
    for child_key, fk in kind.children:
        child = registry.get(child_key)
        if child is not None:
            parts.append((child, child.rows_for(partnership).filter(**{f"{fk}_id": object_pk})))
    return _union(parts)


def partnership_trail(partnership, *, kind_keys=None, user_id=None, since=None, until=None):
    """References to every change in the partnership (optionally filtered), newest first."""
    parts = []
    for kind in kinds().values():
        if kind_keys and kind.key not in kind_keys:
            continue
        qs = kind.rows_for(partnership)
        if user_id is not None:
            qs = qs.filter(history_user_id=user_id)
        if since is not None:
            qs = qs.filter(history_date__gte=since)
        if until is not None:
            qs = qs.filter(history_date__lt=until)
        parts.append((kind, qs))
    if not parts:
        return (
            kinds()["partnership"]
            .history_model._default_manager.none()
            .values_list("history_id", "history_id", "history_date")
        )
    return _union(parts)


# --- turning rows into readable changes --------------------------------------------------


@dataclass
class FieldChange:
    field: str
    label: str
    before: str
    after: str


@dataclass
class HistoryRow:
    kind: Kind
    history_id: int
    object_id: int
    object_title: str
    when: dt.datetime
    action: str  # created / changed / deleted
    action_label: str
    user_id: int | None
    who: str
    organisation: str
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def kind_key(self):
        return self.kind.key

    @property
    def kind_label(self):
        return self.kind.label


def _with_previous(kind: Kind, queryset):
    """Annotate each row with the id of the object's previous row (a correlated subquery,
    so the predecessor costs no query per row)."""
    hm = kind.history_model
    previous = (
        hm._default_manager.filter(id=OuterRef("id"))
        .filter(
            Q(history_date__lt=OuterRef("history_date"))
            | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id"))
        )
        .order_by("-history_date", "-history_id")
        .values("history_id")[:1]
    )
    return queryset.select_related("history_user", *kind.select).annotate(
        trail_previous_id=Subquery(previous)
    )


def _fields(kind: Kind):
    """Editable, tracked, visible fields in the model's order: name → model field."""
    tracked = {f.name for f in kind.history_model.tracked_fields if f.editable}
    return {
        f.name: f
        for f in kind.model._meta.concrete_fields
        if f.name in tracked and not is_hidden(f.name)
    }


def _raw_changes(kind: Kind, record, previous):
    """[(model field, old raw value, new raw value)] — library diff for changes, initial
    non-empty values for a creation."""
    fields = _fields(kind)
    if record.history_type == "-":
        return []
    if record.history_type == "+":
        return [
            (f, None, getattr(record, f.attname))
            for f in fields.values()
            if getattr(record, f.attname) not in (None, "", [], {})
        ]
    if previous is None:  # a change whose predecessor was never recorded
        return []
    delta = record.diff_against(previous, included_fields=list(fields))
    changed = {c.field: c for c in delta.changes}
    return [
        (f, changed[name].old, changed[name].new) for name, f in fields.items() if name in changed
    ]


def _display(model_field, value, related_names) -> str:
    if value is None or value == "":
        return ""
    if model_field.is_relation:
        return related_names.get((model_field.related_model, value), f"#{value}")
    if model_field.flatchoices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return formats.date_format(value, "SHORT_DATETIME_FORMAT")
    if isinstance(value, dt.date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, FieldFile):
        return value.name.rsplit("/", 1)[-1] if value.name else ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _related_names(wanted: dict) -> dict:
    """{(model, pk): str(object)} with one query per related model."""
    names = {}
    for model, pks in wanted.items():
        pks = {pk for pk in pks if pk is not None}
        if not pks:
            continue
        for obj in model._base_manager.filter(pk__in=pks).select_related():
            names[(model, obj.pk)] = str(obj)
    return names


def _organisations(partnership, user_ids) -> dict:
    """user id → the name(s) of their organisation(s) in this partnership (one query)."""
    names = {partnership.oem_id: partnership.oem.name, partnership.ems_id: partnership.ems.name}
    out = defaultdict(list)
    for user_id, org_id in (
        Membership.objects.filter(
            user_id__in=user_ids, organization_id__in=[partnership.oem_id, partnership.ems_id]
        )
        .order_by("organization_id")
        .values_list("user_id", "organization_id")
    ):
        out[user_id].append(names[org_id])
    return {uid: ", ".join(orgs) for uid, orgs in out.items()}


def _records_with_previous(kind: Kind, history_ids) -> tuple[list, dict]:
    """The rows ``history_ids`` (in that order) and, by history id, the rows they follow —
    fetched together by ONE query, so the count never depends on what the page holds."""
    manager = kind.history_model._default_manager
    wanted = manager.filter(history_id__in=history_ids)
    previous_ids = _with_previous(kind, wanted).values("trail_previous_id")
    fetched = {
        r.history_id: r
        for r in _with_previous(
            kind, manager.filter(Q(history_id__in=history_ids) | Q(history_id__in=previous_ids))
        )
    }
    return [fetched[i] for i in history_ids if i in fetched], fetched


def build_rows(partnership, ids_by_kind: dict) -> list[HistoryRow]:
    """Readable rows for historical records, given as ``{kind: [history_id, …]}``.

    Costs one query per kind, one per related model named in the changes and one for the
    authors' organisations. Rows come out grouped by kind in the order given.
    """
    records_by_kind, previous_by_kind = {}, {}
    for kind, ids in ids_by_kind.items():
        records_by_kind[kind], previous_by_kind[kind] = _records_with_previous(kind, ids)
    raw = []
    wanted = defaultdict(set)
    for kind, records in records_by_kind.items():
        for record in records:
            changes = _raw_changes(
                kind, record, previous_by_kind[kind].get(record.trail_previous_id)
            )
            for f, old, new in changes:
                if f.is_relation:
                    wanted[f.related_model].update((old, new))
            raw.append((kind, record, changes))
    related = _related_names(wanted)
    organisations = _organisations(
        partnership, {r.history_user_id for _, r, _ in raw if r.history_user_id}
    )
    rows = []
    for kind, record, changes in raw:
        action, action_label = ACTIONS.get(record.history_type, ("changed", ACTIONS["~"][1]))
        user = record.history_user
        rows.append(
            HistoryRow(
                kind=kind,
                history_id=record.history_id,
                object_id=record.id,
                object_title=kind.title_of(record),
                when=record.history_date,
                action=action,
                action_label=str(action_label),
                user_id=record.history_user_id,
                who=str(user) if user else _("system"),
                organisation=organisations.get(record.history_user_id, ""),
                changes=[
                    FieldChange(
                        field=f.name,
                        label=str(capfirst(f.verbose_name)),
                        before=_display(f, old, related),
                        after=_display(f, new, related),
                    )
                    for f, old, new in changes
                ],
            )
        )
    return rows


def object_rows(kind: Kind, partnership, records_qs, limit=None) -> list[HistoryRow]:
    ids = records_qs.values_list("history_id", flat=True)
    return build_rows(partnership, {kind: list(ids[:limit] if limit else ids)})


def build_trail_rows(partnership, refs) -> list[HistoryRow]:
    """Rows for a page of :func:`partnership_trail` references, in the page's order."""
    ids_by_kind = defaultdict(list)
    for key, history_id, _at in refs:
        ids_by_kind[key].append(history_id)
    registry = kinds()
    rows = build_rows(partnership, {registry[key]: ids for key, ids in ids_by_kind.items()})
    by_ref = {(row.kind.key, row.history_id): row for row in rows}
    return [by_ref[(key, hid)] for key, hid, _at in refs if (key, hid) in by_ref]


# --- recording set-based writes ----------------------------------------------------------

HISTORY_TYPES = {"created": "+", "deleted": "-"}  # every other action is a change ("~")


@registry.subscribe(accepts=lambda event: not event.saved, order=0, name="audit-trail")
def record_set_based_writes(events) -> None:
    """The audit trail's subscriber to the event path. ``save()`` records its own row
    (simple-history); rows written set-based (``Event.saved`` False) are recorded here, one
    statement per model, kind of change and author — the same rows ``save()`` would have
    written."""
    groups = defaultdict(dict)  # an object announced in several partnerships: one row
    for event in events:
        history_type = HISTORY_TYPES.get(event.action, "~")
        if history_type == "-":
            raise ValueError("A set-based deletion cannot be recorded after the fact.")
        groups[(type(event.obj), history_type, event.by)][event.obj.pk] = None
    for (model, history_type, by), pks in groups.items():
        record_rows(model, list(pks), history_type, by)


def record_rows(model, pks, history_type, by) -> None:
    """The rows ``bulk_history_create`` would write for ``pks``, copied from the stored rows by
    one INSERT … SELECT instead of thousands of model instances."""
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True) or not pks:
        return
    if not hasattr(model, "history"):
        return
    if connection.vendor != "postgresql":  # the embedded SQLite: simple-history's own way
        model.history.bulk_history_create(
            list(model._default_manager.filter(pk__in=pks).order_by("pk")),
            update=history_type == "~",
            default_user=by,
        )
        return
    qn = connection.ops.quote_name
    history = model.history.model
    tracked = ", ".join(qn(f.column) for f in history.tracked_fields)
    meta = history._meta
    extra = ", ".join(
        qn(meta.get_field(name).column)
        for name in ("history_date", "history_change_reason", "history_type", "history_user")
    )
    pk = qn(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(meta.db_table)} ({tracked}, {extra}) "
            f"SELECT {tracked}, %s, %s, %s, %s FROM {qn(model._meta.db_table)} "
            f"WHERE {pk} = ANY(%s) ORDER BY {pk}",
            [timezone.now(), "", history_type, getattr(by, "pk", None), list(pks)],
        )
