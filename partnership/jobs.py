"""Background jobs: long work (large exports, PDF batches) run by Celery with visible progress.

Imports of large spreadsheets (demand, capacity) run the same way: the upload waits in the
job's file until the worker has published it, then is deleted.

A view creates the :class:`~partnership.models.BackgroundJob` row and enqueues
:func:`partnership.tasks.run_background_job` after commit; the worker writes the file in
chunks, updating ``progress`` as it goes, and the job page polls that row. Each kind re-applies
the owner's scope when it runs, so a job started before someone lost access exports nothing
of the partnership they left.
"""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from . import tabular
from .models import BackgroundJob, Membership, Organization, Partnership

PROGRESS_EVERY = 500  # rows between progress updates


def _enqueue(job):
    from .tasks import run_background_job

    queue = getattr(settings, "BACKGROUND_JOB_QUEUE", None)
    transaction.on_commit(
        lambda: run_background_job.apply_async(args=[job.pk], **({"queue": queue} if queue else {}))
    )
    return job


def start_export(*, owner, scope, spec, fmt, query) -> BackgroundJob:
    """``scope`` as the list's (a partnership, an organisation or None)."""
    if fmt not in tabular.FORMATS:
        raise ValueError(fmt)
    params = {"list": spec.name, "format": fmt, "query": query, **_locale()}
    if isinstance(scope, Organization):
        params["organization"] = scope.pk
    job = BackgroundJob.objects.create(
        owner=owner,
        partnership=scope if isinstance(scope, Partnership) else None,
        kind=BackgroundJob.Kind.EXPORT,
        params=params,
        message=_("Waiting for a worker…"),
    )
    return _enqueue(job)


def start_audit_reports(*, owner, partnership) -> BackgroundJob:
    job = BackgroundJob.objects.create(
        owner=owner,
        partnership=partnership,
        kind=BackgroundJob.Kind.AUDIT_REPORTS,
        params=_locale(),
        message=_("Waiting for a worker…"),
    )
    return _enqueue(job)


def start_import(*, owner, partnership, what, filename, data, note="") -> BackgroundJob:
    """Publish an uploaded capacity or demand file in the background (``what``)."""
    job = BackgroundJob.objects.create(
        owner=owner,
        partnership=partnership,
        kind=BackgroundJob.Kind.IMPORT,
        params={"what": what, "filename": filename[:200], "note": note, **_locale()},
        message=_("Waiting for a worker…"),
    )
    job.file.save(f"upload-{job.pk}", ContentFile(data), save=True)
    return _enqueue(job)


def _locale():
    """The requester's language and time zone: the worker writes the file in them."""
    return {
        "language": translation.get_language(),
        "time_zone": timezone.get_current_timezone_name(),
    }


def visible_jobs(user):
    """The user's own jobs, while they still belong to the job's partnership (or organisation);
    jobs over all their partnerships re-scope when they run."""
    organizations = list(
        Membership.objects.filter(user=user).values_list("organization_id", flat=True)
    )
    unscoped = Q(partnership__isnull=True)
    return BackgroundJob.objects.filter(owner=user).filter(
        Q(partnership__in=Partnership.objects.for_user(user))
        | (unscoped & Q(params__organization__in=organizations))
        | (unscoped & ~Q(params__has_key="organization"))
    )


def _report(job, done, total, message):
    job.progress = min(99, int(done * 100 / total)) if total else 0
    job.message = message
    BackgroundJob.objects.filter(pk=job.pk).update(progress=job.progress, message=message)


def _scope(job):
    """The job's partnership (or organisation) if its owner still belongs to it, else
    DoesNotExist; None for lists across all the owner's partnerships."""
    if job.partnership_id is not None:
        return Partnership.objects.for_user(job.owner).with_parties().get(pk=job.partnership_id)
    if "organization" in job.params:
        members = Organization.objects.filter(memberships__user=job.owner)
        return members.get(pk=job.params["organization"])
    return None


