"""The one event path. Every business write announces itself here; everything that reacts to
writes subscribes here: the audit trail of set-based writes, outgoing webhooks, the sync's
tombstones and people's notifications.

Services emit explicitly, once they wrote — never a ``post_save`` receiver: set-based writes
send no signals, and a signal cannot say *why* a row changed. A page, the API, an upsert by
external id and a bulk upsert all end in the same service, so they emit the same events. One
:func:`emit` call may carry many events — a bulk upsert emits one per changed row, in one call —
and subscribers take them as a batch (one webhook lookup, one summary notification). Rows left
unchanged emit nothing.

**When.** Handlers of the ``transaction`` phase run inside the writer's transaction, each in a
savepoint: what they record (history rows, webhook deliveries, tombstones, notifications)
commits with the write or not at all — an outbox, so a crash after the commit loses no event.
Nothing leaves the process before the commit: deliveries are queued, e-mails sent and tasks
started by ``transaction.on_commit`` (the ``commit`` phase, and the handlers' own
``on_commit``), and a write rolled back — or a savepoint of it — sends nothing.

**Failures.** A handler's error never undoes the business write: it is logged and its
savepoint rolled back. ``settings.EVENTS_RAISE_ERRORS`` (on in the test suite) raises instead.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from django.conf import settings
from django.db import transaction

from . import registry

logger = logging.getLogger(__name__)

CREATED, CHANGED, DELETED = "created", "changed", "deleted"
_EMPTY = MappingProxyType({})


@dataclass(frozen=True, eq=False)
class Event:
    """Something happened to one business object.

    ``action`` is ``created``, ``changed`` or what the service did (``confirmed``,
    ``dates_proposed``, ``answered``…); ``changed`` names the fields it changed. ``saved`` is
    False for rows written set-based, without ``save()``: simple-history did not see them, so
    the audit-trail subscriber records them. ``data`` carries what a handler needs beyond the
    object (a reason, the judged change).
    """

    kind: str
    action: str
    obj: object
    partnership_id: int
    by: object = None
    changed: tuple = ()
    saved: bool = True
    data: Mapping = field(default_factory=lambda: _EMPTY)

    @property
    def name(self) -> str:
        return f"{self.kind}.{self.action}"

    def __repr__(self):
        return f"<Event {self.name} {self.obj._meta.label}#{self.obj.pk}>"


def event(kind, action, obj, *, by=None, changed=(), saved=True, partnership=None, **data) -> Event:
    """An :class:`Event`, checked against the registry (an unknown kind is a bug). The
    partnership is the kind's path from the object unless given (an organisation's object,
    such as a certificate, is an event in each of its partnerships)."""
    spec = registry.event_kind(kind)
    partnership_id = (
        spec.partnership_id(obj) if partnership is None else getattr(partnership, "pk", partnership)
    )
    return Event(
        kind,
        action,
        obj,
        partnership_id,
        by,
        tuple(changed),
        saved,
        MappingProxyType(data) if data else _EMPTY,
    )


def emit(kind, action, obj, *, by=None, changed=(), saved=True, partnership=None, **data) -> Event:
    """Announce one write (see the module docstring); returns the event."""
    e = event(
        kind, action, obj, by=by, changed=changed, saved=saved, partnership=partnership, **data
    )
    publish([e])
    return e


def publish(events: Iterable[Event]) -> list[Event]:
    """Announce a batch of events, in order, to every subscriber that wants some of them."""
    events = list(events)
    if not events:
        return events
    for capture in _captures:
        capture.extend(events)
    kinds = {e.kind for e in events}
    for subscriber in registry.subscribers():
        if subscriber.kinds is not None and subscriber.kinds.isdisjoint(kinds):
            continue  # most handlers want other kinds: a bulk batch is not scanned for them
        batch = [e for e in events if subscriber.wants(e)]
        if not batch:
            continue
        if subscriber.phase == "commit":
            transaction.on_commit(
                lambda s=subscriber, b=batch: _call(s, b, savepoint=False),
                robust=not _strict(),
            )
        else:
            _call(subscriber, batch, savepoint=True)
    return events


def _strict() -> bool:
    return getattr(settings, "EVENTS_RAISE_ERRORS", False)


def _call(subscriber, batch, *, savepoint):
    if _strict():
        subscriber.handler(batch)
        return
    try:
        with transaction.atomic() if savepoint else contextlib.nullcontext():
            subscriber.handler(batch)
    except Exception:
        logger.exception("Event subscriber %s failed on %s", subscriber.name, batch[:3])


_captures: list[list[Event]] = []


@contextlib.contextmanager
def capture():
    """Collect every event published inside the block (for tests and diagnostics)."""
    seen: list[Event] = []
    _captures.append(seen)
    try:
        yield seen
    finally:
        _captures.remove(seen)


def snapshot(obj, names=None) -> dict:
    """``{field name: stored value}`` of ``obj`` now (foreign keys by id, so nothing is
    loaded) — every editable field when ``names`` is None. Compare after the write with
    :func:`changed_fields`."""
    meta = obj._meta
    fields = (
        [meta.get_field(name) for name in names]
        if names is not None
        else [f for f in meta.concrete_fields if f.editable and not f.primary_key]
    )
    return {f.name: getattr(obj, f.attname) for f in fields}


def changed_fields(obj, before: Mapping) -> list[str]:
    """The fields of a :func:`snapshot` whose value on ``obj`` differs now."""
    meta = obj._meta
    return [
        name
        for name, value in before.items()
        if getattr(obj, meta.get_field(name).attname) != value
    ]
