"""Large demand and capacity uploads are published by a worker with a progress bar; bad rows
still publish nothing, and the row errors are shown on the job's page."""

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from partnership import jobs
from partnership.models import BackgroundJob
from schedules import services
from schedules.models import CapacityPlan, DemandPublication
from tests.partnership.test_jobs import job_worker as job_worker  # a fixture
from tests.partnership.test_jobs import wait_for


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def demand_csv(this_monday, weeks, bad_row=None) -> bytes:
    lines = ["product,week,quantity"]
    for n in range(weeks):
        week = this_monday + dt.timedelta(weeks=n % 52)
        lines.append(f"MB-200,{week},{100 + n}" if n < 52 else f"MB-200,{week},x")
    if bad_row is not None:
        lines[bad_row] = "NOPE-1,2027-W05,10"
    return ("\n".join(lines[:53]) + "\n").encode()


def upload(client, world, what, name, data, note=""):
    url = reverse("schedules:capacity", args=[world.ours.pk])
    return client.post(url, {"what": what, "note": note, "file": SimpleUploadedFile(name, data)})


@pytest.mark.django_db
def test_a_large_upload_becomes_a_job_that_publishes(
    world, client, product, this_monday, settings, media
):
    settings.IMPORT_ASYNC_BYTES = 100  # every real file is "large" here
    client.force_login(world.buyer)
    response = upload(client, world, "demand", "forecast.csv", demand_csv(this_monday, 52), "Q3")
    job = BackgroundJob.objects.get(owner=world.buyer)
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.kind, job.partnership, job.params["what"]) == ("import", world.ours, "demand")
    assert not DemandPublication.objects.exists()  # nothing until the worker runs
    jobs.run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.progress, job.message) == ("done", 100, "Forecast v1 published.")
    assert not job.file  # the upload is not kept
    publication = DemandPublication.objects.get(partnership=world.ours)
    assert (publication.lines.count(), publication.note) == (52, "Q3")
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'data-testid="job-back"' in page and 'data-testid="job-download"' not in page


@pytest.mark.django_db
def test_a_large_upload_with_a_bad_row_publishes_nothing_and_lists_the_errors(
    world,
    client,
    product,
    this_monday,
    settings,
    media,
):
    settings.IMPORT_ASYNC_BYTES = 100
    client.force_login(world.buyer)
    upload(client, world, "demand", "forecast.csv", demand_csv(this_monday, 52, bad_row=30))
    job = BackgroundJob.objects.get(owner=world.buyer)
    jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.message == "Nothing was published."
    assert job.params["errors"] == ["Row 30, product: unknown product “NOPE-1” in this partnership"]
    assert not DemandPublication.objects.exists()
    page = client.get(job.get_absolute_url()).content.decode()
    assert "NOPE-1" in page and 'data-testid="job-errors"' in page


@pytest.mark.django_db
def test_only_the_side_that_publishes_may_start_an_import_job(world, client, settings, media):
    settings.IMPORT_ASYNC_BYTES = 10
    client.force_login(world.account_manager)
    response = upload(
        client, world, "demand", "f.csv", b"product,week,quantity\nMB-200,2027-W05,1\n"
    )
    assert response.status_code == 403
    client.force_login(world.oem_viewer)
    response = upload(
        client, world, "demand", "f.csv", b"product,week,quantity\nMB-200,2027-W05,1\n"
    )
    assert response.status_code == 403
    assert not BackgroundJob.objects.exists()


@pytest.mark.django_db
def test_an_import_job_of_someone_who_left_publishes_nothing(
    world,
    client,
    this_monday,
    settings,
    media,
):
    settings.IMPORT_ASYNC_BYTES = 10
    client.force_login(world.account_manager)
    upload(client, world, "capacity", "c.csv", f"week,amount\n{this_monday},900\n".encode())
    job = BackgroundJob.objects.get(owner=world.account_manager)
    world.account_manager.memberships.all().delete()
    jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and not CapacityPlan.objects.exists()


@pytest.mark.worker
def test_a_large_capacity_workbook_through_the_worker(
    world,
    client,
    this_monday,
    settings,
    job_worker,
):
    settings.IMPORT_ASYNC_BYTES = 1000
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["week", "line", "amount"])
    for n in range(3000):  # 3,000 rows: the bar moves every 1,000
        sheet.append([this_monday + dt.timedelta(weeks=n // 60), f"L{n % 60:02d}", 100])
    out = io.BytesIO()
    book.save(out)
    client.force_login(world.account_manager)
    response = upload(client, world, "capacity", "capacity.xlsx", out.getvalue())
    job = BackgroundJob.objects.get(owner=world.account_manager)
    assert response["Location"] == job.get_absolute_url()
    seen = wait_for(client, job, job_worker)
    assert job.status == "done", (job.message, job.params)
    assert seen[-1] == 100 and seen == sorted(seen)
    assert job.message == "3000 capacity weeks published."
    assert CapacityPlan.objects.filter(partnership=world.ours).count() == 3000
    assert services.weekly_load(world.ours)[0].capacity == 6000
