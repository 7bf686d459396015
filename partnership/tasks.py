from celery import shared_task

from integrations.idempotency import purge_expired_records

from . import jobs, services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def nightly_housekeeping():
    """Scheduled by django-celery-beat (see the data migration); thin wrapper over the service."""
    purge_expired_records()  # idempotency keys older than 24 h
    counts = services.run_housekeeping()
    counts["background_jobs"] = jobs.purge_old()
    return counts


@shared_task(acks_late=True)
def run_background_job(job_id):
    """A large export or PDF batch (partnership.jobs); a failure is shown on the job page."""
    try:
        return jobs.run(job_id).status
    except Exception as exc:
        jobs.fail(job_id, str(exc) or exc.__class__.__name__)
        raise