def run(job_id) -> BackgroundJob:
    """Do the job's work (called by the Celery task). Idempotent: a finished job is left alone."""
    job = BackgroundJob.objects.select_related("owner").get(pk=job_id)
    if job.finished:
        return job
    job.status = BackgroundJob.Status.RUNNING
    job.save(update_fields=["status"])
    language = job.params.get("language") or settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(job.params.get("time_zone") or "UTC"):
        return _run(job)


def _run(job):
    try:
        scope = _scope(job)
        if job.kind == BackgroundJob.Kind.IMPORT:
            return _import(job, scope)
        if job.kind == BackgroundJob.Kind.EXPORT:
            name, data = _export(job, scope)
        else:
            name, data = _audit_reports(job, scope)
    except (Partnership.DoesNotExist, Organization.DoesNotExist):
        return _finish(job, BackgroundJob.Status.FAILED, _("You no longer have access."))
    job.filename = name
    job.file.save(name, ContentFile(data), save=False)
    return _finish(job, BackgroundJob.Status.DONE, _("Ready."), progress=100)


def fail(job_id, message):
    job = BackgroundJob.objects.get(pk=job_id)
    if not job.finished:
        _finish(job, BackgroundJob.Status.FAILED, message[:300])


def _finish(job, status, message, progress=None):
    job.status = status
    job.message = message
    job.finished_at = timezone.now()
    if progress is not None:
        job.progress = progress
    job.save()
    return job


def _export(job, scope):
    from .lists import get_spec

    spec = get_spec(job.params["list"])
    fmt = job.params["format"]
    qs, _fs, _ignored = spec.filter(job.owner, scope, QueryDict(job.params.get("query", "")))
    total = qs.count()

    def rows():
        for done, row in enumerate(spec.rows(qs, fmt), start=1):
            if done % PROGRESS_EVERY == 0:
                _report(
                    job,
                    done,
                    total,
                    _("%(done)s of %(total)s rows") % {"done": done, "total": total},
                )
            yield row

    data = tabular.render_table(fmt, spec.header(), rows())
    return f"{spec.export_filename(scope)}.{fmt}", data


def _audit_reports(job, partnership):
    from audits.models import Audit
    from audits.pdf import render_audit_pdf

    audits = list(Audit.objects.for_partnership(partnership).order_by("pk").only("pk"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for done, audit in enumerate(audits, start=1):
            audit = Audit.objects.get(pk=audit.pk)
            archive.writestr(f"audit-report-{audit.pk}.pdf", render_audit_pdf(audit))
            _report(
                job,
                done,
                len(audits),
                _("%(done)s of %(total)s reports")
                % {
                    "done": done,
                    "total": len(audits),
                },
            )
    return f"audit-reports-{partnership.pk}-{timezone.localdate().isoformat()}.zip", out.getvalue()


def _import(job, partnership):
    from django.core.exceptions import PermissionDenied

    from schedules import services as schedules

    with job.file.open("rb") as upload:
        data = upload.read()

    def progress(done, total):
        _report(job, done, total, _("%(done)s of %(total)s rows") % {"done": done, "total": total})

    try:
        message = schedules.import_table(
            by=job.owner,
            partnership=partnership,
            what=job.params["what"],
            data=data,
            filename=job.params.get("filename", ""),
            note=job.params.get("note", ""),
            progress=progress,
        )
    except schedules.ImportRejected as exc:
        job.params["errors"] = exc.messages[:200]
        job.params["error_count"] = len(exc.messages)
        status, message = BackgroundJob.Status.FAILED, _("Nothing was published.")
    except PermissionDenied as exc:
        status, message = BackgroundJob.Status.FAILED, str(exc) or _("Not allowed")
    else:
        status = BackgroundJob.Status.DONE
    job.file.delete(save=False)  # the upload has served its purpose
    return _finish(
        job, status, message, progress=100 if status == BackgroundJob.Status.DONE else None
    )


def purge_old(now=None) -> int:
    """Delete jobs (and their files) older than ``BACKGROUND_JOB_RETENTION_DAYS``."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.BACKGROUND_JOB_RETENTION_DAYS)
    old = list(BackgroundJob.objects.filter(created_at__lt=cutoff))
    for job in old:
        if job.file:
            job.file.delete(save=False)
        job.delete()
    return len(old)
