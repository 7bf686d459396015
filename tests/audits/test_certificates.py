"""Certificates: who maintains them, and the daily expiry check — 60, 30 and 7 days ahead, once
per threshold, to the right people only. Also through a real Celery worker sending e-mail."""

import datetime as dt
import time
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audits import services
from audits.models import Certificate, CertificateWarning
from audits.tasks import check_certificates
from partnership.celery import app as celery_app
from partnership.models import Notification, Partnership, Role
from tests.factories import PartnershipFactory, member
from tests.workers import CeleryWorker

pytestmark = pytest.mark.django_db

NOTHING = {"warned": 0, "expired": 0}
TASK = "audits.tasks.check_certificates"


def today():
    return timezone.localdate()


def save(by, organization, certificate=None, **fields):
    return services.save_certificate(
        by=by, organization=organization, certificate=certificate, **fields
    )


@pytest.fixture
def certificate(world, ems_quality):
    """The EMS's ISO 9001 certificate, 100 days from expiry today."""
    return save(
        ems_quality,
        world.ems,
        standard=Certificate.Standard.ISO9001,
        number="QMS-4711",
        issuer="TÜV Nord",
        valid_from=today() - timedelta(days=1000),
        valid_until=today() + timedelta(days=100),
    )


@pytest.fixture
def strangers(world):
    """Quality people of the other partnership, which has nothing to do with this certificate."""
    return [
        member(world.other_oem, Role.QUALITY, email="quality@foreign.example"),
        member(world.other_ems, Role.QUALITY, email="quality@elsewhere.example"),
        member(world.other_ems, Role.ADMIN, email="admin@elsewhere.example"),
    ]


def notices():
    return Notification.objects.filter(subject__contains="QMS-4711")


def recipients():
    return sorted(notices().values_list("user__email", flat=True))


def check_on(cert, days_before):
    return services.check_certificates(today=cert.valid_until - timedelta(days=days_before))


# --- Maintaining certificates ------------------------------------------------------------------


def test_members_of_the_organisation_maintain_its_certificates(world, certificate):
    assert (certificate.organization, certificate.expired) == (world.ems, False)

    renewed = save(world.account_manager, world.ems, certificate, number="QMS-4712")
    assert renewed.number == "QMS-4712"
    assert Certificate.objects.get().number == "QMS-4712"
    assert certificate.history.count() == 2


def test_the_oem_cannot_edit_the_ems_certificates(world, certificate, oem_quality):
    viewer = member(world.ems, Role.VIEWER)
    for by in (oem_quality, world.buyer, world.oem_admin, world.outsider, viewer):
        with pytest.raises(PermissionDenied):
            save(by, world.ems, certificate, number="FORGED")
        with pytest.raises(PermissionDenied):
            save(
                by,
                world.ems,
                standard=Certificate.Standard.ISO13485,
                number="FORGED",
                issuer="Nobody",
                valid_from=today(),
                valid_until=today() + timedelta(days=365),
            )
    # Nor by passing its own organisation with the EMS's certificate.
    with pytest.raises(PermissionDenied):
        save(oem_quality, world.oem, certificate, number="FORGED")
    assert list(Certificate.objects.values_list("number", flat=True)) == ["QMS-4711"]


def test_the_end_date_is_not_before_the_start(world, ems_quality):
    with pytest.raises(ValidationError, match="end date is before the start date"):
        save(
            ems_quality,
            world.ems,
            standard=Certificate.Standard.ISO9001,
            number="QMS-1",
            issuer="TÜV Nord",
            valid_from=dt.date(2026, 6, 2),
            valid_until=dt.date(2026, 6, 1),
        )
    one_day = save(
        ems_quality,
        world.ems,
        standard=Certificate.Standard.ISO9001,
        number="QMS-1",
        issuer="TÜV Nord",
        valid_from=dt.date(2030, 6, 1),
        valid_until=dt.date(2030, 6, 1),
    )
    assert one_day.pk


def test_missing_dates_are_a_validation_error(world, ems_quality):
    with pytest.raises(ValidationError) as excinfo:
        save(ems_quality, world.ems, standard="iso9001", number="QMS-2", issuer="TÜV Nord")
    assert {"valid_from", "valid_until"} <= set(excinfo.value.message_dict)
    assert not Certificate.objects.exists()


def test_a_certificate_entered_after_its_end_date_is_expired(world, ems_quality):
    cert = save(
        ems_quality,
        world.ems,
        standard=Certificate.Standard.IATF16949,
        number="IATF-9",
        issuer="DEKRA",
        valid_from=today() - timedelta(days=400),
        valid_until=today() - timedelta(days=1),
    )
    assert cert.expired
    renewed = save(ems_quality, world.ems, cert, valid_until=today() + timedelta(days=700))
    assert not renewed.expired


# --- Expiry warnings ---------------------------------------------------------------------------


