"""Production runs: ordered and changed by the OEM, confirmed by the EMS (or answered with
other dates), re-prioritised on request. Changes of a committed run are judged against the
contract's flex table. Who may do what to a run, in which status, is :data:`TRANSITIONS` —
the pages ask :func:`run_actions`, the services :func:`_require_action`."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from partnership import events
from partnership.models import Partnership
from partnership.permissions import side_membership

from .. import flex
from ..models import PriorityRequest, Product, ProductionRun, RunChange, check_run_dates
from .common import assign, monday, require_right, rights
from .planning import flex_terms, long_lead_costs

Status = ProductionRun.Status
COMMITTED = (Status.CONFIRMED, Status.IN_PRODUCTION)
CLOSED = (Status.COMPLETED, Status.CANCELLED)
OPEN = tuple(s for s in Status.values if s not in CLOSED)

#: action → (the right it needs, the run statuses it is allowed in).
TRANSITIONS = {
    "confirm": ("confirm_runs", (Status.PLANNED,)),
    "propose_dates": ("confirm_runs", (Status.PLANNED, Status.CONFIRMED)),
    "answer_dates": ("order_runs", (Status.PROPOSED,)),
    "change": ("order_runs", OPEN),
    "request_priority": ("order_runs", OPEN),
    "answer_priority": ("confirm_runs", OPEN),
}
#: A committed priority moves only by a request the EMS answers.
PRIORITY_BY_REQUEST = gettext_lazy("Ask for a re-prioritisation instead: request-priority.")
REFUSED = {
    "confirm": gettext_lazy("Only a planned run can be confirmed."),
    "propose_dates": gettext_lazy("Other dates can be proposed for a planned or confirmed run."),
    "answer_dates": gettext_lazy("No dates are proposed for this run."),
    "change": gettext_lazy("This run is closed."),
    "request_priority": gettext_lazy("This run is closed."),
    "answer_priority": gettext_lazy("This run is closed."),
}


def run_actions(
    user, run: ProductionRun, pending: PriorityRequest | None = None, *, membership=None
) -> frozenset:
    """What ``user`` may do to ``run`` now — the page shows exactly these actions. ``pending``
    is the run's pending re-prioritisation request (None: there is none); a page that already
    knows the user's ``membership`` in the partnership passes it (no query)."""
    if membership is None:
        side, membership = side_membership(user, run.partnership)
    else:
        side = run.partnership.side_of(membership.organization)
    held = rights(side, membership)
    allowed = {
        action
        for action, (right, statuses) in TRANSITIONS.items()
        if right in held and run.status in statuses
    }
    if pending is not None:
        allowed.discard("request_priority")
    else:
        allowed.discard("answer_priority")
    return frozenset(allowed)


def _require_action(user, run: ProductionRun, action: str) -> None:
    right, statuses = TRANSITIONS[action]
    require_right(user, run.partnership, right)
    if run.status not in statuses:
        raise ValidationError(str(REFUSED[action]))


def _save(run: ProductionRun, by, action: str, before: dict, **data) -> None:
    run._history_user = by
    run.save()
    events.emit(
        "production_run", action, run, by=by, changed=events.changed_fields(run, before), **data
    )


@transaction.atomic
def save_run(
    *, by, partnership: Partnership, run: ProductionRun | None = None, **fields
) -> ProductionRun:
    """The OEM orders runs. Moving or resizing a committed run is judged against the contract's
    flex table: within the band's limits the run stays confirmed (the EMS agreed to that much
    flexibility when it signed); beyond them, or without agreed terms, it goes back to the EMS
    for confirmation. Every change of a committed run is recorded with its verdict. An edit
    that changes nothing writes nothing."""
    require_right(by, partnership, "order_runs")
    run = run or ProductionRun(partnership=partnership)
    if run.partnership_id != partnership.pk or (
        "product" in fields and fields["product"].partnership_id != partnership.pk
    ):
        raise ValidationError({"product": _("Choose a product of this partnership.")})
    if run.pk is not None and run.status in CLOSED:
        raise ValidationError(str(REFUSED["change"]))
    before = events.snapshot(run)
    edit = (run, run.planned_launch, run.due_date, run.quantity)
    changed = assign(run, fields, before)
    if changed == []:
        return run
    if changed and "priority" in changed:
        raise ValidationError({"priority": str(PRIORITY_BY_REQUEST)})
    run.full_clean()
    if changed is None:
        run._history_user = by
        run.save()
        events.emit("production_run", "created", run, by=by)
        return run
    changes = judge_run_changes(by, partnership, [edit]) if run.status in COMMITTED else []
    record_run_changes(changes)
    _save(run, by, "changed", before, change=changes[0] if changes else None)
    return run


