"""Tombstones: how an incremental sync learns that an object is gone.

A sync by ``updated_since`` only sees rows that exist. When a synced object is deleted, or
reaches a state in which the partner's ERP should drop it (a cancelled production run, a
cancelled meeting), a :class:`~integrations.models.Tombstone` records its API resource name,
id and external id; ``GET /api/v1/tombstones/?updated_since=…`` serves them with the same
cursor and ``next_updated_since`` as the object lists.

Deletions are caught by ``pre_delete``/``post_delete`` receivers (connected in
``IntegrationsConfig.ready``): a deletion may be a cascade the ORM does on its own, which no
service could announce, and ``QuerySet.delete()`` and cascades are covered because a model
with such receivers is never fast-deleted. Closures are business events: :func:`record_closures`
subscribes to the event path (``partnership.events``) and tombstones an object whose event
leaves it in a closed state — a cancelled series takes its moved occurrences along. Both run
inside the writing transaction, so a tombstone exists exactly when its deletion or closure
committed.
"""

from dataclasses import dataclass

from django.apps import apps
from django.db.models.signals import post_delete, pre_delete

from partnership import registry

from .models import Tombstone


@dataclass(frozen=True)
class Tracked:
    model: str  # app label.ModelName
    object_type: str  # API resource name
    partnership: str = "partnership_id"  # lookup from the object to its partnership's id
    closed: frozenset = frozenset()  # statuses after which the ERP should drop the object
    kind: str = ""  # the event kind (partnership.registry) whose events may close it


TRACKED = [
    Tracked("schedules.Product", "products"),
    Tracked(
        "schedules.ProductionRun",
        "production-runs",
        closed=frozenset({"cancelled"}),
        kind="production_run",
    ),
    Tracked("schedules.CapacityPlan", "capacity"),
    Tracked("schedules.DemandPublication", "demand-publications"),
    Tracked("schedules.CapacityAlert", "capacity-alerts"),
    Tracked("schedules.LongLeadItem", "long-lead-items"),
    Tracked("contracts.DecisionRequest", "decision-requests"),
    Tracked("audits.Audit", "audits"),
    Tracked("audits.Finding", "findings", partnership="audit__partnership_id"),
    Tracked(
        "audits.CorrectiveAction",
        "corrective-actions",
        partnership="finding__audit__partnership_id",
    ),
    Tracked("comms.Meeting", "meetings", closed=frozenset({"cancelled"}), kind="meeting"),
    Tracked("comms.ActionItem", "action-items"),
    Tracked("comms.Problem", "problems"),
    Tracked("comms.Goal", "goals"),
]

_BY_MODEL = {}  # model class → Tracked, filled by connect()
_PARTNERSHIP_ATTR = "_tombstone_partnership_id"


def connect():
    """Connect the receivers for every tracked model (``IntegrationsConfig.ready``)."""
    for tracked in TRACKED:
        model = apps.get_model(tracked.model)
        _BY_MODEL[model] = tracked
        uid = f"tombstone:{tracked.model}"
        pre_delete.connect(remember_partnership, sender=model, dispatch_uid=uid)
        post_delete.connect(record_deletion, sender=model, dispatch_uid=uid)
    post_delete.connect(
        drop_orphans,
        sender=apps.get_model("partnership.Partnership"),
        dispatch_uid="tombstone:partnership",
    )


def _partnership_id(instance, tracked):
    if tracked.partnership == "partnership_id":
        return instance.partnership_id
    return (
        type(instance)
        ._base_manager.filter(pk=instance.pk)
        .values_list(tracked.partnership, flat=True)
        .first()
    )


def tombstone(instance, tracked, partnership_id=None) -> Tombstone | None:
    partnership_id = partnership_id or _partnership_id(instance, tracked)
    if partnership_id is None:
        return None
    return Tombstone.objects.create(
        partnership_id=partnership_id,
        object_type=tracked.object_type,
        object_id=instance.pk,
        external_id=getattr(instance, "external_id", None) or "",
    )


def remember_partnership(sender, instance, **kwargs):
    """Every ``pre_delete`` is sent before the first row goes, so the path to the partnership
    (``finding → audit``) still resolves; ``post_delete`` may come after the parent's delete."""
    setattr(instance, _PARTNERSHIP_ATTR, _partnership_id(instance, _BY_MODEL[sender]))


def record_deletion(sender, instance, **kwargs):
    tracked = _BY_MODEL[sender]
    partnership_id = getattr(instance, _PARTNERSHIP_ATTR, None)
    tombstone(instance, tracked, partnership_id)


CLOSING = {t.kind: t for t in TRACKED if t.closed}


def _closes(event) -> bool:
    tracked = CLOSING.get(event.kind)
    return tracked is not None and getattr(event.obj, "status", None) in tracked.closed


@registry.subscribe(kinds=list(CLOSING), accepts=_closes, order=10, name="tombstones")
def record_closures(events):
    """Once per object: the event that puts it in a closed state (later ones find it)."""
    for event in events:
        _close(event.obj, CLOSING[event.kind])


def _close(instance, tracked):
    sender = type(instance)
    pks = [instance.pk]
    if sender is apps.get_model("comms.Meeting"):
        # ``cancel_meeting`` cancels the moved occurrences with the series by an UPDATE:
        # they are gone for the ERP with it.
        pks += list(sender._base_manager.filter(parent=instance).values_list("pk", flat=True))
    done = set(
        Tombstone.objects.filter(
            object_type=tracked.object_type,
            object_id__in=pks,
            partnership_id=instance.partnership_id,
        ).values_list("object_id", flat=True)
    )
    closed = {instance.pk: instance}
    if len(pks) > 1:
        closed.update(sender._base_manager.in_bulk([pk for pk in pks[1:] if pk not in done]))
    for pk, obj in closed.items():
        if pk not in done:
            tombstone(obj, tracked, instance.partnership_id)


def drop_orphans(sender, instance, **kwargs):
    """A deleted partnership takes its tombstones along — also those its cascade just wrote
    (the foreign key is checked at commit, so they can go after the partnership)."""
    Tombstone.objects.filter(partnership_id=instance.pk).delete()
