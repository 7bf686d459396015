"""What the domain apps offer the core, registered from their ``AppConfig.ready()``.

The core never imports a domain app by name: an app tells the registry which kinds of business
object emit events (and under which API resource an outside system fetches them), which of
their events are offered to webhooks, which handlers react to events, and which of its objects
keep an audit trail (``partnership.history.Kind``). The event path itself is
:mod:`partnership.events`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.apps import apps


@dataclass(frozen=True)
class EventKind:
    """A kind of business object whose writes are events (``production_run``, ``meeting``…)."""

    key: str
    #: ``app_label.ModelName`` of the object
    model: str
    #: API resource name and the URL name of its detail route (webhook payloads point there)
    resource: str
    detail_route: str
    #: attribute path from the object to its partnership's id; empty: the emitting service
    #: names the partnership (objects of an organisation, in each of its partnerships)
    partnership: str = "partnership_id"

    def partnership_id(self, obj) -> int:
        if not self.partnership:
            raise ValueError(f"A {self.key} event needs its partnership: emit(…, partnership=…)")
        value = obj
        for name in self.partnership.split("."):
            value = getattr(value, name)
        return value

    @property
    def model_class(self):
        return apps.get_model(self.model)


@dataclass(frozen=True)
class WebhookEvent:
    """An event offered to webhook subscribers: the events of ``kind`` whose action is in
    ``actions`` (every action when None) and not in ``ignore``, under a stable public
    ``name``."""

    name: str
    label: str
    kind: str
    actions: frozenset | None = None
    #: actions that are bookkeeping to an outside system (a reminder sent), never offered
    ignore: frozenset = frozenset()

    def matches(self, event) -> bool:
        return (
            event.kind == self.kind
            and (self.actions is None or event.action in self.actions)
            and event.action not in self.ignore
        )


@dataclass(frozen=True)
class Subscriber:
    """A handler of event batches. ``phase="transaction"`` handlers run inside the writer's
    transaction (they record: history, outbox rows, notifications); ``"commit"`` handlers run
    once it committed (they reach outside: queue tasks). ``order`` sorts the handlers."""

    handler: Callable
    name: str
    kinds: frozenset | None = None
    actions: frozenset | None = None
    phase: str = "transaction"
    order: int = 100
    accepts: Callable | None = field(default=None, compare=False)

    def wants(self, event) -> bool:
        return (
            (self.kinds is None or event.kind in self.kinds)
            and (self.actions is None or event.action in self.actions)
            and (self.accepts is None or self.accepts(event))
        )


_kinds: dict[str, EventKind] = {}
_history_kinds: dict = {}
_webhook_events: dict[str, WebhookEvent] = {}
_subscribers: list[Subscriber] = []


def register_event_kind(*kinds: EventKind) -> None:
    for kind in kinds:
        _kinds[kind.key] = kind


def event_kind(key: str) -> EventKind:
    try:
        return _kinds[key]
    except KeyError:
        raise ValueError(f"Unknown event kind {key!r}: register it in the app's ready()") from None


def register_webhook_event(*events: WebhookEvent) -> None:
    for event in events:
        if event.kind not in _kinds:
            raise ValueError(f"Webhook event {event.name!r} names unknown kind {event.kind!r}")
        _webhook_events[event.name] = event


def webhook_events() -> list[WebhookEvent]:
    """Every webhook event, in registration order (the apps' order in INSTALLED_APPS)."""
    return list(_webhook_events.values())


def _frozen(values: Iterable[str] | str | None) -> frozenset | None:
    if values is None:
        return None
    return frozenset([values] if isinstance(values, str) else values)


def subscribe(
    kinds=None, actions=None, *, phase="transaction", order=100, accepts=None, name=None
) -> Callable:
    """Decorator: call the handler with every batch of events of ``kinds`` (all when None)
    whose action is in ``actions`` (all when None) and that ``accepts(event)``."""
    if phase not in ("transaction", "commit"):
        raise ValueError(f"Unknown phase {phase!r}")

    def register(handler):
        subscriber = Subscriber(
            handler=handler,
            name=name or f"{handler.__module__}.{handler.__qualname__}",
            kinds=_frozen(kinds),
            actions=_frozen(actions),
            phase=phase,
            order=order,
            accepts=accepts,
        )
        if all(s.name != subscriber.name for s in _subscribers):  # ready() may run twice
            _subscribers.append(subscriber)
            _subscribers.sort(key=lambda s: s.order)
        return handler

    return register


def subscribers() -> list[Subscriber]:
    return list(_subscribers)


def register_history_kind(*kinds) -> None:
    """Objects with an audit trail (``partnership.history.Kind``), in the order the trail's
    filters list them (apps register in INSTALLED_APPS order)."""
    for kind in kinds:
        _history_kinds[kind.key] = kind


def history_kinds() -> list:
    return list(_history_kinds.values())
