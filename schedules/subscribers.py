"""What schedules does when its events happen (``partnership.events``): tell people, and
refresh capacity alerts once a change that moves the load committed.

Every handler takes a batch — a bulk upsert of a hundred runs is one call — so a partner gets
one notification for the lot, whichever write path (page, API, upsert, bulk) made the change.
"""

from collections import defaultdict

from django.utils.translation import gettext as _

from partnership.models import Role
from partnership.notifications import members, notify
from partnership.registry import subscribe

from .models import CapacityAlert, ProductionRun
from .services.alerts import schedule_alert_refresh


def _by_partnership(events):
    groups = defaultdict(list)
    for event in events:
        groups[event.partnership_id].append(event)
    return groups.values()


# --- production runs ------------------------------------------------------------------------


@subscribe("production_run", accepts=lambda e: e.data.get("change") is not None)
def tell_the_ems_about_run_changes(events):
    """Changes of committed runs, judged against the flex terms: one notification per
    partnership for the lot, so a bulk sync of a hundred runs does not send a hundred e-mails."""
    for batch in _by_partnership(events):
        changes = [e.data["change"] for e in batch]
        partnership = changes[0].run.partnership
        back = [c for c in changes if c.run.status == ProductionRun.Status.PLANNED]
        if len(changes) == 1:
            change = changes[0]
            subject = (
                _("%(run)s changed beyond the flex terms: please confirm")
                if back
                else _("%(run)s changed within the flex terms")
            ) % {"run": change.run}
            url = change.run.get_absolute_url()
        else:
            subject = _("%(n)s production runs changed, %(back)s need your confirmation") % {
                "n": len(changes),
                "back": len(back),
            }
            url = f"/partnerships/{partnership.pk}/runs/"
        body = "\n".join(
            _("%(run)s: due %(old)s → %(new)s, quantity %(oq)s → %(nq)s: %(verdict)s.")
            % {
                "run": c.run,
                "old": c.previous_due.isoformat(),
                "new": c.new_due.isoformat(),
                "oq": c.previous_quantity,
                "nq": c.new_quantity,
                "verdict": c.get_verdict_display(),
            }
            for c in changes[:50]
        )
        notify(
            members(partnership, "ems", [Role.ACCOUNT_MANAGER, Role.PLANNER, Role.ADMIN]),
            partnership=partnership,
            subject=subject,
            body=body,
            url=url,
        )


@subscribe("production_run", actions="dates_proposed")
def tell_the_oem_about_proposed_dates(events):
    for event in events:
        run = event.obj
        notify(
            members(run.partnership, "oem", [Role.BUYER, Role.PLANNER, Role.ADMIN]),
            partnership=run.partnership,
            subject=_("New dates proposed for %(run)s") % {"run": run},
            url=run.get_absolute_url(),
        )


@subscribe("priority_request", actions="created")
def tell_the_ems_about_a_priority_request(events):
    for event in events:
        run = event.obj.run
        notify(
            members(run.partnership, "ems", [Role.ACCOUNT_MANAGER, Role.PLANNER]),
            partnership=run.partnership,
            subject=_("Re-prioritisation requested: %(run)s") % {"run": run},
            body=event.obj.reason,
            url=run.get_absolute_url(),
        )


@subscribe("priority_request", actions=("accepted", "declined"))
def tell_the_requester_the_answer(events):
    for event in events:
        request = event.obj
        notify(
            [request.requested_by],
            partnership=request.run.partnership,
            subject=_("Re-prioritisation %(status)s: %(run)s")
            % {"status": request.get_status_display().lower(), "run": request.run},
            body=request.answer,
            url=request.run.get_absolute_url(),
        )


# --- demand and alerts ----------------------------------------------------------------------


@subscribe("demand_publication", actions="published", accepts=lambda e: e.data.get("breaches"))
def tell_both_sides_about_flex_breaches(events):
    for event in events:
        publication, p = event.obj, event.obj.partnership
        notify(
            members(p, "ems", [Role.ACCOUNT_MANAGER, Role.PLANNER])
            + members(p, "oem", [Role.BUYER]),
            partnership=p,
            subject=_("Forecast v%(v)s breaks the flex terms in %(n)s line(s)")
            % {"v": publication.version, "n": event.data["breaches"]},
            body=_("Changes beyond the agreed bands need the other side's acknowledgement."),
            url=f"/partnerships/{p.pk}/capacity/",
        )


@subscribe("capacity_alert", actions=("opened", "worsened"))
def tell_both_sides_about_alerts(events):
    """Alerts opened or grown critical in one refresh: one notification per partnership."""
    for batch in _by_partnership(events):
        alerts = [e.obj for e in batch]
        partnership = alerts[0].partnership
        people = members(partnership, "ems", [Role.ACCOUNT_MANAGER, Role.PLANNER]) + members(
            partnership, "oem", [Role.BUYER]
        )
        critical = any(a.severity == CapacityAlert.Severity.CRITICAL for a in alerts)
        notify(
            people,
            partnership=partnership,
            subject=(
                _("Capacity critical in %(n)s week(s)")
                if critical
                else _("Capacity warning in %(n)s week(s)")
            )
            % {"n": len(alerts)},
            body="\n".join(a.message for a in sorted(alerts, key=lambda a: a.week)),
            url=f"/partnerships/{partnership.pk}/capacity/",
        )


def _moves_load(event) -> bool:
    """Capacity published, a forecast published or its breaches acknowledged, a run confirmed
    (its changes acknowledged) or changed beyond the flex terms: the alerts may change."""
    if event.kind == "production_run":
        change = event.data.get("change")
        return event.action == "confirmed" or (change is not None and change.is_breach)
    return event.kind in ("capacity", "demand_publication")


@subscribe(
    ("capacity", "demand_publication", "production_run"),
    accepts=_moves_load,
    phase="commit",
)
def refresh_alerts_after_commit(events):
    for partnership_id in {e.partnership_id for e in events}:
        schedule_alert_refresh(partnership_id)
