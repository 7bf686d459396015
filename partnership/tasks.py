from celery import shared_task

from integrations.idempotency import purge_expired_records

from . import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def nightly_housekeeping():
    """Scheduled by django-celery-beat (see the data migration); thin wrapper over the service."""
    purge_expired_records()  # idempotency keys older than 24 h
    return services.run_housekeeping()
