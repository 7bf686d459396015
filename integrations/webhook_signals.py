"""Receivers that turn model changes into webhook events (connected in ``IntegrationsConfig``).

Only ``save()`` sends signals: bulk ``QuerySet.update()`` calls do not emit events.
"""

import logging

from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from audits.models import Finding
from comms.models import Meeting, Problem
from contracts.models import DecisionRequest
from schedules.models import CapacityAlert, ProductionRun

from . import webhooks

logger = logging.getLogger(__name__)

ANSWERED = {
    DecisionRequest.Status.APPROVED,
    DecisionRequest.Status.REJECTED,
    DecisionRequest.Status.ACKNOWLEDGED,
    DecisionRequest.Status.DEEMED_ACCEPTED,
}


def _emit(event, instance, partnership):
    """A webhook problem must never break the business operation that triggered it: the
    deliveries are written in a savepoint, and an error is logged, not raised."""
    try:
        with transaction.atomic():
            webhooks.emit(event, partnership, webhooks.object_payload(instance))
    except Exception:
        logger.exception("Could not record webhook %s for %r", event, instance)


@receiver(pre_save, sender=DecisionRequest, dispatch_uid="webhooks_decision_request_pre")
def _remember_decision_status(sender, instance, raw=False, **kwargs):
    instance._webhook_previous_status = (
        None
        if raw or instance._state.adding or instance.pk is None
        else DecisionRequest.objects.filter(pk=instance.pk).values_list("status", flat=True).first()
    )


@receiver(post_save, sender=DecisionRequest, dispatch_uid="webhooks_decision_request")
def _decision_request_saved(sender, instance, created, raw=False, update_fields=None, **kwargs):
    if raw or (update_fields is not None and "status" not in update_fields and not created):
        return
    if created:
        _emit("decision_request.raised", instance, instance.partnership)
    elif (
        instance.status in ANSWERED
        and getattr(instance, "_webhook_previous_status", None) != instance.status
    ):
        _emit("decision_request.answered", instance, instance.partnership)
    instance._webhook_previous_status = instance.status


@receiver(post_save, sender=CapacityAlert, dispatch_uid="webhooks_capacity_alert")
def _capacity_alert_saved(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        _emit("capacity_alert.opened", instance, instance.partnership)


@receiver(post_save, sender=ProductionRun, dispatch_uid="webhooks_production_run")
def _production_run_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        _emit("production_run.changed", instance, instance.partnership)


@receiver(post_save, sender=Meeting, dispatch_uid="webhooks_meeting")
def _meeting_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        _emit("meeting.changed", instance, instance.partnership)


@receiver(post_save, sender=Problem, dispatch_uid="webhooks_problem")
def _problem_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        _emit("problem.changed", instance, instance.partnership)


@receiver(post_save, sender=Finding, dispatch_uid="webhooks_finding")
def _finding_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        _emit("finding.changed", instance, instance.audit.partnership)
