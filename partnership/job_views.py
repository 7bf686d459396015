"""Pages of background jobs: status (polled by htmx), download, and starting PDF batches."""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from . import jobs
from .scoping import scoped_partnership


def _own_job(request, pk):
    """Only the owner sees a job, and only while still a member of its partnership (else 404)."""
    return get_object_or_404(jobs.visible_jobs(request.user), pk=pk)


@login_required
@require_safe
def job_status(request, pk):
    job = _own_job(request, pk)
    template = "partnership/_job_progress.html" if request.htmx else "partnership/job.html"
    return render(request, template, {"job": job})


@login_required
@require_safe
def job_download(request, pk):
    job = _own_job(request, pk)
    if job.status != job.Status.DONE or not job.file:
        raise Http404
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=job.filename)


@login_required
@require_POST
def audit_reports_zip(request, partnership_pk):
    """Every audit report of the partnership as one ZIP, built in the background."""
    partnership = scoped_partnership(request, partnership_pk)
    job = jobs.start_audit_reports(owner=request.user, partnership=partnership)
    return redirect(job)
