"""Celery tasks of outgoing webhooks; the logic lives in :mod:`integrations.webhooks`."""

import logging

from celery import shared_task
from celery.exceptions import Retry

from . import webhooks

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def deliver_webhook(self, delivery_id):
    """One attempt to deliver a webhook; on failure it schedules itself again after the backoff
    recorded in the row (``next_attempt_at``). Safe to run twice for the same row: the attempt
    claims the row first, and a message that is not due (or already done) does nothing."""
    delivery = webhooks.attempt(delivery_id)
    if delivery is None:
        return "skipped"
    if delivery.status == delivery.Status.RETRYING:
        try:
            self.retry(countdown=webhooks.backoff(delivery.attempts))
        except Retry:
            raise
        except Exception:  # broker unreachable: retry_due_webhooks re-queues it from the row
            logger.warning("Could not schedule the retry of webhook delivery %s", delivery_id)
    return delivery.status


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhooks(delivery_ids):
    """First attempts of many deliveries (a bulk write's), one after the other; each one that
    fails continues as its own ``deliver_webhook`` message after the backoff."""
    for delivery_id in delivery_ids:
        delivery = webhooks.attempt(delivery_id)
        if delivery is not None and delivery.status == delivery.Status.RETRYING:
            try:
                deliver_webhook.apply_async(
                    (delivery_id,), countdown=webhooks.backoff(delivery.attempts)
                )
            except Exception:  # the sweep re-queues it from the row
                logger.warning("Could not schedule the retry of webhook delivery %s", delivery_id)


@shared_task(acks_late=True, ignore_result=True)
def retry_due_webhooks():
    """Every minute (django-celery-beat, see migration 0002): re-queue deliveries whose next
    attempt is due, so a lost message or a broker outage never loses a delivery."""
    return webhooks.requeue_due()