def test_warnings_at_60_30_and_7_days_once_each(world, certificate, oem_quality, ems_quality):
    assert check_on(certificate, 61) == NOTHING
    assert not notices().exists()

    assert check_on(certificate, 60) == {"warned": 1, "expired": 0}
    first = notices().count()
    assert first == 3
    assert check_on(certificate, 60) == NOTHING  # the same day again
    assert check_on(certificate, 59) == NOTHING
    assert check_on(certificate, 31) == NOTHING
    assert notices().count() == first

    assert check_on(certificate, 30) == {"warned": 1, "expired": 0}
    assert check_on(certificate, 30) == NOTHING
    assert check_on(certificate, 8) == NOTHING
    assert check_on(certificate, 7) == {"warned": 1, "expired": 0}
    assert check_on(certificate, 1) == NOTHING
    assert check_on(certificate, 0) == NOTHING

    subjects = sorted(set(notices().values_list("subject", flat=True)))
    until = certificate.valid_until
    assert subjects == sorted(
        f"ISO 9001 QMS-4711 of Baltic Assembly Sp. z o.o. expires in {d} days ({until})"
        for d in (60, 30, 7)
    )
    assert notices().count() == 3 * first
    assert sorted(CertificateWarning.objects.values_list("threshold_days", flat=True)) == [
        7,
        30,
        60,
    ]


def test_a_check_skipped_for_some_days_still_warns(world, certificate, oem_quality):
    assert check_on(certificate, 45) == {"warned": 1, "expired": 0}  # the 60-day warning, late
    assert notices().filter(subject__contains="expires in 45 days").count() == 3
    assert check_on(certificate, 44) == NOTHING


def test_a_certificate_entered_5_days_before_expiry_gets_one_notice(
    world, certificate, oem_quality, ems_quality
):
    assert check_on(certificate, 5) == {"warned": 1, "expired": 0}

    assert recipients() == ["admin@ems.example", "quality@ems.example", "quality@oem.example"]
    assert set(notices().values_list("subject", flat=True)) == {
        f"ISO 9001 QMS-4711 of Baltic Assembly Sp. z o.o. expires in 5 days "
        f"({certificate.valid_until})"
    }
    # All three thresholds are recorded as warned, so nothing follows until expiry.
    assert CertificateWarning.objects.count() == 3
    for days in (5, 4, 1, 0):
        assert check_on(certificate, days) == NOTHING
    assert notices().count() == 3


def test_an_expired_certificate_is_marked_and_notified_once(
    world, certificate, oem_quality, ems_quality
):
    check_on(certificate, 7)
    warned = notices().count()

    assert check_on(certificate, -1) == {"warned": 0, "expired": 1}

    certificate.refresh_from_db()
    assert certificate.expired
    expired = notices().filter(subject__startswith="Certificate expired: ISO 9001 QMS-4711")
    assert sorted(expired.values_list("user__email", flat=True)) == [
        "admin@ems.example",
        "quality@ems.example",
        "quality@oem.example",
    ]
    assert check_on(certificate, -1) == NOTHING
    assert check_on(certificate, -30) == NOTHING
    assert notices().count() == warned + 3


def test_a_renewed_certificate_warns_again(world, certificate, oem_quality, ems_quality):
    old_until = certificate.valid_until
    check_on(certificate, 30)
    assert notices().count() == 3

    renewed = save(
        ems_quality,
        world.ems,
        certificate,
        valid_from=old_until,
        valid_until=old_until + timedelta(days=3 * 365),
    )
    # The old end date no longer matters.
    assert services.check_certificates(today=old_until - timedelta(days=29)) == NOTHING
    assert services.check_certificates(today=old_until - timedelta(days=7)) == NOTHING
    assert check_on(renewed, 61) == NOTHING

    assert check_on(renewed, 60) == {"warned": 1, "expired": 0}
    assert notices().filter(subject__contains=f"({renewed.valid_until})").count() == 3
    assert check_on(renewed, 60) == NOTHING


def test_an_expired_certificate_renewed_warns_and_expires_again(world, certificate, ems_quality):
    check_on(certificate, -1)
    certificate.refresh_from_db()
    assert certificate.expired

    renewed = save(
        ems_quality, world.ems, certificate, valid_until=certificate.valid_until + timedelta(365)
    )
    assert not renewed.expired
    assert check_on(renewed, 30) == {"warned": 1, "expired": 0}
    assert check_on(renewed, -1) == {"warned": 0, "expired": 1}


def test_only_the_ems_quality_people_and_the_oem_partners_quality_people_hear(
    world, certificate, oem_quality, ems_quality, strangers
):
    member(world.ems, Role.PLANNER, email="planner@ems.example")

    check_on(certificate, 30)

    # Not the EMS's account manager or planner, not the OEM's buyer or admin, no stranger.
    assert recipients() == ["admin@ems.example", "quality@ems.example", "quality@oem.example"]
    assert set(notices().values_list("partnership", flat=True)) == {world.ours.pk}
    assert not Notification.objects.filter(user__in=strangers).exists()
    assert not Notification.objects.filter(partnership=world.theirs).exists()


