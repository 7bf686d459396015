"""Background jobs: a large export becomes a job with a progress page; only its owner, while
still a member of the partnership, sees and downloads it; the nightly housekeeping removes old
ones. The same through a real Celery worker: a large export and the audit reports ZIP."""

import csv
import datetime as dt
import io
import time
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from audits.models import Audit
from partnership import jobs
from partnership.models import BackgroundJob, Membership
from partnership.tasks import nightly_housekeeping
from tests.lists_data import seed_partnership
from tests.workers import CeleryWorker

JOB_TIMEOUT = 120


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def big(world, settings, media):
    """Thirty open problems in ours (three in theirs); exports above 5 rows go to a job."""
    settings.LIST_EXPORT_ASYNC_ROWS = 5
    seed_partnership(world, world.ours, world.buyer, 30)
    seed_partnership(world, world.theirs, world.outsider, 3, title="Foreign")
    return world


def problems_url(world):
    return reverse("comms:problems", args=[world.ours.pk])


def start_export(client, world, fmt="csv", **params):
    response = client.get(problems_url(world), {**params, "export": fmt})
    assert response.status_code == 302, response.content[:300]
    job = BackgroundJob.objects.get(owner=world.buyer)
    assert response["Location"] == job.get_absolute_url()
    return job


def download(client, job):
    response = client.get(reverse("job_download", args=[job.pk]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.mark.django_db
def test_a_large_export_becomes_a_job_whose_file_holds_the_filtered_rows(big, client):
    world = big
    client.force_login(world.buyer)
    job = start_export(client, world, severity="high", sort="-number")
    assert job.status == "pending" and job.partnership == world.ours
    assert job.params["query"] == "severity=high&sort=-number"
    page = client.get(job.get_absolute_url()).content.decode()
    assert '<progress id="job-' in page and 'hx-trigger="every 1s"' in page
    assert "job-download" not in page

    jobs.run(job.pk)  # what the worker does (the worker tests below go through Celery)
    job.refresh_from_db()
    assert (job.status, job.progress, job.finished_at is not None) == ("done", 100, True)
    fragment = client.get(job.get_absolute_url(), HTTP_HX_REQUEST="true").content.decode()
    assert "every 1s" not in fragment and "job-download" in fragment  # polling stops
    assert "<html" not in fragment
    rows = list(csv.reader(io.StringIO(download(client, job).decode())))
    expected = world.ours.problems.filter(severity="high").order_by("-number").values_list("number")
    assert [r[0] for r in rows[1:]] == [f"P-{n:04d}" for (n,) in expected]
    assert not any("Foreign" in c for r in rows for c in r)


@pytest.mark.django_db
def test_only_the_owner_sees_a_job_and_only_while_a_member(big, client):
    world = big
    client.force_login(world.buyer)
    job = start_export(client, world, fmt="xlsx")
    jobs.run(job.pk)
    status, file = reverse("job", args=[job.pk]), reverse("job_download", args=[job.pk])
    for other in (world.account_manager, world.oem_admin, world.outsider):
        client.force_login(other)
        assert client.get(status).status_code == 404
        assert client.get(file).status_code == 404
    client.force_login(world.buyer)
    assert client.get(file).status_code == 200
    Membership.objects.filter(user=world.buyer).delete()
    assert client.get(status).status_code == 404
    assert client.get(file).status_code == 404


@pytest.mark.django_db
def test_a_job_started_before_losing_access_exports_nothing(big, client):
    world = big
    client.force_login(world.buyer)
    job = start_export(client, world)
    Membership.objects.filter(user=world.buyer).delete()
    jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and not job.file
    assert "no longer have access" in job.message


@pytest.mark.django_db
def test_audit_reports_zip_needs_the_partnership(world, client):
    client.force_login(world.buyer)
    foreign = reverse("audit_reports_zip", args=[world.theirs.pk])
    assert client.post(foreign).status_code == 404
    assert client.get(reverse("audit_reports_zip", args=[world.ours.pk])).status_code == 405
    assert not BackgroundJob.objects.exists()


@pytest.mark.django_db
def test_housekeeping_removes_old_jobs_and_their_files(world, media):
    old = BackgroundJob.objects.create(owner=world.buyer, partnership=world.ours, kind="export")
    old.file.save("old.csv", ContentFile(b"a,b\n"))
    recent = BackgroundJob.objects.create(owner=world.buyer, partnership=world.ours, kind="export")
    recent.file.save("recent.csv", ContentFile(b"a,b\n"))
    BackgroundJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=8))
    old_path = old.file.path
    counts = nightly_housekeeping()
    assert counts["background_jobs"] == 1
    assert not BackgroundJob.objects.filter(pk=old.pk).exists()
    assert not (media / old_path).exists()
    recent.refresh_from_db()
    assert recent.file.storage.exists(recent.file.name)
    assert nightly_housekeeping()["background_jobs"] == 0


