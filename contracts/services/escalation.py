"""Escalation of decision requests past their answer time (the periodic task): silence counts
as consent where the contract says so (``deemed_accepted``), the others become overdue
(``escalated``). Who is told is ``contracts.subscribers``' business."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership import events

from ..models import DecisionEvent, DecisionRequest
from .decisions import KIND


def escalate_overdue(now=None, batch_size=200) -> dict[str, int]:
    """Requests past their answer time: silence-is-consent ones are deemed accepted, the others
    become overdue and are escalated to the OEM buyer and the EMS account manager — exactly once
    per breach. Rows are claimed with SKIP LOCKED, so parallel workers never double-send."""
    now = now or timezone.now()
    counts = {"deemed_accepted": 0, "escalated": 0}
    while True:
        with transaction.atomic():
            batch = list(
                DecisionRequest.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(
                    status=DecisionRequest.Status.AWAITING_OEM,
                    due_at__lte=now,
                    escalated_at__isnull=True,
                )
                .select_related(
                    "partnership", "partnership__oem_contact", "partnership__ems_contact"
                )
                .order_by("due_at")[:batch_size]
            )
            if not batch:
                return counts
            escalated = [_escalate_one(request, now) for request in batch]
            events.publish(escalated)  # one batch: one webhook lookup for the lot
            for event in escalated:
                counts[event.action] += 1


def _escalate_one(request: DecisionRequest, now) -> events.Event:
    request.escalated_at = now
    if request.silence_is_consent:
        request.status = DecisionRequest.Status.DEEMED_ACCEPTED
        request.answered_at = now
        request.save()
        text = _("No answer within %(h)s h: under the contract, silence counts as consent.") % {
            "h": request.response_hours
        }
        DecisionEvent.objects.create(
            request=request, kind=DecisionEvent.Kind.DEEMED_ACCEPTED, text=text, created_at=now
        )
        action, changed = "deemed_accepted", ["status", "answered_at", "escalated_at"]
    else:
        request.status = DecisionRequest.Status.OVERDUE
        request.save()
        text = _(
            "No answer within %(h)s h; escalated to the OEM buyer and the EMS account manager."
        ) % {"h": request.response_hours}
        DecisionEvent.objects.create(
            request=request, kind=DecisionEvent.Kind.OVERDUE, text=text, created_at=now
        )
        action, changed = "escalated", ["status", "escalated_at"]
    return events.event(KIND, action, request, changed=changed, text=text)
