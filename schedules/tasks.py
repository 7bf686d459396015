from celery import shared_task

from partnership.models import Partnership

from . import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def refresh_capacity_alerts(partnership_id: int):
    """Queued after every capacity or demand change; idempotent, so a retry is harmless."""
    partnership = Partnership.objects.filter(pk=partnership_id).first()
    return services.refresh_alerts(partnership) if partnership else None


@shared_task(acks_late=True)
def refresh_all_capacity_alerts():
    """Daily: weeks move closer, so alerts change even when nobody edits anything."""
    return services.refresh_all_alerts()