# -- through a real Celery worker ----------------------------------------------------------------


@pytest.fixture
def job_worker(transactional_db, settings, media):
    worker = CeleryWorker("test-jobs", {"MEDIA_ROOT": str(media)})
    settings.BACKGROUND_JOB_QUEUE = worker.queue
    try:
        worker.wait_until_ready()
        yield worker
    finally:
        try:
            worker.stop()
        finally:
            print(f"--- celery worker output (exit code {worker.process.returncode}) ---")
            print(worker.output())
            worker.close()


def wait_for(client, job, worker):
    """Poll the job's fragment as the browser does, recording the progress it shows."""
    seen = []
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        response = client.get(reverse("job", args=[job.pk]), HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        job.refresh_from_db()
        seen.append(job.progress)
        if job.finished:
            return seen
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.2)


@pytest.mark.worker
def test_a_large_export_through_the_worker(world, client, settings, job_worker):
    settings.LIST_EXPORT_ASYNC_ROWS = 100
    seed_partnership(world, world.ours, world.buyer, 1200)
    seed_partnership(world, world.theirs, world.outsider, 5, title="Foreign")
    client.force_login(world.buyer)
    job = start_export(client, world, fmt="xlsx", status="all", sort="number")
    seen = wait_for(client, job, job_worker)
    assert job.status == "done", job.message
    assert seen[-1] == 100 and seen == sorted(seen)
    book = load_workbook(io.BytesIO(download(client, job)), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:3] == ("Number", "Problem", "Severity")
    numbers = sorted(world.ours.problems.values_list("number", flat=True))
    assert [r[0] for r in rows[1:]] == [f"P-{n:04d}" for n in numbers]
    assert not any("Foreign" in str(c) for r in rows for c in r)


@pytest.mark.worker
def test_all_audit_reports_as_a_zip_through_the_worker(world, client, job_worker):
    seed_partnership(world, world.ours, world.buyer, 2)
    seed_partnership(world, world.theirs, world.outsider, 1, title="Foreign")
    client.force_login(world.buyer)
    response = client.post(reverse("audit_reports_zip", args=[world.ours.pk]))
    job = BackgroundJob.objects.get(owner=world.buyer)
    assert response["Location"] == job.get_absolute_url()
    assert job.kind == "audit_reports"
    seen = wait_for(client, job, job_worker)
    assert job.status == "done", job.message
    assert seen[-1] == 100
    archive = zipfile.ZipFile(io.BytesIO(download(client, job)))
    ours = Audit.objects.filter(partnership=world.ours).order_by("pk")
    assert archive.namelist() == [f"audit-report-{a.pk}.pdf" for a in ours]
    for name in archive.namelist():
        assert archive.read(name).startswith(b"%PDF-")


@pytest.mark.django_db
def test_an_organisation_list_export_job_follows_the_organisation_membership(
    world, client, settings, media
):
    """The webhook delivery log belongs to an organisation, not a partnership: its export job
    is the admin's while they are a member of that organisation."""
    settings.LIST_EXPORT_ASYNC_ROWS = 2
    seed_partnership(world, world.ours, world.buyer, 4)
    seed_partnership(world, world.theirs, world.outsider, 4, title="Foreign")
    client.force_login(world.oem_admin)
    url = reverse("webhooks:deliveries", args=[world.oem.pk])
    response = client.get(url, {"export": "csv", "sort": "time"})
    job = BackgroundJob.objects.get(owner=world.oem_admin)
    assert response["Location"] == job.get_absolute_url()
    assert job.partnership is None and job.params["organization"] == world.oem.pk
    jobs.run(job.pk)
    rows = list(csv.reader(io.StringIO(download(client, job).decode())))
    assert len(rows) == 1 + 4
    assert {r[rows[0].index("Event")] for r in rows[1:]} == {"problem.raised"}
    assert all(str(world.ours) == r[rows[0].index("Partnership")] for r in rows[1:])
    client.force_login(world.outsider)
    assert client.get(job.get_absolute_url()).status_code == 404
    client.force_login(world.oem_admin)
    Membership.objects.filter(user=world.oem_admin, organization=world.oem).delete()
    assert client.get(job.get_absolute_url()).status_code == 404
    assert client.get(reverse("job_download", args=[job.pk])).status_code == 404