def judge_run_changes(by, partnership: Partnership, edits) -> list[RunChange]:
    """Judge edits of committed runs — (run with its new values, old launch, old due, old
    quantity) — against the flex table; unsaved RunChange rows for those that changed.

    The date is judged by the band of the delivery being moved, the quantity like a forecast
    change of that week. A breach, or any change without agreed terms, sends the run back to
    planned (the EMS confirms again); within the terms it stays confirmed."""
    terms, material, today = flex_terms(partnership), None, timezone.localdate()
    changes = []
    for run, launch, due, quantity in edits:
        if (launch, due, quantity) == (run.planned_launch, run.due_date, run.quantity):
            continue
        if material is None:
            material = long_lead_costs(partnership)
        weeks_out = (monday(due) - monday(today)).days // 7
        date_verdict, band = flex.classify_reschedule(
            due, run.due_date, today, terms.bands, terms.frozen_zone_weeks
        )
        qty_verdict, _band = flex.classify(
            quantity, run.quantity, weeks_out, terms.bands, terms.frozen_zone_weeks
        )
        exposure = flex.material_exposure(
            quantity - run.quantity, weeks_out, material[run.product_id]
        )
        change = RunChange(
            run=run,
            changed_by=by,
            weeks_out=weeks_out,
            band_label=band.label if band else "",
            previous_launch=launch,
            previous_due=due,
            new_launch=run.planned_launch,
            new_due=run.due_date,
            previous_quantity=quantity,
            new_quantity=run.quantity,
            verdict=flex.worst(date_verdict, qty_verdict),
            exposure=exposure or None,
        )
        if change.is_breach or not terms.agreed:  # the EMS's confirmation no longer holds
            run.status, run.confirmed_by, run.confirmed_at = Status.PLANNED, None, None
        changes.append(change)
    return changes


def record_run_changes(changes: list[RunChange]) -> None:
    """Store judged changes (their runs' events tell the EMS, see ``schedules.subscribers``)."""
    if changes:
        RunChange.objects.bulk_create(changes)


@transaction.atomic
def confirm_run(*, by, run: ProductionRun) -> ProductionRun:
    require_right(by, run.partnership, "confirm_runs")
    run = ProductionRun.objects.select_for_update().select_related("product").get(pk=run.pk)
    _require_action(by, run, "confirm")
    if not run.product.released_at:
        from .products import readiness

        _ready, blockers = readiness(run.product)
        raise ValidationError(
            _("The product is not released for launch. Missing: %(items)s.")
            % {"items": "; ".join(b.get_kind_display() for b in blockers) or _("the release")}
        )
    before = events.snapshot(run)
    run.status, run.confirmed_by, run.confirmed_at = Status.CONFIRMED, by, timezone.now()
    # Confirming accepts the changes that sent the run back: they are acknowledged.
    run.changes.filter(acknowledged_at__isnull=True).update(
        acknowledged_by=by, acknowledged_at=run.confirmed_at
    )
    _save(run, by, "confirmed", before)
    return run


@transaction.atomic
def propose_dates(*, by, run: ProductionRun, launch, due) -> ProductionRun:
    _require_action(by, run, "propose_dates")
    check_run_dates(launch, due, "proposed_due")
    before = events.snapshot(run)
    run.proposed_launch, run.proposed_due, run.status = launch, due, Status.PROPOSED
    _save(run, by, "dates_proposed", before)
    return run


@transaction.atomic
def answer_proposed_dates(*, by, run: ProductionRun, accept: bool) -> ProductionRun:
    _require_action(by, run, "answer_dates")
    before = events.snapshot(run)
    if accept:
        run.planned_launch, run.due_date = run.proposed_launch, run.proposed_due
        # The dates are agreed; but, as in confirm_run, no confirmation before the release.
        if Product.objects.filter(pk=run.product_id, released_at__isnull=False).exists():
            run.status, run.confirmed_by, run.confirmed_at = Status.CONFIRMED, by, timezone.now()
        else:
            run.status = Status.PLANNED
    else:
        run.status = Status.PLANNED
    run.proposed_launch = run.proposed_due = None
    _save(run, by, "dates_accepted" if accept else "dates_declined", before)
    return run


@transaction.atomic
def request_priority(
    *, by, run: ProductionRun, priority: int, reason: str, requested_due=None
) -> PriorityRequest:
    _require_action(by, run, "request_priority")
    if run.priority_requests.filter(status=PriorityRequest.Status.PENDING).exists():
        raise ValidationError(_("A re-prioritisation request for this run is already pending."))
    if not reason.strip():
        raise ValidationError({"reason": _("Explain why the run must move.")})
    check_run_dates(run.planned_launch, requested_due, "requested_due")
    req = PriorityRequest.objects.create(
        run=run,
        priority=priority,
        reason=reason.strip(),
        requested_due=requested_due,
        requested_by=by,
    )
    events.emit("priority_request", "created", req, by=by)
    return req


@transaction.atomic
def answer_priority(
    *, by, request: PriorityRequest, accept: bool, answer: str = ""
) -> PriorityRequest:
    require_right(by, request.run.partnership, "confirm_runs")
    request = PriorityRequest.objects.select_for_update().select_related("run").get(pk=request.pk)
    if request.status != PriorityRequest.Status.PENDING:
        raise ValidationError(_("This request was already answered."))
    _require_action(by, request.run, "answer_priority")
    if not accept and not answer.strip():
        raise ValidationError({"answer": _("Say why the request is declined.")})
    request.status = PriorityRequest.Status.ACCEPTED if accept else PriorityRequest.Status.DECLINED
    request.answered_by, request.answered_at, request.answer = by, timezone.now(), answer.strip()
    request.save()
    if accept:
        run = request.run
        before = events.snapshot(run)
        run.priority = request.priority
        if request.requested_due:
            check_run_dates(
                run.planned_launch,
                request.requested_due,
                "requested_due",
                _("The requested due date is now before the launch."),
            )
            if request.requested_due != run.due_date and run.status == Status.CONFIRMED:
                run.status = Status.PLANNED  # new dates need a new confirmation
            run.due_date = request.requested_due
        if events.changed_fields(run, before):
            _save(run, by, "reprioritised", before)
    events.emit("priority_request", request.status, request, by=by)
    return request
