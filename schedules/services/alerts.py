"""Capacity alerts: one per week and kind while demand exceeds capacity (at the contract's
thresholds) or a change broke the flex terms; opened, updated and resolved as the numbers
move, announced as events (``schedules.subscribers`` tells people)."""

import logging
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.services import active_contract
from partnership import events
from partnership.models import Partnership

from ..models import CapacityAlert, DemandChange, RunChange
from .common import monday, require_right
from .load import WeekLoad, weekly_load
from .planning import latest_publication

logger = logging.getLogger(__name__)


def refresh_alerts(partnership: Partnership, today=None) -> dict[str, int]:
    """Open, update or resolve capacity alerts for the weeks ahead. Idempotent: an unresolved
    alert per week and kind at most (a database constraint guarantees it); an alert whose
    numbers did not move is not written; people are told only when an alert is opened or gets
    worse (``schedules.subscribers``)."""
    contract = active_contract(partnership)
    warning = Decimal(contract.capacity_warning_pct if contract else 90)
    critical = Decimal(contract.capacity_critical_pct if contract else 100)
    counts = {"opened": 0, "updated": 0, "resolved": 0}
    now = timezone.now()
    loads = weekly_load(partnership, start=today)
    publication = latest_publication(partnership)
    breach_weeks = set()
    if publication:
        breach_weeks = set(
            publication.changes.filter(acknowledged_at__isnull=True)
            .exclude(verdict__in=[DemandChange.Verdict.WITHIN, DemandChange.Verdict.NON_BINDING])
            .values_list("week", flat=True)
        )
    breach_weeks |= {
        monday(due)
        for due in RunChange.objects.filter(
            run__partnership=partnership, acknowledged_at__isnull=True
        )
        .exclude(verdict__in=[RunChange.Verdict.WITHIN, RunChange.Verdict.NON_BINDING])
        .values_list("previous_due", flat=True)
    }
    wanted = {}
    for load in loads:
        u = load.utilisation
        if u is not None and u >= warning:
            severity = (
                CapacityAlert.Severity.CRITICAL if u >= critical else CapacityAlert.Severity.WARNING
            )
            wanted[(load.week, CapacityAlert.Kind.OVERLOAD)] = (severity, load)
        if load.week in breach_weeks:
            wanted[(load.week, CapacityAlert.Kind.FLEX_BREACH)] = (
                CapacityAlert.Severity.WARNING,
                load,
            )
    with transaction.atomic():
        live = {
            (a.week, a.kind): a
            for a in CapacityAlert.objects.select_for_update()
            .filter(partnership=partnership, week__gte=loads[0].week, week__lte=loads[-1].week)
            .exclude(status=CapacityAlert.Status.RESOLVED)
        }
        happened = []
        for key, (severity, load) in wanted.items():
            alert = live.get(key)
            message = _alert_message(key[1], load)
            if alert is None:
                try:
                    with transaction.atomic():
                        alert = CapacityAlert.objects.create(
                            partnership=partnership,
                            week=key[0],
                            kind=key[1],
                            severity=severity,
                            demand=load.demand,
                            capacity=load.capacity,
                            utilisation=load.utilisation,
                            message=message,
                        )
                except IntegrityError:  # another worker opened it a moment ago
                    continue
                counts["opened"] += 1
                happened.append(events.event("capacity_alert", "opened", alert))
                continue
            before = events.snapshot(alert)
            worse = (
                severity == CapacityAlert.Severity.CRITICAL
                and alert.severity == CapacityAlert.Severity.WARNING
            )
            alert.severity, alert.demand, alert.capacity = severity, load.demand, load.capacity
            alert.utilisation, alert.message = load.utilisation, message
            if worse:
                alert.status = CapacityAlert.Status.OPEN
            changed = events.changed_fields(alert, before)
            if changed:  # the same numbers again write nothing
                alert.save()
                counts["updated"] += 1
                action = "worsened" if worse else "updated"
                happened.append(events.event("capacity_alert", action, alert, changed=changed))
        for key, alert in live.items():
            if key not in wanted:
                alert.status, alert.resolved_at = CapacityAlert.Status.RESOLVED, now
                alert.save()
                counts["resolved"] += 1
                changed = ["status", "resolved_at"]
                happened.append(events.event("capacity_alert", "resolved", alert, changed=changed))
        events.publish(happened)  # one batch: one notification for the alerts opened
    return counts


def _alert_message(kind, load: WeekLoad) -> str:
    if kind == CapacityAlert.Kind.FLEX_BREACH:
        return _("Week %(w)s: the forecast or a production run changed beyond the flex terms.") % {
            "w": f"{load.week:%G-W%V}"
        }
    return _("Week %(w)s: demand %(d)s vs capacity %(c)s %(u)s (%(p)s%%).") % {
        "w": f"{load.week:%G-W%V}",
        "d": f"{load.demand:.0f}",
        "c": f"{load.capacity:.0f}",
        "u": load.unit,
        "p": load.utilisation,
    }


@transaction.atomic
def acknowledge_alert(*, by, alert: CapacityAlert) -> CapacityAlert:
    require_right(by, alert.partnership, "acknowledge_alerts")
    if alert.status != CapacityAlert.Status.OPEN:
        raise ValidationError(_("Only an open alert can be acknowledged."))
    alert.status, alert.acknowledged_by, alert.acknowledged_at = (
        CapacityAlert.Status.ACKNOWLEDGED,
        by,
        timezone.now(),
    )
    alert._history_user = by
    alert.save()
    events.emit(
        "capacity_alert",
        "acknowledged",
        alert,
        by=by,
        changed=["status", "acknowledged_by", "acknowledged_at"],
    )
    return alert


def refresh_all_alerts() -> int:
    n = 0
    for partnership in Partnership.objects.filter(
        status__in=[Partnership.Status.ACTIVE, Partnership.Status.PROSPECT]
    ):
        refresh_alerts(partnership)
        n += 1
    return n


def schedule_alert_refresh(partnership_id: int) -> None:
    """Recompute the partnership's alerts in the background (the subscriber of the events that
    move load calls it once they committed). A broker outage only delays it: the daily refresh
    catches up."""
    from ..tasks import refresh_capacity_alerts

    try:
        refresh_capacity_alerts.delay(partnership_id)
    except Exception:
        logger.warning("Could not queue the alert refresh of partnership %s", partnership_id)
