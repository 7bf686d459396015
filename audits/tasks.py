from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def check_certificates():
    """Daily; warning rows under a unique constraint make it safe to run twice."""
    return services.check_certificates()


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def remind_overdue_actions():
    return services.remind_overdue_actions()
