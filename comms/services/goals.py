"""Shared goals and their measured progress: ``goal`` events ``created``, ``changed`` and
``measured``."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership import events

from ..models import Goal, GoalMeasurement
from .common import partnership_people, require_member


@transaction.atomic
def save_goal(*, by, partnership, goal: Goal | None = None, **fields) -> Goal:
    """A new goal (``created``) or a change to one (``changed``; nothing changed, nothing
    written). A current value given is recorded as today's measurement: a new one is announced
    ``measured``, as :func:`record_measurement` announces it (the goals page, the API's
    measurements) — so a PATCH or an upsert of ``current`` is the same event; the goal's other
    changed fields, if any, are ``changed``."""
    require_member(by, partnership)
    if goal is not None:
        if goal.partnership_id != partnership.pk:
            raise PermissionDenied
        goal = Goal.objects.select_for_update().get(pk=goal.pk)
        before = events.snapshot(goal)
    else:
        goal, before = Goal(partnership=partnership), None
    for name, value in fields.items():
        setattr(goal, name, value)
    if goal.owner_id and goal.owner_id not in partnership_people(partnership):
        raise ValidationError({"owner": _("The owner must be a member of either side.")})
    goal.full_clean()
    changed = events.changed_fields(goal, before) if before is not None else []
    if before is not None and not changed:
        return goal
    goal.save()
    measurement = None
    if "current" in fields and goal.current is not None:
        measurement, _created = GoalMeasurement.objects.update_or_create(
            goal=goal, date=timezone.localdate(), defaults={"value": goal.current}
        )
    if before is None:
        events.emit("goal", "created", goal, by=by)
        return goal
    measured = "current" in changed and measurement is not None
    others = [name for name in changed if name != "current"] if measured else changed
    batch = []
    if others:
        batch.append(events.event("goal", "changed", goal, by=by, changed=others))
    if measured:
        batch.append(
            events.event(
                "goal", "measured", goal, by=by, changed=["current"], measurement=measurement
            )
        )
    events.publish(batch)
    return goal


@transaction.atomic
def record_measurement(*, by, goal: Goal, date, value) -> GoalMeasurement:
    """One value per day (recording a day again replaces it); the latest becomes the goal's
    current value (``measured``). The same value again changes nothing."""
    require_member(by, goal.partnership)
    goal = Goal.objects.select_for_update().get(pk=goal.pk)
    measurement = GoalMeasurement.objects.filter(goal=goal, date=date).first()
    if measurement is not None and measurement.value == value:
        return measurement
    measurement, _created = GoalMeasurement.objects.update_or_create(
        goal=goal, date=date, defaults={"value": value}
    )
    latest = goal.measurements.order_by("-date").first()
    changed = ["current"] if goal.current != latest.value else []
    goal.current = latest.value
    goal.save(update_fields=["current", "updated_at"])  # through save(): the audit trail
    events.emit("goal", "measured", goal, by=by, changed=changed, measurement=measurement)
    return measurement