def test_every_oem_customer_hears_in_its_own_partnership_and_each_person_once(
    world, certificate, oem_quality, ems_quality, strangers
):
    """The EMS also builds for the other OEM: that OEM's quality people hear of it too, in their
    own partnership; nobody gets the same warning twice; an ended partnership hears nothing."""
    second = PartnershipFactory(oem=world.other_oem, ems=world.ems)
    former_oem_quality = member(
        PartnershipFactory(ems=world.ems, status=Partnership.Status.ENDED).oem,
        Role.QUALITY,
        email="quality@former.example",
    )

    check_on(certificate, 30)

    assert recipients() == [  # each once
        "admin@ems.example",
        "quality@ems.example",
        "quality@foreign.example",
        "quality@oem.example",
    ]
    by_partnership = dict(notices().values_list("user__email", "partnership"))
    assert by_partnership["quality@oem.example"] == world.ours.pk
    assert by_partnership["quality@foreign.example"] == second.pk
    assert not Notification.objects.filter(user=former_oem_quality).exists()
    assert not Notification.objects.filter(
        user__email__in=["quality@elsewhere.example", "admin@elsewhere.example"]
    ).exists()


def test_inactive_users_are_not_warned(world, certificate, oem_quality, ems_quality):
    ems_quality.is_active = False
    ems_quality.save()
    oem_quality.is_active = False
    oem_quality.save()

    check_on(certificate, 30)

    assert recipients() == ["admin@ems.example"]


def test_certificates_far_from_expiry_are_left_alone(world, certificate):
    assert services.check_certificates(today=today()) == NOTHING  # 100 days to go
    assert services.check_certificates() == NOTHING
    assert not CertificateWarning.objects.exists()
    assert not notices().exists()


def test_the_check_runs_daily_from_the_database_schedule():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_related("crontab").get(name="Certificate expiry warnings")
    assert (task.task, task.enabled) == (TASK, True)
    assert (task.crontab.hour, task.crontab.minute) == ("6", "0")
    assert TASK in celery_app.tasks


# --- Through a real Celery worker -------------------------------------------------------------
# (The pattern of tests/contracts/test_escalation.py.)

TASK_TIMEOUT = 60


@pytest.fixture
def mailing_worker(transactional_db, smtp_sink):
    """A worker that sends its e-mail to the SMTP sink; its output is printed at teardown."""
    worker = CeleryWorker("test-certificates", {"EMAIL_URL": f"smtp://127.0.0.1:{smtp_sink.port}"})
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


def run_in_worker(worker):
    result = check_certificates.apply_async(queue=worker.queue)
    try:
        counts = result.get(timeout=TASK_TIMEOUT)
    finally:
        result.forget()
    # The worker stores the result before it logs the success: give the log a moment.
    deadline = time.monotonic() + 10
    while f"Task {TASK}[{result.id}] succeeded" not in worker.output():
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.05)
    return counts


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_mails_the_30_day_warning_once(
    world, oem_quality, ems_quality, smtp_sink, mailing_worker
):
    # The worker checks against its own "today" (UTC, like timezone.localdate() here).
    until = timezone.localdate() + timedelta(days=30)
    save(
        ems_quality,
        world.ems,
        standard=Certificate.Standard.ISO13485,
        number="MED-30",
        issuer="BSI",
        valid_from=until - timedelta(days=3 * 365),
        valid_until=until,
    )
    # Already warned at 60 days: today's run is about the 30-day threshold only.
    cert = Certificate.objects.get()
    CertificateWarning.objects.create(certificate=cert, threshold_days=60, valid_until=until)
    smtp_sink.messages.clear()

    counts = run_in_worker(mailing_worker)

    assert counts == {"warned": 1, "expired": 0}, mailing_worker.output()
    subject = (
        "[Partnership Portal] ISO 13485 MED-30 of Baltic Assembly Sp. z o.o. "
        f"expires in 30 days ({until})"
    )
    by_recipient = {}
    for message in smtp_sink.messages:
        by_recipient.setdefault(message["To"], []).append("".join(message["Subject"].splitlines()))
    assert by_recipient["quality@oem.example"] == [subject], mailing_worker.output()
    assert by_recipient == {
        "quality@oem.example": [subject],
        "quality@ems.example": [subject],
        "admin@ems.example": [subject],
    }
    body = smtp_sink.bodies()[0]
    assert f"/partnerships/{world.ours.pk}/scorecard/" in body
    assert sorted(CertificateWarning.objects.values_list("threshold_days", flat=True)) == [30, 60]

    again = run_in_worker(mailing_worker)

    assert again == NOTHING
    assert len(smtp_sink.messages) == 3
    assert Notification.objects.filter(user=oem_quality).count() == 1
