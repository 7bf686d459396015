from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def escalate_overdue_decision_requests():
    """Every few minutes (django-celery-beat); the database decides what is due and what was done."""
    return services.escalate_overdue()


@shared_task(acks_late=True)
def expire_contracts():
    return services.expire_contracts()
