from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def send_due_reminders():
    """Every minute (django-celery-beat). The Reminder rows decide what is due and what was sent."""
    return services.send_due_reminders()


@shared_task(acks_late=True)
def extend_reminder_horizon():
    return services.extend_reminder_horizon()


@shared_task(acks_late=True)
def remind_overdue_action_items():
    return services.remind_overdue_action_items()
